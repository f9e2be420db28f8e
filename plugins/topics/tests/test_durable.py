"""Durable topic subscriptions, in memory: what is published while a durable subscriber is
away waits for it (RabbitMQ's durable:true + auto-delete:false named by the subscription id,
ActiveMQ's activemq.subscriptionName named by client-id and that name)."""

from __future__ import annotations

import pytest

from xtomp_testing import InMemoryBroker

RABBIT = {"durable": "true", "auto_delete": "false"}


def config(policy: str = "pause", max_messages: int = 100, extra: str = "") -> str:
    return (
        f'[destinations."t"]\ntype = "topic"\nslow_consumer = "{policy}"\nmax_messages = {max_messages}\n{extra}'
    )


def bodies(frames) -> list[bytes]:
    return [frame.body for frame in frames if frame.command == b"MESSAGE"]


def publish(memory, count: int, start: int = 0, name: str = "t", client=None) -> None:
    publisher = client if client is not None else memory.client()
    for index in range(start, start + count):
        publisher.send("SEND", {"destination": name}, str(index))


def numbers(start: int, stop: int) -> list[bytes]:
    return [str(index).encode() for index in range(start, stop)]


def test_rabbitmq_durable_subscription_keeps_what_is_published_while_away():
    with InMemoryBroker(config()) as memory:
        subscriber = memory.client()
        subscriber.subscribe("t", id="keep", receipt="r", **RABBIT)
        publish(memory, 2)
        assert bodies(subscriber.frames()) == numbers(0, 2)
        subscriber.disconnect()
        topic = memory.destination("t")
        assert topic.stats()["durable_subscriptions"] == 1 and topic.stats()["sz"] == 0
        publish(memory, 3, start=2)
        assert topic.stats()["durable_backlog"] == 3 and not topic.idle
        back = memory.client()
        back.subscribe("t", id="keep", receipt="r", **RABBIT)
        frames = back.frames()
        assert frames[0].command == b"RECEIPT"  # the backlog comes right after it
        assert bodies(frames) == numbers(2, 5)
        assert all(b"redelivered" not in frame.headers for frame in frames)
        publish(memory, 1, start=5)
        assert bodies(back.frames()) == [b"5"]
        assert topic.stats()["durable_backlog"] == 0


@pytest.mark.parametrize("headers", [{"durable": "TRUE"}, {"persistent": "true", "auto_delete": "false"}])
def test_absent_auto_delete_and_persistent_count_as_durable(headers):
    with InMemoryBroker(config()) as memory:
        memory.client().subscribe("t", id="d", **headers)
        memory.clients[-1].disconnect()
        publish(memory, 1)
        assert memory.destination("t").stats()["durable_backlog"] == 1


@pytest.mark.parametrize("headers", [{}, {"durable": "false"}, {"durable": "true", "auto_delete": "true"}, {"persistent": "no"}])
def test_a_non_durable_subscription_keeps_nothing(headers):
    with InMemoryBroker(config()) as memory:
        client = memory.client()
        client.subscribe("t", id="s", receipt="r", **headers)
        assert [frame.command for frame in client.frames()] == [b"RECEIPT"]
        publish(memory, 1)
        assert bodies(client.frames()) == [b"0"]
        client.disconnect()
        topic = memory.destination("t")
        assert topic.stats()["durable_subscriptions"] == 0 and not topic.extras


def test_activemq_subscription_name_with_client_id():
    with InMemoryBroker(config()) as memory:
        first = memory.client(**{"client-id": "app-1"})
        first.subscribe("t", id="1", **{"activemq.subscriptionName": "audit"})
        first.disconnect()
        publish(memory, 2)
        other = memory.client(**{"client-id": "app-2"})  # another client-id: another subscription
        other.subscribe("t", id="1", receipt="r", **{"activemq.subscriptionName": "audit"})
        assert bodies(other.frames()) == []
        again = memory.client(**{"client-id": "app-1"})
        again.subscribe("t", id="x", receipt="r", **{"activemq.subscriptionName": "audit"})
        assert bodies(again.frames()) == numbers(0, 2)
        assert memory.destination("t").stats()["durable_subscriptions"] == 2


def test_activemq_subscription_name_without_client_id_is_refused():
    with InMemoryBroker(config()) as memory:
        client = memory.client()
        client.subscribe("t", id="1", receipt="r", **{"activemq.subscriptionName": "audit"})
        [frame] = client.frames()
        assert frame.command == b"ERROR" and b"client-id" in frame.headers[b"message"]
        assert memory.destination("t").stats()["durable_subscriptions"] == 0


