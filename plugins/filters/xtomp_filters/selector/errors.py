"""The one error the selector package raises: what was wrong and where."""

from __future__ import annotations

__all__ = ["SelectorError"]


class SelectorError(ValueError):
    """A selector that cannot be compiled.

    ``position`` is the 0-based character offset of the problem (None when the problem is
    the selector as a whole, such as its length); ``str()`` shows it 1-based, as editors do.
    """

    def __init__(self, reason: str, position: int | None = None) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"at position {position + 1}: {reason}" if position is not None else reason)
