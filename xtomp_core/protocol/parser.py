"""Incremental sans-IO STOMP frame parser (STOMP 1.2 "STOMP Frames", "Size Limits").

Theory of operation
-------------------
``feed(data)`` is a generator yielding every frame that ``data`` completes; bytes may be
split anywhere and many frames may arrive in one piece. The parser is in one of three
states:

* **idle** - no partial frame is held. The incoming ``bytes`` object is parsed in place:
  regular-expression searches from a moving offset, ``partition`` and slicing, no
  per-byte Python loop and no copy of the buffer.
* **head** - the command line and headers of a frame are incomplete. Bytes accumulate in
  a ``bytearray``; the search for the blank line resumes where it stopped, and the line
  count and the length of the current line are kept incrementally, so limits are enforced
  *before* more is buffered and a client sending one byte at a time costs O(1) per byte.
* **body** - the headers are parsed and the body is incomplete. Pieces are kept in a list
  and joined once, when ``content-length`` + 1 bytes (or the NUL) have arrived.

Rules implemented: EOLs (LF or CRLF) between frames are skipped (heart-beats), and so are
NULs (a client's stray frame terminators; RabbitMQ and ActiveMQ skip them too); LF or CRLF
line ends; the first occurrence of a repeated header wins; header escaping per negotiated
version except in CONNECT/STOMP/CONNECTED; ``content-length`` bodies may contain NULs and
must be followed by a NUL; ``content-length:0`` is valid; without ``content-length`` the
body ends at the first NUL; only SEND, MESSAGE and ERROR may carry a body - but a body of
CR and LF bytes alone before the NUL is accepted and dropped on the others (the blank line a
netcat user types before ``^@``; a counted body there is still refused). Every violation raises
:class:`~xtomp_core.errors.ProtocolError` with a message fit for the client.

Optional C accelerator: when the extension ``_scanner`` (``_scanner.c``) was built, the idle
state hands each frame to ``_scanner.scan`` first. It builds the same :class:`Frame` for a
complete, valid frame and stops at anything else - an incomplete frame or any error - at the
frame's start, where the Python code below takes over; so errors, partial-frame state and
limits stay this module's. It is called once per frame with the current settings, so a
``version`` raised after CONNECT applies to the next frame as it does here. This module is
the reference (tests/protocol runs against both); ``XTOMP_PURE_PYTHON=1`` in the environment
at import time, or a missing extension, means pure Python.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

from ..errors import ProtocolError
from .constants import (
    BACKSLASH,
    BODY_COMMANDS,
    CLIENT_COMMANDS,
    CONNECT,
    CONNECTED,
    CR,
    H_CONTENT_LENGTH,
    STOMP,
    V1_0,
)
from .escape import unescape
from .frame import Frame

__all__ = ["FrameParser", "DEFAULT_MAX_FRAME_SIZE", "DEFAULT_MAX_HEADERS", "DEFAULT_MAX_HEADER_LENGTH"]

DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024  # RabbitMQ's stomp.max_frame_size
DEFAULT_MAX_HEADERS = 1000
DEFAULT_MAX_HEADER_LENGTH = 64 * 1024

# What is skipped between frames: EOLs (heart-beats) and stray NULs.
_EOLS = re.compile(rb"(?:\r?\n|\x00)+")
_EOL_BYTES = (0, 10, 13)  # what buf[i] gives for NUL, LF and CR
_BODY_EOLS = b"\r\n"  # what a body may consist of on a frame that may not have one
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NEVER_ESCAPED = frozenset({CONNECT, STOMP, CONNECTED})
# The blank-line pattern is at most 4 bytes long, so a resumed search backs up 3 bytes.
_HEADER_END_OVERLAP = 3

_Scan = Callable[
    [bytes, int, int, int, int, int, frozenset[bytes], Callable[[bytes, dict[bytes, bytes], bytes], Frame]],
    tuple[Frame | None, int],
]


def _load_scanner() -> _Scan | None:
    """The C frame scanner, unless XTOMP_PURE_PYTHON is set or the extension was not built."""
    if os.environ.get("XTOMP_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from ._scanner import scan
    except ImportError:  # pragma: no cover - only where the extension was not built
        return None
    return scan


# Read once, at import. The tests swap it to run every parser case against both paths.
_scan: _Scan | None = _load_scanner()


def _show(raw: bytes, limit: int = 40) -> str:
    """A short, printable rendering of client bytes for an error message."""
    text = raw[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > limit else ""))


class FrameParser:
    """Turns a byte stream into :class:`Frame` objects, enforcing the configured limits.

    ``version`` (10, 11 or 12) selects the escaping rules; the session raises it after
    CONNECT. ``max_frame_size`` may be changed between feeds (for example a smaller limit
    before authentication).
    """

    __slots__ = (
        "version",
        "max_frame_size",
        "max_headers",
        "max_header_length",
        "commands",
        "_head",
        "_lines",
        "_line_start",
        "_frame",
        "_chunks",
        "_have",
        "_need",
        "_head_size",
    )

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_length: int = DEFAULT_MAX_HEADER_LENGTH,
        commands: frozenset[bytes] = CLIENT_COMMANDS,
        version: int = V1_0,
    ) -> None:
        self.version = version
        self.max_frame_size = max_frame_size
        self.max_headers = max_headers
        self.max_header_length = max_header_length
        self.commands = commands
        self._head: bytearray | None = None
        self._lines = 0
        self._line_start = 0
        self._frame: Frame | None = None
        self._chunks: list[bytes] | None = None
        self._have = 0
        self._need = 0
        self._head_size = 0

    @property
    def buffered(self) -> int:
        """Bytes received so far of an incomplete frame (its head, then head + body)."""
        if self._head is not None:
            return len(self._head)
        return self._head_size + self._have if self._frame is not None else 0

    @property
    def in_frame(self) -> bool:
        """True while part of a frame (beyond inter-frame EOLs) has been received."""
        if self._head is not None:
            return self._head != b"\r"  # a lone CR is most likely half of an inter-frame CRLF
        return self._frame is not None

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Yield the frames completed by ``data``; keep any incomplete tail for later."""
        if self._frame is not None:
            completed = self._continue_body(data)
            if completed is None:
                return
            frame, data = completed
            yield frame
        if self._head is not None:
            head = self._continue_head(data)
            if head is None:
                return
            data = head
        if data:
            yield from self._parse(data)

    # -- states -----------------------------------------------------------------------

    def _parse(self, buf: bytes) -> Iterator[Frame]:
        pos = 0
        end_of_buf = len(buf)
        scan = _scan
        if scan is not None:
            # Complete, valid frames in C; the first frame it stops at (incomplete or in error)
            # is handled below from where it stopped. Settings are read per frame: a consumer
            # may change them between frames.
            while True:
                frame, pos = scan(
                    buf, pos, self.version, self.max_frame_size, self.max_headers,
                    self.max_header_length, self.commands, Frame,
                )
                if frame is None:
                    break
                yield frame
            if pos >= end_of_buf:
                return
        find = buf.find
        while True:
            if pos < end_of_buf and buf[pos] in _EOL_BYTES:
                eols = _EOLS.match(buf, pos)
                if eols is not None:
                    pos = eols.end()
            if pos >= end_of_buf:
                return
            # The blank line ending the headers: "\n\n", or "\n\r\n" after CRLF lines. Two
            # literal finds beat one regex search; the second looks only before the first.
            head_end = find(b"\n\n", pos)
            crlf_end = find(b"\n\r\n", pos, head_end + 2 if head_end >= 0 else end_of_buf)
            if crlf_end >= 0:
                head_end = crlf_end
                body_start = crlf_end + 3
            elif head_end >= 0:
                body_start = head_end + 2
            else:
                self._start_head(buf[pos:])
                return
            head_size = body_start - pos
            if head_size > self.max_frame_size:  # before splitting a huge head into lines
                raise ProtocolError(f"frame larger than max_frame_size ({self.max_frame_size} bytes)")
            frame = self._parse_head(buf[pos:head_end])
            length_text = frame.headers.get(H_CONTENT_LENGTH)
            if length_text is not None:
                length = self._content_length(frame, length_text, head_size)
                body_end = body_start + length
                if body_end < end_of_buf:
                    if buf[body_end] != 0:
                        raise ProtocolError(
                            f"no NUL after the {length}-byte body that content-length announced"
                        )
                    frame.body = buf[body_start:body_end]
                    pos = body_end + 1
                    yield frame
                    continue
                self._start_body(frame, buf[body_start:], length + 1, head_size)
                return
            nul = find(b"\x00", body_start)
            if nul < 0:
                self._start_body(frame, buf[body_start:], -1, head_size)
                return
            if nul != body_start:
                if frame.command in BODY_COMMANDS:
                    frame.body = buf[body_start:nul]
                elif buf[body_start:nul].strip(_BODY_EOLS):
                    raise ProtocolError(f"a {frame.command.decode()} frame must not have a body")
            # Checked even for an empty body: a header block alone may exceed the limit.
            if nul - pos > self.max_frame_size:
                raise ProtocolError(f"frame larger than max_frame_size ({self.max_frame_size} bytes)")
            pos = nul + 1
            yield frame

    def _parse_head(self, block: bytes) -> Frame:
        """Command and headers from the bytes before the blank line (EOL of the last line excluded)."""
        if CR in block:
            block = block.replace(b"\r\n", b"\n")
            if block.endswith(b"\r"):
                block = block[:-1]
        lines = block.split(b"\n")
        # Limits first, in the order _check_head applies them to an incomplete head, so that
        # the error does not depend on how the bytes were split.
        if len(lines) - 1 > self.max_headers:
            raise ProtocolError(f"too many headers (max_headers is {self.max_headers})")
        if len(block) > self.max_header_length and max(map(len, lines)) > self.max_header_length:
            raise ProtocolError(f"header line longer than max_header_length ({self.max_header_length} bytes)")
        command = lines[0]
        if command not in self.commands:
            raise ProtocolError(f"unknown command {_show(command)}")
        escaped = self.version != V1_0 and BACKSLASH in block and command not in _NEVER_ESCAPED
        headers: dict[bytes, bytes] = {}
        for index in range(1, len(lines)):
            line = lines[index]
            name, colon, value = line.partition(b":")
            if not colon:
                raise ProtocolError(f"header line without a colon: {_show(line)}")
            if not name:
                raise ProtocolError(f"header line with an empty name: {_show(line)}")
            if escaped and BACKSLASH in line:
                name = unescape(name, self.version)
                value = unescape(value, self.version)
            if name not in headers:
                headers[name] = value
        return Frame(command, headers)

    def _content_length(self, frame: Frame, text: bytes, head_size: int) -> int:
        if not text.isdigit() or len(text) > 15:
            raise ProtocolError(f"invalid content-length {_show(text)}: expected a decimal byte count")
        length = int(text)
        if length and frame.command not in BODY_COMMANDS:
            raise ProtocolError(f"a {frame.command.decode()} frame must not have a body")
        if head_size + length > self.max_frame_size:
            raise ProtocolError(
                f"frame of {head_size + length} bytes is larger than max_frame_size ({self.max_frame_size} bytes)"
            )
        return length

    def _start_head(self, partial: bytes) -> None:
        self._head = bytearray(partial)
        self._lines = 0
        self._line_start = 0
        self._check_head(partial)

    def _continue_head(self, data: bytes) -> bytes | None:
        head = self._head
        assert head is not None
        if head == b"\r" and data[:1] == b"\n":
            # The CRLF of an inter-frame EOL (a heart-beat) was split between two reads: it
            # is not the first line of a frame, so it must not count against the limits.
            self._head = None
            return data[1:]
        resume = max(0, len(head) - _HEADER_END_OVERLAP)
        head += data
        if _HEADER_END.search(head, resume) is None:
            self._check_head(data)
            return None
        self._head = None
        return bytes(head)

    def _check_head(self, added: bytes) -> None:
        """Enforce the limits on an incomplete head, looking only at the added bytes.

        Checked as the complete head is (frame size, header count, line length), so a head
        fed in one piece or byte by byte fails alike. Lines completed by ``added`` are only
        split and measured when their total span exceeds ``max_header_length``.
        """
        head = self._head
        assert head is not None
        if len(head) > self.max_frame_size:
            raise ProtocolError(f"frame larger than max_frame_size ({self.max_frame_size} bytes)")
        self._lines += added.count(b"\n")
        if self._lines > self.max_headers + 1:
            raise ProtocolError(f"too many headers (max_headers is {self.max_headers})")
        limit = self.max_header_length
        newline = added.rfind(b"\n")
        if newline >= 0:
            last_eol = len(head) - len(added) + newline
            if last_eol - self._line_start > limit:
                # The lines completed by ``added``; the first began in an earlier piece.
                done = head[self._line_start : last_eol + 1].replace(b"\r\n", b"\n")
                if max(map(len, done.split(b"\n"))) > limit:
                    raise ProtocolError(f"header line longer than max_header_length ({limit} bytes)")
            self._line_start = last_eol + 1
        over = len(head) - self._line_start - limit
        # A CR at the very end may be the first half of a CRLF line end, which the complete
        # head does not count either.
        if over > 0 and not (over == 1 and head[-1] == CR):
            raise ProtocolError(f"header line longer than max_header_length ({limit} bytes)")

    def _start_body(self, frame: Frame, partial: bytes, need: int, head_size: int) -> None:
        """Hold a frame whose body is incomplete; ``need`` < 0 means "up to the NUL".

        ``_have`` counts the body bytes received; ``_head_size`` the bytes of the parsed head,
        which count towards ``max_frame_size`` and ``buffered``.
        """
        self._frame = frame
        self._chunks = [partial] if partial else []
        self._need = need
        self._have = len(partial)
        self._head_size = head_size
        if need < 0:
            self._check_nul_body(frame)

    def _check_nul_body(self, frame: Frame) -> None:
        if self._head_size + self._have > self.max_frame_size:
            raise ProtocolError(f"frame larger than max_frame_size ({self.max_frame_size} bytes)")
        chunks = self._chunks
        if chunks and frame.command not in BODY_COMMANDS:
            # Only EOLs may come before the NUL here: checked as they arrive, counted, not kept.
            if any(chunk.strip(_BODY_EOLS) for chunk in chunks):
                raise ProtocolError(f"a {frame.command.decode()} frame must not have a body")
            chunks.clear()

    def _continue_body(self, data: bytes) -> tuple[Frame, bytes] | None:
        frame = self._frame
        chunks = self._chunks
        assert frame is not None and chunks is not None
        need = self._need
        if need >= 0:
            chunks.append(data)
            self._have += len(data)
            if self._have < need:
                return None
            joined = b"".join(chunks) if len(chunks) > 1 else chunks[0]
            if joined[need - 1] != 0:
                raise ProtocolError(f"no NUL after the {need - 1}-byte body that content-length announced")
            frame.body = joined[: need - 1]
            rest = joined[need:]
        else:
            nul = data.find(b"\x00")
            if nul < 0:
                if data:
                    chunks.append(data)
                    self._have += len(data)
                self._check_nul_body(frame)
                return None
            if nul:
                chunks.append(data[:nul])
                self._have += nul
            self._check_nul_body(frame)
            frame.body = b"".join(chunks)
            rest = data[nul + 1 :]
        self._frame = None
        self._chunks = None
        self._have = 0
        self._head_size = 0
        return frame, rest
