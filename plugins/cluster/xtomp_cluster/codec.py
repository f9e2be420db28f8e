"""The bytes a clustered message crosses Redis as: a fixed head, the origin, then the MESSAGE frame as subscribers get it.

Layout (big-endian), version 2: version (1 byte), origin length (1), run (8: a random number
per broker process, so that a restarted node's sequence numbers are not taken for old ones),
sequence (8: per node, in publish order), time (8: float seconds since the epoch, for the lag
figure); the origin (the node id); then the message's ``Message.encoded_rest()``: its STOMP 1.2
MESSAGE frame after the ``message-id`` line (headers, ``content-length``, blank line, body,
NUL). The publishing node encoded those bytes once for its own subscribers already, and the
receiving nodes use them as their subscribers' frames too (``Message.from_encoded_rest``): a
message is encoded once in the whole cluster, not once per node, and no header is packed or
unpacked on the way.

Version 1 (a head with a header count, then length-prefixed headers and the body) is still
read, from nodes not yet upgraded; version 1 nodes drop version 2 messages as undecodable.
"""

from __future__ import annotations

import struct

from xtomp_core import Message

__all__ = ["ORIGIN_AT", "VERSION", "Decoded", "decode", "encode", "signature"]

VERSION = 2
_HEAD = struct.Struct(">BBQQd")
_HEAD_V1 = struct.Struct(">BBQQdH")
_PAIR = struct.Struct(">HI")
#: Where the origin starts (after ``signature``: version, origin length, run; then seq, time).
ORIGIN_AT = _HEAD.size

#: (origin, run, seq, when, encoded rest) of a version 2 message; a version 1 message has
#: (headers, body) in place of the rest.
Decoded = tuple[bytes, int, int, float, "bytes | tuple[dict[bytes, bytes], bytes]"]


def encode(origin: bytes, run: int, seq: int, when: float, message: Message) -> bytes:
    """One message as bytes (version 2)."""
    return b"".join((_HEAD.pack(VERSION, len(origin), run, seq, when), origin, message.encoded_rest()))


def signature(origin: bytes, run: int) -> bytes:
    """The first 10 bytes of every message of (origin, run): version, origin length, run; a
    node tells its own echo by them (and the origin at ``ORIGIN_AT``) without decoding it."""
    return bytes((VERSION, len(origin))) + run.to_bytes(8, "big")


def decode(payload: bytes) -> Decoded:
    """``(origin, run, seq, when, rest)``; ``ValueError`` when it is not a message of ours."""
    if len(payload) >= _HEAD.size and payload[0] == VERSION:
        _, origin_length, run, seq, when = _HEAD.unpack_from(payload)
        at = _HEAD.size + origin_length
        if len(payload) <= at:
            raise ValueError("truncated xtomp cluster message")
        return payload[_HEAD.size:at], run, seq, when, payload[at:]
    if len(payload) >= _HEAD_V1.size and payload[0] == 1:
        return _decode_v1(payload)
    raise ValueError("not an xtomp cluster message (or an unknown version)")


def _decode_v1(payload: bytes) -> Decoded:
    _, origin_length, run, seq, when, count = _HEAD_V1.unpack_from(payload)
    at = _HEAD_V1.size
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
    return origin, run, seq, when, (headers, payload[at:])