@pytest.mark.parametrize("headers", [RABBIT, {"activemq.subscriptionName": "audit"}])
def test_a_durable_wildcard_subscription_is_refused(headers):
    with InMemoryBroker() as memory:
        client = memory.client(**{"client-id": "app-1"})
        client.subscribe("/topic/prices.*", id="d", receipt="r", **headers)
        [frame] = client.frames()
        assert frame.command == b"ERROR"
        assert b"durable subscriptions to a wildcard pattern are not supported" in frame.headers[b"message"]


def test_plain_unsubscribe_keeps_it_and_durable_unsubscribe_removes_it_and_its_memory():
    with InMemoryBroker(config()) as memory:
        held = memory.context.memory.held
        client = memory.client()
        client.subscribe("t", id="keep", **RABBIT)
        client.send("UNSUBSCRIBE", {"id": "keep"})
        publish(memory, 3)
        topic = memory.destination("t")
        assert topic.stats()["durable_backlog"] == 3 and memory.context.memory.held == held + 3
        client.subscribe("t", id="keep", **RABBIT)
        assert bodies(client.frames()) == numbers(0, 3)
        client.send("UNSUBSCRIBE", {"id": "keep"})
        publish(memory, 2)
        client.subscribe("t", id="keep", **RABBIT)
        client.send("UNSUBSCRIBE", {"id": "keep", "durable": "true"})
        assert topic.stats()["durable_subscriptions"] == 0 and memory.context.memory.held == held
        publish(memory, 1)
        assert topic.stats()["durable_backlog"] == 0 and topic.idle


def test_activemq_unsubscribe_with_subscription_name_removes_it():
    with InMemoryBroker(config()) as memory:
        client = memory.client(**{"client-id": "app-1"})
        client.subscribe("t", id="1", **{"activemq.subscriptionName": "audit"})
        client.send("UNSUBSCRIBE", {"id": "1", "activemq.subscriptionName": "audit"})
        assert memory.destination("t").stats()["durable_subscriptions"] == 0


def test_connections_attached_to_one_durable_name_share_it_round_robin():
    with InMemoryBroker(config()) as memory:
        one, two = memory.client(), memory.client()
        one.subscribe("t", id="shared", **RABBIT)
        two.subscribe("t", id="shared", **RABBIT)
        publish(memory, 4)
        assert bodies(one.frames()) == [b"0", b"2"] and bodies(two.frames()) == [b"1", b"3"]
        assert memory.destination("t").stats()["sz"] == 2


def test_the_backlog_is_bounded_drop():
    with InMemoryBroker(config("drop", max_messages=3)) as memory:
        client = memory.client()
        client.subscribe("t", id="d", **RABBIT)
        client.disconnect()
        publish(memory, 5)
        topic = memory.destination("t")
        assert topic.stats()["durable_backlog"] == 3 and topic.stats()["dropped"] == 2
        back = memory.client()
        back.subscribe("t", id="d", **RABBIT)
        assert bodies(back.frames()) == numbers(0, 3)


def test_the_backlog_is_bounded_pause_holds_the_producer_until_it_drains():
    with InMemoryBroker(config("pause", max_messages=2)) as memory:
        client = memory.client()
        client.subscribe("t", id="d", **RABBIT)
        client.disconnect()
        producer = memory.client()
        publish(memory, 3, client=producer)
        topic = memory.destination("t")
        assert producer.session.held and topic.stats()["held_producers"] == 1
        assert topic.stats()["durable_backlog"] == 3  # lossless: what the producer had sent is kept
        back = memory.client()
        back.subscribe("t", id="d", **RABBIT)
        assert bodies(back.frames()) == numbers(0, 3)
        assert not producer.session.held and topic.stats()["held_producers"] == 0


