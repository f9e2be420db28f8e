"""The topics plugin: fan-out, encode-once, filters through the index, slow-consumer policies."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from xtomp_core.bootstrap import load_config
from xtomp_core.broker import Broker, Message, Subscription
from xtomp_core.testing import RawClient, write_config

# -- unit level: a Topic driven directly, with recording links -----------------------------


class RecordingLink:
    """Stands in for a connection: records what a destination pushes."""

    transport_name = "test"
    peer = "test"
    web = False

    def __init__(self, paused: bool = False) -> None:
        self.paused = paused
        self.pushed: list[tuple[bytes, bytes]] = []

    def push(self, prefix: bytes, tail: bytes) -> None:
        self.pushed.append((prefix, tail))


class StubSession:
    def __init__(self, link: RecordingLink, version: int = 12) -> None:
        self.link = link
        self.version = version
        self.connected = True
        self.failed: list[str] = []

    def fail(self, error: Exception) -> None:
        self.failed.append(str(error))

    def describe(self) -> str:
        return "stub"


@pytest.fixture
def broker(tmp_path):
    config, host = load_config(write_config(tmp_path, '[destinations."t"]\ntype = "topic"\n'))
    return Broker(config, host)


def subscribe(topic, link, sub_id=b"s", version=12, ack=b"auto"):
    subscription = Subscription(StubSession(link, version), sub_id, topic, ack)
    topic.subscribe(subscription, {})
    return subscription


def test_fan_out_encodes_once(broker):
    topic = broker.destination(b"t")
    links = [RecordingLink() for _ in range(50)]
    for index, link in enumerate(links):
        subscribe(topic, link, b"sub-%d" % index)
    topic.publish(Message(7, b"t", {b"destination": b"t", b"k": b"v"}, b"body"), None)
    tails = {id(link.pushed[0][1]) for link in links}
    assert len(tails) == 1  # one shared tail object for every subscriber
    assert links[3].pushed[0][0] == b"MESSAGE\nsubscription:sub-3\n"
    assert links[3].pushed[0][1] == b"destination:t\nmessage-id:7\nk:v\ncontent-length:4\n\nbody\x00"
    assert topic.delivered == 50 and topic.enqueued == 1


def test_versions_share_a_tail_unless_escaping_differs(broker):
    topic = broker.destination(b"t")
    old, new = RecordingLink(), RecordingLink()
    subscribe(topic, old, version=10)
    subscribe(topic, new, b"n", version=12)
    topic.publish(Message(1, b"t", {b"plain": b"v"}, b""), None)
    assert old.pushed[0][1] is new.pushed[0][1]
    topic.publish(Message(2, b"t", {b"needs": b"a:b"}, b""), None)
    assert b"needs:a:b\n" in old.pushed[1][1]
    assert b"needs:a\\cb\n" in new.pushed[1][1]


def test_client_ack_prefix_per_delivery(broker):
    topic = broker.destination(b"t")
    link = RecordingLink()
    subscribe(topic, link, b"s1", ack=b"client-individual")
    topic.publish(Message(42, b"t", {}, b""), None)
    assert link.pushed[0][0] == b"MESSAGE\nsubscription:s1\nack:s1.42\n"


def test_slow_consumer_drop_counts_and_skips(broker):
    topic = broker.destination(b"t")
    slow, fast = RecordingLink(paused=True), RecordingLink()
    slow_subscription = subscribe(topic, slow, b"slow")
    subscribe(topic, fast, b"fast")
    topic.publish(Message(1, b"t", {}, b"x"), None)
    assert slow.pushed == [] and len(fast.pushed) == 1
    assert topic.dropped == 1
    assert slow_subscription.session.failed == []


def test_slow_consumer_disconnect_policy(tmp_path):
    config, host = load_config(
        write_config(tmp_path, '[destinations."t"]\ntype = "topic"\nslow_consumer = "disconnect"\n')
    )
    topic = Broker(config, host).destination(b"t")
    slow, fast = RecordingLink(paused=True), RecordingLink()
    slow_subscription = subscribe(topic, slow, b"slow")
    subscribe(topic, fast, b"fast")
    topic.publish(Message(1, b"t", {}, b"x"), None)
    assert slow_subscription.session.failed and "slow consumer" in slow_subscription.session.failed[0]
    assert len(fast.pushed) == 1


def test_unsubscribe_during_fan_out_does_not_skip_others(broker):
    topic = broker.destination(b"t")

    class LeavingLink(RecordingLink):
        def push(self, prefix, tail):
            super().push(prefix, tail)
            topic.unsubscribe(self.subscription)

    links = [RecordingLink() for _ in range(3)]
    leaving = LeavingLink()
    subscribe(topic, links[0], b"0")
    leaving.subscription = subscribe(topic, leaving, b"leaving")
    for index, link in enumerate(links[1:], 1):
        subscribe(topic, link, b"%d" % index)
    topic.publish(Message(1, b"t", {}, b"x"), None)
    assert all(len(link.pushed) == 1 for link in links)
    assert topic.subscriber_count == 3


# -- over real sockets ----------------------------------------------------------------------


def test_fan_out_to_many_subscribers_in_order(xtomp, raw_client):
    subscribers = []
    for index in range(20):
        client = raw_client()
        client.connect()
        client.subscribe("/topic/fan", id=f"s{index}")
        subscribers.append(client)
    publisher = raw_client()
    publisher.connect()
    publisher.send(b"".join(b"SEND\ndestination:/topic/fan\nseq:%d\n\n%d\x00" % (i, i) for i in range(200)))
    for client in subscribers:
        assert [int(m.headers[b"seq"]) for m in client.messages(200)] == list(range(200))


def slow_socket(broker) -> socket.socket:
    """A subscriber that never reads, with a tiny receive buffer so it backs up quickly."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((broker.host, broker.port))
    sock.sendall(b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:/topic/flood\nid:slow\n\n\x00")
    return sock


@pytest.mark.parametrize("policy", ["drop", "disconnect"])
def test_slow_consumer_never_stalls_others(xtomp_factory, raw_client, policy):
    broker = xtomp_factory(
        f'[server]\nwrite_buffer_high = "64k"\nwrite_buffer_low = "16k"\n'
        f'[destinations."/topic/flood"]\ntype = "topic"\nslow_consumer = "{policy}"\n'
    )
    slow = slow_socket(broker)
    fast = raw_client(broker)
    fast.connect()
    fast.subscribe("/topic/flood", id="fast")
    count = 600  # ~10 MB: far beyond the slow socket's buffers
    received: list[int] = []
    # the live consumer reads on its own thread, as a real client would
    reader = threading.Thread(
        target=lambda: received.extend(int(m.headers[b"seq"]) for m in fast.messages(count, timeout=20))
    )
    reader.start()
    publisher = RawClient(broker.host, broker.port)
    publisher.connect()
    body = b"x" * 16384
    for index in range(count):
        publisher.send(b"SEND\ndestination:/topic/flood\nseq:%d\ncontent-length:%d\n\n%s\x00" % (index, len(body), body))
        if index % 20 == 19:
            time.sleep(0.01)  # a pace the live reader (sharing this process's GIL) can follow
    publisher.send_frame("SEND", {"destination": "/topic/calm", "receipt": "end"}, "")
    publisher.expect_receipt("end", timeout=20)
    reader.join(25)
    assert received == list(range(count))  # nothing lost, duplicated or reordered for the live one

    def figures():
        topic = broker.broker.destinations[b"/topic/flood"]
        buffered = [s.link.transport.get_write_buffer_size() for s in broker.broker.sessions if s.link.paused]
        return topic.dropped, topic.subscriber_count, buffered

    dropped, subscribers, buffered = broker.call(figures)
    assert dropped > 0
    if policy == "drop":
        assert subscribers == 2
        # bounded: write_buffer_high plus at most what one loop pass fans out (one 256 KiB read)
        assert all(size < (64 + 256) * 1024 for size in buffered)
    else:
        assert subscribers == 1  # the slow one was disconnected
    slow.close()
