"""The bytes a clustered message crosses Redis as: a fixed head, the origin, then the MESSAGE frame as subscribers get it.

Layout (big-endian), version 2: version (1 byte), origin length (1), run (8: a random number
per broker process, so that a restarted node's sequence numbers are not taken for old ones),
the origin (the node id), sequence (8: per node, in publish order), time (8: float seconds
since the epoch on the messages the lag figure samples, every 16th of a run; else 0); then the message's ``Message.encoded_rest()``: its STOMP 1.2
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

__all__ = ["VERSION", "Decoded", "decode", "encode", "own_prefix"]

VERSION = 2
_START = struct.Struct(">BBQ")  # version, origin length, run
_SEQ_WHEN = struct.Struct(">Qd")  # after the origin
_HEAD_V1 = struct.Struct(">BBQQdH")
_PAIR = struct.Struct(">HI")

#: (origin, run, seq, when, encoded rest) of a version 2 message; a version 1 message has
#: (headers, body) in place of the rest.
Decoded = tuple[bytes, int, int, float, "bytes | tuple[dict[bytes, bytes], bytes]"]


def encode(prefix: bytes, seq: int, when: float, message: Message) -> bytes:
    """One message as bytes (version 2); ``prefix`` is the sender's :func:`own_prefix`."""
    return b"".join((prefix, _SEQ_WHEN.pack(seq, when), message.encoded_rest()))


def own_prefix(origin: bytes, run: int) -> bytes:
    """How every message of (origin, run) starts: version, origin length, run, origin. A node
    tells its own echo by it (one ``startswith``) without decoding anything."""
    return _START.pack(VERSION, len(origin), run) + origin


def decode(payload: bytes) -> Decoded:
    """``(origin, run, seq, when, rest)``; ``ValueError`` when it is not a message of ours."""
    if len(payload) > 1 and payload[0] == VERSION:
        head = _HEADS.get(payload[1]) or _head(payload[1])
        if len(payload) <= head.size:
            raise ValueError("truncated xtomp cluster message")
        _, _, run, origin, seq, when = head.unpack_from(payload)
        return origin, run, seq, when, payload[head.size:]
    if len(payload) >= _HEAD_V1.size and payload[0] == 1:
        return _decode_v1(payload)
    raise ValueError("not an xtomp cluster message (or an unknown version)")


#: The whole version 2 head, one struct per origin length (one unpack per message).
_HEADS: dict[int, struct.Struct] = {}


def _head(origin_length: int) -> struct.Struct:
    head = _HEADS[origin_length] = struct.Struct(f">BBQ{origin_length}sQd")
    return head


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
