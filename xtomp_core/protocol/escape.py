"""Header value escaping per STOMP version (1.2 "Value Encoding").

STOMP 1.0 has no escaping. 1.1 escapes backslash, LF and colon as ``\\\\``, ``\\n`` and
``\\c``; 1.2 adds ``\\r``. CONNECT and CONNECTED frames are never escaped. Decoding an
escape sequence the version does not define is a fatal protocol error.
"""

from __future__ import annotations

import re

from ..errors import ProtocolError
from .constants import BACKSLASH, COLON, CR, LF, V1_0, V1_2

_DECODE_11 = {b"\\": b"\\", b"n": b"\n", b"c": b":"}
_DECODE_12 = {**_DECODE_11, b"r": b"\r"}
# ``.?`` so that a lone trailing backslash is seen (as an empty group) and refused.
_ESCAPE_SEQUENCE = re.compile(rb"\\(.?)", re.DOTALL)
_NEEDS_ESCAPE_11 = re.compile(rb"[\\:\n]")
_NEEDS_ESCAPE_12 = re.compile(rb"[\\:\n\r]")


def unescape(value: bytes, version: int) -> bytes:
    """Decode a header name or value received in a frame of the given version.

    Splitting on escaped backslashes first leaves pieces in which every remaining
    backslash starts a one-letter escape, so plain ``replace`` calls decode them (C speed,
    no per-match Python callback); a backslash left over is an invalid escape.
    """
    if version == V1_0 or BACKSLASH not in value:
        return value
    pieces = value.split(b"\\\\")
    for index, piece in enumerate(pieces):
        if BACKSLASH in piece:
            piece = piece.replace(b"\\n", b"\n").replace(b"\\c", b":")
            if version >= V1_2:
                piece = piece.replace(b"\\r", b"\r")
            if BACKSLASH in piece:
                _refuse(value, version)
            pieces[index] = piece
    return b"\\".join(pieces)


def _refuse(value: bytes, version: int) -> None:
    table = _DECODE_12 if version >= V1_2 else _DECODE_11
    for match in _ESCAPE_SEQUENCE.finditer(value):
        if match.group(1) not in table:
            shown = match.group(0).decode("latin-1")
            raise ProtocolError(f"invalid escape sequence {shown!r} in a header")
    raise ProtocolError("invalid escape sequence in a header")  # pragma: no cover - found above


def needs_escape(value: bytes, version: int) -> bool:
    """True when ``escape`` would change the value (used to share encoded forms)."""
    if version == V1_0:
        return LF in value or CR in value  # the only bytes ``escape`` changes in 1.0
    pattern = _NEEDS_ESCAPE_12 if version >= V1_2 else _NEEDS_ESCAPE_11
    return pattern.search(value) is not None


def escape(value: bytes, version: int) -> bytes:
    """Encode a header name or value for a frame of the given version."""
    if version == V1_0:
        # 1.0 cannot carry EOLs in headers at all; the 1.1 form is the least bad choice.
        if LF in value or CR in value:
            return value.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
        return value
    # Byte membership tests are much cheaper than a regex search on short values.
    if BACKSLASH in value:
        value = value.replace(b"\\", b"\\\\")
    if LF in value:
        value = value.replace(b"\n", b"\\n")
    if COLON in value:
        value = value.replace(b":", b"\\c")
    if version >= V1_2 and CR in value:
        value = value.replace(b"\r", b"\\r")
    return value
