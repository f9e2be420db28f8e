"""The ``topic`` destination type for xtomp: synchronous, encode-once publish/subscribe fan-out."""

from .topic import Topic

__all__ = ["Topic"]
