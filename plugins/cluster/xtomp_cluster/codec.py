"""The bytes a clustered message crosses Redis as: a fixed head, the origin, length-prefixed headers, the body.

Layout (big-endian): version (1 byte, 1), origin length (1), run (8: a random number per
broker process, so that a restarted node's sequence numbers are not taken for old ones),
sequence (8: per node, in publish order), time (8: float seconds since the epoch, for the lag
figure), header count (2); the origin (the node id); per header, name length (2), value
length (4), name, value; then the body, to the end. No JSON, no base64: bodies are bytes and
stay bytes, and encoding is one ``b"".join``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from xtomp_core import NOT_FORWARDED

__all__ = ["ORIGIN_AT", "VERSION", "decode", "encode", "signature"]

VERSION = 1
_HEAD = struct.Struct(">BBQQdH")
_PAIR = struct.Struct(">HI")
#: Where the origin starts (after ``signature``: version, origin length, run; then seq, time, count).
ORIGIN_AT = _HEAD.size


def encode(origin: bytes, run: int, seq: int, when: float, headers: Mapping[bytes, bytes], body: bytes) -> bytes:
    """One message as bytes: ``headers`` is the SEND's dict (what STOMP does not forward is left out)."""
    pack = _PAIR.pack
    parts = [b"", origin]
    for name, value in headers.items():
        if name not in NOT_FORWARDED:
            parts += (pack(len(name), len(value)), name, value)
    parts[0] = _HEAD.pack(VERSION, len(origin), run, seq, when, (len(parts) - 2) // 3)
    parts.append(body)
    return b"".join(parts)


def signature(origin: bytes, run: int) -> bytes:
    """The first 10 bytes of every message of (origin, run): version, origin length, run; a
    node tells its own echo by them (and the origin at ``ORIGIN_AT``) without decoding it."""
    return bytes((VERSION, len(origin))) + run.to_bytes(8, "big")


def decode(payload: bytes) -> tuple[bytes, int, int, float, dict[bytes, bytes], bytes]:
    """``(origin, run, seq, when, headers, body)``; ``ValueError`` when it is not a message of ours."""
    if len(payload) < _HEAD.size or payload[0] != VERSION:
        raise ValueError("not an xtomp cluster message (or another version)")
    _, origin_length, run, seq, when, count = _HEAD.unpack_from(payload)
    at = _HEAD.size
    origin = payload[at:at + origin_length]
    at += origin_length
    headers: dict[bytes, bytes] = {}
    unpack = _PAIR.unpack_from
    for _ in range(count):
        name_length, value_length = unpack(payload, at)
        at += 6
        name = payload[at:at + name_length]
        at += name_length
        headers[name] = payload[at:at + value_length]
        at += value_length
    if at > len(payload):
        raise ValueError("truncated xtomp cluster message")
    return origin, run, seq, when, headers, payload[at:]
