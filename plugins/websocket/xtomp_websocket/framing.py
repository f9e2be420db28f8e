"""Headers of the WebSocket frames the broker sends: RFC 6455 section 5.2, server side (unmasked).

The hot path (one MESSAGE fanned out to N WebSocket subscribers) must not copy the shared
MESSAGE tail per subscriber, so outgoing data frames are not built by the protocol library
(which wants the payload as one object): the connection queues ``header, prefix, tail``
and the 2 to 10 header bytes come from here. Payload lengths repeat (every subscriber of a
topic with same-length subscription ids gets the same one), so headers are memoized per
length in a bounded dict; lengths below 126 are always there.
"""

from __future__ import annotations

import struct

__all__ = ["FIN_TEXT", "FIN_BINARY", "HeaderCache"]

FIN_TEXT = 0x81
FIN_BINARY = 0x82

_MEDIUM = struct.Struct("!BBH")
_LARGE = struct.Struct("!BBQ")


class HeaderCache(dict[int, bytes]):
    """``cache.header(length)``: the header of a final, unfragmented frame, memoized by length."""

    __slots__ = ("first_byte", "limit")

    def __init__(self, first_byte: int, limit: int = 4096) -> None:
        super().__init__()
        self.first_byte = first_byte
        self.limit = limit
        self._fill()

    def _fill(self) -> None:
        first = self.first_byte
        for length in range(126):
            self[length] = bytes((first, length))

    def header(self, length: int) -> bytes:
        """The header of a final frame of ``length`` payload bytes."""
        return self.get(length) or self.miss(length)

    def miss(self, length: int) -> bytes:
        if len(self) >= self.limit:  # a client cycling through sizes cannot grow it
            self.clear()
            self._fill()
        header = self[length] = encode_header(self.first_byte, length)
        return header


def encode_header(first_byte: int, length: int) -> bytes:
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return _MEDIUM.pack(first_byte, 126, length)
    return _LARGE.pack(first_byte, 127, length)


#: Shared by every connection: one per frame type.
TEXT_HEADERS = HeaderCache(FIN_TEXT)
BINARY_HEADERS = HeaderCache(FIN_BINARY)