def test_the_backlog_respects_the_prefetch_window_and_write_buffer_high():
    with InMemoryBroker(config()) as memory:
        client = memory.client()
        client.subscribe("t", id="d", **RABBIT)
        client.disconnect()
        publish(memory, 5)
        windowed = memory.client()
        windowed.subscribe("t", id="d", ack="client-individual", prefetch_count="2", **RABBIT)
        frames = [frame for frame in windowed.frames() if frame.command == b"MESSAGE"]
        assert bodies(frames) == numbers(0, 2)
        windowed.send("ACK", {"id": frames[0].headers[b"ack"].decode()})
        assert bodies(windowed.frames()) == [b"2"]
        windowed.disconnect()  # 1 and 2 unacknowledged: back to the head of the backlog
        slow = memory.client()
        slow.link.paused = True
        slow.subscribe("t", id="d", **RABBIT)
        assert bodies(slow.frames()) == []
        slow.drained()
        frames = [frame for frame in slow.frames() if frame.command == b"MESSAGE"]
        assert bodies(frames) == numbers(1, 5)
        assert [frame.headers.get(b"redelivered") for frame in frames] == [b"true", b"true", None, None]


def test_client_ack_unacknowledged_messages_return_in_order_on_unsubscribe():
    with InMemoryBroker(config()) as memory:
        held = memory.context.memory.held
        client = memory.client()
        client.subscribe("t", id="d", ack="client", **RABBIT)
        publish(memory, 3)
        frames = [frame for frame in client.frames() if frame.command == b"MESSAGE"]
        client.send("ACK", {"id": frames[0].headers[b"ack"].decode()})  # cumulative: 0
        client.send("UNSUBSCRIBE", {"id": "d"})
        topic = memory.destination("t")
        assert topic.stats()["durable_backlog"] == 2 and memory.context.memory.held == held + 2
        client.subscribe("t", id="d", **RABBIT)
        frames = [frame for frame in client.frames() if frame.command == b"MESSAGE"]
        assert bodies(frames) == numbers(1, 3) and all(f.headers[b"redelivered"] == b"true" for f in frames)
        assert memory.context.memory.held == held


def test_the_filter_of_the_latest_subscribe_applies():
    with InMemoryBroker(config(extra="[plugins.filters]\n")) as memory:
        client = memory.client()
        client.subscribe("t", id="d", selector="k = 'a'", **RABBIT)
        client.disconnect()
        producer = memory.client()
        for key in "ab":
            producer.send("SEND", {"destination": "t", "k": key}, key)
        topic = memory.destination("t")
        assert topic.stats()["durable_backlog"] == 1
        back = memory.client()
        back.subscribe("t", id="d", selector="k = 'b'", **RABBIT)
        assert bodies(back.frames()) == [b"a"]  # kept under the old selector
        for key in "ab":
            producer.send("SEND", {"destination": "t", "k": key}, key)
        assert bodies(back.frames()) == [b"b"]


def test_max_durable_subscriptions():
    with InMemoryBroker(config(extra="[plugins.topics]\nmax_durable_subscriptions = 1\n")) as memory:
        client = memory.client()
        client.subscribe("t", id="a", **RABBIT)
        client.subscribe("t", id="b", receipt="r", **RABBIT)
        frames = client.frames()
        assert frames[-1].command == b"ERROR" and b"max_durable_subscriptions" in frames[-1].headers[b"message"]


# -- over a real socket ---------------------------------------------------------------------------


def test_stomp_py_durable_subscriber_gets_what_was_sent_while_away(xtomp_factory, stomp_py):
    broker = xtomp_factory()
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/orders", id="keep", headers={"durable": "true", "auto-delete": "false"})
    connection.disconnect(receipt="bye")
    producer, _ = stomp_py(broker)
    producer.connect(wait=True)
    producer.send("/topic/orders", "while away", headers={"receipt": "sent"})
    back, recorder = stomp_py(broker)
    back.connect(wait=True)
    back.subscribe("/topic/orders", id="keep", headers={"durable": "true", "auto-delete": "false"})
    recorder.wait_for(lambda: bool(recorder.messages))
    assert recorder.messages[0].body == "while away"


def test_activemq_style_over_a_socket(xtomp_factory, raw_client):
    broker = xtomp_factory()
    client = raw_client(broker)
    client.connect(**{"client-id": "app-1"})
    headers = {"destination": "/topic/orders", "id": "1", "activemq.subscriptionName": "audit", "receipt": "r"}
    client.send_frame("SUBSCRIBE", headers)
    client.expect_receipt("r")
    client.close()
    producer = raw_client(broker)
    producer.connect()
    producer.send_frame("SEND", {"destination": "/topic/orders", "receipt": "s"}, "kept")
    producer.expect_receipt("s")
    again = raw_client(broker)
    again.connect(**{"client-id": "app-1"})
    again.send_frame("SUBSCRIBE", headers)
    again.expect_receipt("r")
    [message] = again.messages(1)
    assert message.body == b"kept"
