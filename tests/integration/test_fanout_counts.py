"""Encode-once fan-out and write coalescing, counted over real sockets.

The broker runs in this process on plain asyncio, so the test can count what it does: how
often a MESSAGE tail is encoded (``Message._encode``, the one place a tail is built) and how
many ``transport.write`` calls (each one ``send`` system call or a buffer append) reach each
client, against how many reads (``data_received``) brought the frames in.
"""

from __future__ import annotations

import asyncio.selector_events
from collections import Counter

import pytest

from xtomp_testing import wait_until

SUBSCRIBERS = 5
MESSAGES = 200


@pytest.fixture
def counted(monkeypatch, xtomp_factory, raw_client):
    """A broker on asyncio with counters: ``encodes``, ``writes`` and ``reads`` by client port."""
    from xtomp_core import Message
    from xtomp_core.server.connection import StompConnection

    counts = {"encodes": 0, "writes": Counter(), "reads": Counter()}
    encode = Message._encode

    def counting_encode(self):
        counts["encodes"] += 1
        return encode(self)

    write = asyncio.selector_events._SelectorSocketTransport.write

    def counting_write(self, data):
        counts["writes"][self.get_extra_info("peername")[1]] += 1
        return write(self, data)

    data_received = StompConnection.data_received

    def counting_data_received(self, data):
        counts["reads"][self.transport.get_extra_info("peername")[1]] += 1
        return data_received(self, data)

    monkeypatch.setattr(Message, "_encode", counting_encode)
    monkeypatch.setattr(asyncio.selector_events._SelectorSocketTransport, "write", counting_write)
    monkeypatch.setattr(StompConnection, "data_received", counting_data_received)
    broker = xtomp_factory(use_uvloop=False)
    return broker, counts


def port_of(client) -> int:
    return client.sock.getsockname()[1]


def test_one_encode_per_message_and_few_writes_per_subscriber(counted, raw_client):
    broker, counts = counted
    subscribers = [raw_client(broker) for _ in range(SUBSCRIBERS)]
    for index, subscriber in enumerate(subscribers):
        subscriber.connect()
        subscriber.subscribe("/topic/fan", id=str(index))
    publisher = raw_client(broker)
    publisher.connect()
    wait_until(lambda: broker.stats()["broker"]["frames_in"] == 2 * SUBSCRIBERS + 1)
    counts["writes"].clear()
    counts["reads"].clear()

    burst = b"".join(
        b"SEND\ndestination:/topic/fan\ncontent-length:%d\n\nm%d\x00" % (len(b"m%d" % index), index)
        for index in range(MESSAGES)
    )
    publisher.send(burst)
    for subscriber in subscribers:
        assert [m.body for m in subscriber.messages(MESSAGES)] == [b"m%d" % index for index in range(MESSAGES)]

    # encode-once: each message's tail was built once, whatever the number of subscribers
    assert counts["encodes"] == MESSAGES
    # coalescing: what one read brought in leaves in one write to each subscriber
    reads = counts["reads"][port_of(publisher)]
    assert reads >= 1
    for subscriber in subscribers:
        assert counts["writes"][port_of(subscriber)] <= reads < MESSAGES
