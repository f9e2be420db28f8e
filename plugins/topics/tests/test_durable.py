"""Durable topic subscriptions are not supported yet: a SUBSCRIBE asking for one is refused
with a clear ERROR rather than quietly made an ordinary (non-durable) subscription, which
would lose what is published while the subscriber is away."""

from __future__ import annotations

import pytest

from xtomp_core.testing import InMemoryBroker

TOPIC = ""  # the base configuration routes /topic/* to the topic type


def error_of(client) -> bytes:
    [frame] = client.frames()
    assert frame.command == b"ERROR"
    return frame.headers[b"message"]


@pytest.mark.parametrize(
    "headers, what",
    [
        ({"durable": "true", "auto_delete": "false"}, b"durable:true"),
        ({"durable": "TRUE"}, b"durable:true"),  # RabbitMQ keeps the queue unless auto-delete:true
        ({"persistent": "true", "auto_delete": "false"}, b"durable:true"),  # RabbitMQ's alias
        ({"activemq.subscriptionName": "audit"}, b"activemq.subscriptionName"),
    ],
)
@pytest.mark.parametrize("name", ["/topic/prices", "/topic/prices.*"])
def test_a_durable_subscribe_is_refused(headers, what, name):
    with InMemoryBroker(TOPIC) as memory:
        client = memory.client(**({"client-id": "app-1"} if "activemq.subscriptionName" in headers else {}))
        client.subscribe(name, id="d", receipt="r", **headers)
        message = error_of(client)
        assert b"durable topic subscriptions are not supported" in message and what in message
        assert name.encode() in message
        topic = memory.context.get(name.encode())
        assert topic is None or topic.subscriber_count == 0  # nothing was subscribed


@pytest.mark.parametrize(
    "headers",
    [{}, {"durable": "false"}, {"durable": "true", "auto_delete": "true"}, {"persistent": "no"}],
)
def test_a_non_durable_subscribe_is_accepted(headers):
    with InMemoryBroker(TOPIC) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("/topic/prices", id="s", receipt="r", **headers)
        assert [frame.command for frame in client.frames()] == [b"RECEIPT"]
        publisher.send("SEND", {"destination": "/topic/prices"}, "1")
        assert [frame.body for frame in client.frames()] == [b"1"]


# -- over a real socket ---------------------------------------------------------------------------


def test_stomp_py_durable_subscribe_gets_an_error(xtomp_factory, stomp_py):
    broker = xtomp_factory(TOPIC)
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/orders", id="keep", headers={"durable": "true", "auto-delete": "false"})
    recorder.wait_for(lambda: bool(recorder.errors))
    assert "durable topic subscriptions are not supported" in recorder.errors[0].headers["message"]


def test_activemq_subscription_name_gets_an_error(xtomp_factory, raw_client):
    broker = xtomp_factory(TOPIC)
    client = raw_client(broker)
    client.connect(client_id="app-1")
    client.send_frame(
        "SUBSCRIBE", {"destination": "/topic/orders", "id": "1", "activemq.subscriptionName": "audit", "receipt": "r"}
    )
    client.expect_error("durable topic subscriptions are not supported (activemq.subscriptionName")
