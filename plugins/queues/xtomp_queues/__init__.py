"""The ``queue`` destination type for xtomp: competing consumers, acknowledgements, redelivery, expiry, dead letters."""

from .queue import Queue

__all__ = ["Queue"]
