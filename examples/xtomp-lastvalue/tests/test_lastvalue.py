"""The lastvalue example: a late subscriber gets the newest message, filters and ack modes are
respected, oversize bodies are not kept, and the plugin refuses to run without topics."""

from __future__ import annotations

import pytest

import xtomp_lastvalue
from xtomp_core import ConfigError
from xtomp_testing import InMemoryBroker, check_config

PLUGINS = [("lastvalue", xtomp_lastvalue)]
CONFIG = """
[plugins.lastvalue]

[destinations."/status/*"]
type = "lastvalue"
lastvalue_max_size = 16
"""


@pytest.fixture
def memory():
    # The plugin is given in-process; the base config enables topics (through its entry point).
    with InMemoryBroker(CONFIG, plugins=PLUGINS) as broker:
        yield broker


def publish(client, body, destination="/status/web", **headers):
    client.send("SEND", {"destination": destination, "receipt": "sent", **headers}, body)
    assert client.frames()[0].command == b"RECEIPT"


# -- unit level: real sessions, no sockets ----------------------------------------------------


def test_a_late_subscriber_gets_the_last_message_right_after_its_receipt(memory):
    early = memory.client()
    early.subscribe("/status/web", id="early")
    publisher = memory.client()
    publish(publisher, "starting")
    publish(publisher, "up")
    assert [frame.body for frame in early.frames()] == [b"starting", b"up"]

    late = memory.client()
    late.subscribe("/status/web", id="late", receipt="subscribed")
    receipt, message = late.frames()
    assert receipt.headers[b"receipt-id"] == b"subscribed"
    assert message.command == b"MESSAGE" and message.body == b"up"
    assert message.headers[b"subscription"] == b"late"
    assert early.frames() == []  # the retained copy goes to the new subscriber only

    topic = memory.destination("/status/web")
    assert topic.stats()["retained"] == 1 and topic.stats()["q"] == 1
    assert not topic.idle  # a prefix-rule destination holding a value is never purged as idle


def test_nothing_retained_nothing_delivered(memory):
    subscriber = memory.client()
    subscriber.subscribe("/status/empty", id="s", receipt="r")
    assert [frame.command for frame in subscriber.frames()] == [b"RECEIPT"]
    assert memory.destination("/status/empty").stats()["retained"] == 0


def test_the_retained_copy_respects_the_subscription_filter():
    with InMemoryBroker(CONFIG + "[plugins.filters]\n", plugins=PLUGINS) as memory:
        publish(memory.client(), "hot", colour="red")
        blue, red = memory.client(), memory.client()
        blue.subscribe("/status/web", id="b", filter="colour=blue")
        red.subscribe("/status/web", id="r", filter="colour=red")
        assert blue.frames() == []
        assert [frame.body for frame in red.frames()] == [b"hot"]


def test_the_retained_copy_carries_an_ack_header_in_client_modes(memory):
    publish(memory.client(), "v1")
    subscriber = memory.client()
    subscriber.subscribe("/status/web", id="s", ack="client-individual")
    [message] = subscriber.frames()
    assert message.headers[b"ack"] == b"s." + message.headers[b"message-id"]


def test_an_oversize_message_is_delivered_but_not_kept(memory):
    publisher, current = memory.client(), memory.client()
    current.subscribe("/status/web", id="now")
    publish(publisher, "small")
    publish(publisher, "x" * 17)  # lastvalue_max_size = 16
    assert [len(frame.body) for frame in current.frames()] == [5, 17]
    late = memory.client()
    late.subscribe("/status/web", id="late")
    assert late.frames() == []  # not the oversize one, and not the stale "small" either
    figures = memory.destination("/status/web").stats()
    assert figures["retained"] == 0 and figures["oversize_total"] == 1


def test_enabling_it_without_topics_is_a_config_error():
    no_topics = '[server]\nlisten = ["127.0.0.1:0"]\n'
    with pytest.raises(ConfigError) as error:
        check_config(CONFIG, base=no_topics, plugins=PLUGINS)
    assert "requires plugin 'topics'" in str(error.value)
    assert "add a [plugins.topics] table" in str(error.value)


def test_a_bad_max_size_names_the_key():
    with pytest.raises(ConfigError) as error:
        check_config('[plugins.lastvalue]\n[destinations."/s"]\ntype = "lastvalue"\nlastvalue_max_size = "lots"\n',
                     plugins=PLUGINS)
    assert "lastvalue_max_size" in str(error.value) and "50-test.toml" in str(error.value)


# -- over real sockets ---------------------------------------------------------------------------


def test_stomp_py_late_subscriber_over_a_socket(xtomp_factory, stomp_py, raw_client):
    broker = xtomp_factory(CONFIG, plugins=PLUGINS)
    publisher = raw_client(broker)
    publisher.connect()
    for body in ("1.0.0", "1.0.1"):
        publisher.send_frame("SEND", {"destination": "/status/release", "receipt": body}, body)
        publisher.expect_receipt(body)

    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/status/release", id="late")
    [message] = recorder.wait_messages(1)
    assert message.body == "1.0.1" and message.headers["subscription"] == "late"

    publisher.send_frame("SEND", {"destination": "/status/release"}, "1.1.0")
    assert [m.body for m in recorder.wait_messages(2)] == ["1.0.1", "1.1.0"]
    figures = broker.stats()["destinations"]
    assert any(d["dest"] == "/status/release" and d["retained"] == 1 for d in figures)
