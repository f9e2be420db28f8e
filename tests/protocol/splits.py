"""Feeding helpers for the parser tests: every case is fed whole, byte by byte, and with trailing data.

Modelled on h11's ``tr`` helper (h11/tests/test_io.py): a byte stream can be cut anywhere by
the network, so a parser case that passes only when fed in one piece proves little. The
``feeder`` fixture (tests/protocol/conftest.py) is parametrized over the three modes:

* ``whole`` - one ``feed`` call;
* ``bytewise`` - one ``feed`` call per byte;
* ``trailing`` - one ``feed`` call with a further complete frame appended, which must come
  out too (or, for an error case, must not hide the error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from xtomp_core.errors import ProtocolError
from xtomp_core.protocol.constants import SERVER_COMMANDS
from xtomp_core.protocol.frame import Frame
from xtomp_core.protocol.parser import FrameParser

MODES = ("whole", "bytewise", "trailing")

# Small on purpose: tests with tight limits must still accept the trailer.
CLIENT_TRAILER = b"ACK\nid:t\n\n\x00"
CLIENT_TRAILER_FRAME = Frame(b"ACK", {b"id": b"t"})
SERVER_TRAILER = b"RECEIPT\nreceipt-id:t\n\n\x00"
SERVER_TRAILER_FRAME = Frame(b"RECEIPT", {b"receipt-id": b"t"})


def feed_pieces(parser: FrameParser, pieces: Iterable[bytes]) -> list[Frame]:
    """Feed each piece in turn; all frames produced, in order."""
    frames: list[Frame] = []
    for piece in pieces:
        frames.extend(parser.feed(piece))
    return frames


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, duplicates allowed: they give empty pieces)."""
    pieces = []
    start = 0
    for point in sorted(points):
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


class Feeder:
    """Feeds a parser case in one of the three modes and checks what the mode implies."""

    def __init__(self, mode: str) -> None:
        assert mode in MODES
        self.mode = mode

    def __repr__(self) -> str:
        return f"Feeder({self.mode!r})"

    def _trailer(self, parser: FrameParser) -> tuple[bytes, Frame]:
        if parser.commands == SERVER_COMMANDS:
            return SERVER_TRAILER, SERVER_TRAILER_FRAME
        return CLIENT_TRAILER, CLIENT_TRAILER_FRAME

    def pieces(self, parser: FrameParser, data: bytes) -> list[bytes]:
        """The ``feed`` arguments for ``data`` in this mode (the trailer appended in ``trailing``)."""
        if self.mode == "bytewise":
            return bytewise(data)
        if self.mode == "trailing":
            trailer, _ = self._trailer(parser)
            return [data + trailer]
        return [data]

    def _feed(self, parser: FrameParser, data: bytes) -> list[Frame]:
        return feed_pieces(parser, self.pieces(parser, data))

    def parse(self, data: bytes, parser: FrameParser | None = None, **limits: object) -> list[Frame]:
        """Every frame in ``data``, which must end on a frame boundary (or inter-frame EOLs).

        In ``trailing`` mode the trailer frame must come out last; it is removed from the
        result. In every mode the parser must hold nothing afterwards.
        """
        if parser is None:
            parser = FrameParser(**limits)  # type: ignore[arg-type]
        frames = self._feed(parser, data)
        return self.check_trailer(parser, frames)

    def check_trailer(self, parser: FrameParser, frames: list[Frame]) -> list[Frame]:
        """In ``trailing`` mode, check and drop the trailer frame; check the parser is empty."""
        if self.mode == "trailing":
            _, trailer_frame = self._trailer(parser)
            assert frames, "the trailing frame did not come out"
            assert frames[-1] == trailer_frame
            frames.pop()
        assert parser.buffered == 0
        assert not parser.in_frame
        return frames

    def parse_one(self, data: bytes, parser: FrameParser | None = None, **limits: object) -> Frame:
        frames = self.parse(data, parser, **limits)
        assert len(frames) == 1, frames
        return frames[0]

    def error(
        self, data: bytes, match: str, parser: FrameParser | None = None, **limits: object
    ) -> ProtocolError:
        """``data`` must raise ProtocolError whose message contains ``match``."""
        if parser is None:
            parser = FrameParser(**limits)  # type: ignore[arg-type]
        with pytest.raises(ProtocolError) as info:
            self._feed(parser, data)
        assert match in str(info.value), f"{match!r} not in {str(info.value)!r}"
        assert str(info.value).startswith("syntax - ")
        return info.value

    def feed(self, parser: FrameParser, data: bytes) -> list[Frame]:
        """Feed part of a stream, no trailer: whole, byte by byte, or (``trailing``) in two
        halves. Finish the stream with :meth:`parse` to get the trailer check."""
        if self.mode == "bytewise":
            return feed_pieces(parser, bytewise(data))
        if self.mode == "trailing":
            return feed_pieces(parser, cut(data, [len(data) // 2]))
        return list(parser.feed(data))
