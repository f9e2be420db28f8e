"""The bytes a clustered topic message crosses Redis as (codec.py): version 2 carries the
MESSAGE encoding; version 1 (nodes not upgraded yet) is still read; anything else is refused."""

from __future__ import annotations

import struct

import pytest

from xtomp_cluster.codec import decode, encode, own_prefix
from xtomp_core import Message


def message() -> Message:
    return Message(5, b"/topic/t", {b"destination": b"/topic/t", b"at": b"12:30", b"k": b"v"}, b"body")


def test_version_2_carries_the_message_encoding_behind_the_head():
    prefix = own_prefix(b"node-a", 99)
    payload = encode(prefix, 3, 1234.5, message())
    assert payload.startswith(prefix) and not payload.startswith(own_prefix(b"node-b", 99))
    assert not payload.startswith(own_prefix(b"node-a", 98))  # the same node restarted: another run
    origin, run, seq, when, rest = decode(payload)
    assert (origin, run, seq, when) == (b"node-a", 99, 3, 1234.5)
    assert rest == message().encoded_rest()
    copy = Message.from_encoded_rest(8, b"/topic/t", rest)  # what the receiving node delivers
    assert copy.headers == {b"at": b"12:30", b"k": b"v"} and copy.body == b"body"


def test_version_1_from_a_node_not_upgraded_is_still_read():
    head = struct.pack(">BBQQdH", 1, 6, 99, 3, 1234.5, 2)
    pairs = b"".join(struct.pack(">HI", len(n), len(v)) + n + v for n, v in ((b"at", b"12:30"), (b"k", b"v")))
    origin, run, seq, when, rest = decode(head + b"node-a" + pairs + b"body")
    assert (origin, run, seq, when) == (b"node-a", 99, 3, 1234.5)
    assert rest == ({b"at": b"12:30", b"k": b"v"}, b"body")


@pytest.mark.parametrize("payload", [
    b"",
    b"hello, not ours",
    bytes([2, 6]) + bytes(8) + b"node-a" + bytes(16),  # a version 2 head, nothing after it
    bytes([2, 200]) + bytes(30),  # an origin longer than the payload
    bytes([9]) + bytes(40),  # an unknown version
    struct.pack(">BBQQdH", 1, 1, 1, 1, 0.0, 3) + b"o",  # version 1 announcing headers it lacks
])
def test_what_is_not_a_message_of_ours_is_refused(payload):
    with pytest.raises((ValueError, struct.error)):
        decode(payload)
