"""Headers of the WebSocket frames the broker sends: RFC 6455 section 5.2, server side (unmasked).

The hot path (one MESSAGE fanned out to N WebSocket subscribers) must not copy the shared
MESSAGE tail per subscriber, so outgoing data frames are not built by the protocol library
(which wants the payload as one object): the connection queues ``header, prefix, tail``
and the 2 to 10 header bytes come from here. Payload lengths repeat (every subscriber of a
topic with same-length subscription ids gets the same one), so headers are memoized per
length in a bounded dict; lengths below 126 are always there.
"""

from __future__ import annotations

import codecs
import struct

__all__ = ["FIN_TEXT", "FIN_BINARY", "HeaderCache", "frame_header", "is_utf8"]

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


_CHUNK = 64 * 1024  # a large body is decoded in pieces: the check never holds its whole text
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def is_utf8(data: bytes) -> bool:
    """``data`` is valid UTF-8 (ASCII is checked without decoding)."""
    if data.isascii():
        return True
    if len(data) <= _CHUNK:
        try:
            data.decode()
        except UnicodeDecodeError:
            return False
        return True
    return _decodes(_Utf8Decoder(), data)


def _decodes(decoder: codecs.IncrementalDecoder, data: bytes) -> bool:
    """The rest of a UTF-8 text, fed to ``decoder`` piece by piece, completes it validly."""
    view = memoryview(data)
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _joined_is_utf8(prefix: bytes, tail: bytes, tail_is_utf8: bool) -> bool:
    """``prefix + tail`` is UTF-8, for a non-ASCII prefix, without joining them."""
    decoder = _Utf8Decoder()
    try:
        decoder.decode(prefix)  # an incomplete sequence at the end waits for the tail
    except UnicodeDecodeError:
        return False
    if not decoder.getstate()[0]:
        return tail_is_utf8  # the prefix ends on a character boundary
    # The prefix ends inside a character that only the tail can complete: then the tail alone
    # starts with a continuation byte and is not UTF-8 (rare: escaped header values are bytes).
    return not tail_is_utf8 and _decodes(decoder, tail)


#: The last tail looked at and its verdict, and a few recent ones by id (each entry holds its
#: tail, so an id cannot be reused while it is there). Shared by every connection: the fan-out
#: loop hands the same tail to each subscriber's connection in turn.
_last: tuple[bytes, bool] = (b"", True)
_recent: dict[int, tuple[bytes, bool]] = {}
_RECENT_LIMIT = 8


def tail_is_utf8(tail: bytes) -> bool:
    """``is_utf8(tail)``, memoized by identity."""
    global _last
    last = _last
    if last[0] is tail:
        return last[1]
    entry = _recent.get(id(tail))
    if entry is None or entry[0] is not tail:
        if len(_recent) >= _RECENT_LIMIT:
            _recent.pop(next(iter(_recent), 0), None)  # the oldest: the current message's tails stay
        entry = _recent[id(tail)] = (tail, is_utf8(tail))
    _last = entry
    return entry[1]


_text_get = TEXT_HEADERS.get
_binary_get = BINARY_HEADERS.get


def frame_header(prefix: bytes, tail: bytes) -> bytes:
    """The header of one final frame carrying ``prefix + tail``: text if those bytes are UTF-8,
    else binary (``frame_type = "auto"``; the core's ``header_for``)."""
    last = _last
    if last[0] is tail:
        text = last[1]
    elif tail:
        text = tail_is_utf8(tail)
    else:
        text = True  # a frame written whole comes as (frame, b"")
    if not prefix.isascii():
        text = _joined_is_utf8(prefix, tail, text)
    length = len(prefix) + len(tail)
    if text:
        return _text_get(length) or TEXT_HEADERS.miss(length)
    return _binary_get(length) or BINARY_HEADERS.miss(length)
