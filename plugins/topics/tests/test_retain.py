"""Retained messages on topics (retain = "last" | "per-header"): what a new subscriber gets right
after its RECEIPT, what clears and evicts them, and what they count against max_memory."""

from __future__ import annotations

import pytest

from xtomp_core import ConfigError
from xtomp_testing import InMemoryBroker, check_config

LAST = '[destinations."t"]\ntype = "topic"\nretain = "last"\n'
PER_SYMBOL = '[destinations."t"]\ntype = "topic"\nretain = "per-header"\nretain_header = "sym"\nretain_max = 2\n'


def publish(client, body, **headers):
    client.send("SEND", {"destination": "t", "receipt": "sent", **headers}, body)
    assert client.frames()[0].command == b"RECEIPT"


def bodies(frames) -> list[bytes]:
    return [frame.body for frame in frames if frame.command == b"MESSAGE"]


def test_a_new_subscriber_gets_the_last_message_right_after_its_receipt():
    with InMemoryBroker(LAST) as memory:
        early, publisher = memory.client(), memory.client()
        early.subscribe("t", id="early")
        held = memory.context.memory.held
        publish(publisher, "starting")
        publish(publisher, "up")
        assert bodies(early.frames()) == [b"starting", b"up"]
        topic = memory.destination("t")
        assert topic.stats()["retained"] == 1 and memory.context.memory.held == held + 2  # "up" replaced "starting"

        late = memory.client()
        late.subscribe("t", id="late", receipt="subscribed")
        receipt, message = late.frames()
        assert receipt.headers[b"receipt-id"] == b"subscribed"
        assert message.body == b"up" and message.headers[b"retained"] == b"true"
        assert message.headers[b"subscription"] == b"late"
        assert early.frames() == []  # only the new subscriber gets it
        publish(publisher, "again")
        assert b"retained" not in late.frames()[0].headers  # a live message is not marked
        assert not topic.idle and topic.depth == 1


def test_nothing_retained_by_default():
    with InMemoryBroker('[destinations."t"]\ntype = "topic"\n') as memory:
        publish(memory.client(), "lost")
        late = memory.client()
        late.subscribe("t", id="late", receipt="r")
        assert [frame.command for frame in late.frames()] == [b"RECEIPT"]
        topic = memory.destination("t")
        assert topic.stats()["retained"] == 0 and not topic.extras


def test_an_empty_body_clears_and_is_still_delivered():
    with InMemoryBroker(LAST) as memory:
        current, publisher = memory.client(), memory.client()
        current.subscribe("t", id="now")
        held = memory.context.memory.held
        publish(publisher, "value")
        publish(publisher, "")
        assert bodies(current.frames()) == [b"value", b""]  # MQTT: processed as normal...
        late = memory.client()
        late.subscribe("t", id="late")
        assert late.frames() == []  # ...and what was retained is gone
        assert memory.destination("t").stats()["retained"] == 0 and memory.context.memory.held == held


def test_per_header_keeps_one_per_value_and_evicts_the_least_recently_published():
    with InMemoryBroker(PER_SYMBOL) as memory:
        publisher = memory.client()
        held = memory.context.memory.held
        publish(publisher, "a1", sym="A")
        publish(publisher, "b1", sym="B")
        publish(publisher, "a2", sym="A")  # A is now the most recent value
        publish(publisher, "c1", sym="C")  # retain_max = 2: B goes
        publish(publisher, "none")  # no sym header: delivered, not retained
        late = memory.client()
        late.subscribe("t", id="late")
        assert bodies(late.frames()) == [b"a2", b"c1"]  # oldest first
        topic = memory.destination("t")
        assert topic.stats()["retained"] == 2 and topic.stats()["retain_evictions"] == 1
        assert memory.context.memory.held == held + 4
        publish(publisher, "", sym="A")  # clears A only
        again = memory.client()
        again.subscribe("t", id="again")
        assert bodies(again.frames()) == [b"c1"]
        topic.close()  # released with the topic
        assert memory.context.memory.held == held


def test_the_filter_applies_to_retained_messages():
    with InMemoryBroker(PER_SYMBOL + "[plugins.filters]\n") as memory:
        publisher = memory.client()
        publish(publisher, "a", sym="A")
        publish(publisher, "b", sym="B")
        only_b = memory.client()
        only_b.subscribe("t", id="b", filter="sym=B")
        assert bodies(only_b.frames()) == [b"b"]


def test_retained_messages_respect_a_prefetch_window_and_carry_ack_headers():
    with InMemoryBroker(PER_SYMBOL.replace("retain_max = 2", "retain_max = 10")) as memory:
        publisher = memory.client()
        for symbol in "ABC":
            publish(publisher, symbol.lower(), sym=symbol)
        client = memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="2")
        first, second = client.frames()
        assert [first.body, second.body] == [b"a", b"b"]
        assert first.headers[b"ack"] == b"w." + first.headers[b"message-id"]
        client.send("ACK", {"id": first.headers[b"ack"].decode()})
        [third] = client.frames()
        assert third.body == b"c" and third.headers[b"retained"] == b"true"


def test_closing_twice_releases_the_memory_once():
    with InMemoryBroker(LAST) as memory:
        held = memory.context.memory.held
        publish(memory.client(), "x" * 100)
        topic = memory.destination("t")
        topic.close()
        topic.close()
        assert memory.context.memory.held == held


def test_per_header_without_retain_header_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        check_config('[destinations."/prices/*"]\ntype = "topic"\nretain = "per-header"\n')
    assert "retain_header" in str(error.value) and "50-test.toml" in str(error.value)


def test_a_bad_retain_value_names_the_key():
    with pytest.raises(ConfigError) as error:
        check_config('[destinations."t"]\ntype = "topic"\nretain = "all"\n')
    assert "retain" in str(error.value)


# -- over a real socket ---------------------------------------------------------------------------


def test_stomp_py_gets_the_retained_value(xtomp_factory, stomp_py, raw_client):
    broker = xtomp_factory('[destinations."/topic/status/*"]\ntype = "topic"\nretain = "last"\n')
    publisher = raw_client(broker)
    publisher.connect()
    for body in ("1.0.0", "1.0.1"):
        publisher.send_frame("SEND", {"destination": "/topic/status/release", "receipt": body}, body)
        publisher.expect_receipt(body)
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/status/release", id="late")
    [message] = recorder.wait_messages(1)
    assert message.body == "1.0.1" and message.headers["retained"] == "true"
    publisher.send_frame("SEND", {"destination": "/topic/status/release"}, "1.1.0")
    assert [m.body for m in recorder.wait_messages(2)] == ["1.0.1", "1.1.0"]
    figures = broker.stats()["destinations"]
    assert any(d["dest"] == "/topic/status/release" and d["retained"] == 1 for d in figures)
