"""The ``topic`` destination type for xtomp: synchronous, encode-once publish/subscribe fan-out."""

from .topic import Topic
from .wildcard import Pattern

__all__ = ["Pattern", "Topic"]
