"""The decoded STOMP frame: a command, first-wins headers and a body, all bytes."""

from __future__ import annotations


class Frame:
    """One frame as the parser produced it.

    ``headers`` is an insertion-ordered dict holding the *first* occurrence of each header
    (STOMP 1.2 "Repeated Header Entries"); names and values are already unescaped.
    """

    __slots__ = ("command", "headers", "body")

    def __init__(self, command: bytes, headers: dict[bytes, bytes], body: bytes = b"") -> None:
        self.command = command
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Frame({self.command!r}, {self.headers!r}, {self.body[:40]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (self.command, self.headers, self.body) == (other.command, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]
