"""Selectors and filters on queues: a message goes only to a consumer whose filter matches, and
messages nobody matches stay queued for a later consumer.

Skipped when the queues plugin (distribution xtomp-queues) is not installed: it is built
separately. The filters plugin needs nothing from it: queues consult each subscription's
compiled filter through the core's SubscriberIndex and Filter protocol, as topics do.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("xtomp_queues") is None, reason="the queues plugin (xtomp-queues) is not installed"
)

QUEUES = '[plugins.queues]\n\n[destinations."/queue/*"]\ntype = "queue"\n'


def test_a_queue_delivers_only_to_matching_consumers_and_keeps_the_rest(filtered, raw_client):
    broker = filtered(QUEUES)
    red, blue, big = raw_client(broker), raw_client(broker), raw_client(broker)
    for client in (red, blue, big):
        client.connect()
    red.subscribe("/queue/work", id="red", selector="colour = 'red'")
    blue.subscribe("/queue/work", id="blue", filter="colour=blue")
    big.subscribe("/queue/work", id="big", selector="size > 100")
    publisher = raw_client(broker)
    publisher.connect()
    sends = [
        ("r1", {"colour": "red", "size": "1"}),
        ("b1", {"colour": "blue", "size": "2"}),
        ("g1", {"colour": "green", "size": "3"}),  # nobody matches
        ("r2", {"colour": "red", "size": "4"}),
        ("n1", {"size": "5"}),  # nobody matches: no colour, small
        ("x1", {"colour": "green", "size": "500"}),
    ]
    for body, headers in sends:
        publisher.send_frame("SEND", {"destination": "/queue/work", **headers}, body)
    publisher.send_frame("SEND", {"destination": "/queue/sync", "receipt": "sent"}, "")
    publisher.expect_receipt("sent")
    assert [m.body for m in red.messages(2)] == [b"r1", b"r2"]
    assert [m.body for m in blue.messages(1)] == [b"b1"]
    assert [m.body for m in big.messages(1)] == [b"x1"]
    for client in (red, blue, big):
        client.expect_nothing()
    # What nobody matched stayed queued: a consumer whose selector matches gets it now.
    later = raw_client(broker)
    later.connect()
    later.subscribe("/queue/work", id="later", selector="colour = 'green' OR colour IS NULL")
    assert sorted(m.body for m in later.messages(2)) == [b"g1", b"n1"]
    later.expect_nothing()
    red.expect_nothing(0.05)
