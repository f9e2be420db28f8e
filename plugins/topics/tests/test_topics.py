"""The topics plugin: fan-out, encode-once, filters through the index, slow-consumer policies."""

from __future__ import annotations

import threading
import time

import pytest

from xtomp_testing import FakeLink, InMemoryBroker, RawClient, unread_subscriber

# -- unit level: real sessions on in-memory links (xtomp_testing) -----------------------------

CONFIG = '[destinations."t"]\ntype = "topic"\n'


@pytest.fixture
def memory():
    with InMemoryBroker(CONFIG) as broker:
        yield broker


def send(client, **headers):
    body = headers.pop("body", "")
    client.send("SEND", {"destination": "t", **headers}, body)


def test_fan_out_encodes_once(memory):
    subscribers = [memory.client() for _ in range(50)]
    for index, client in enumerate(subscribers):
        client.subscribe("t", id=f"sub-{index}")
    send(memory.client(), k="v", body="body")
    tails = {id(client.link.out[1]) for client in subscribers}
    assert len(tails) == 1  # one shared tail object for every subscriber
    message = subscribers[3].frames()[0]
    assert subscribers[3].link.frames_out == 2  # CONNECTED, then the MESSAGE
    assert message.headers[b"subscription"] == b"sub-3" and message.headers[b"k"] == b"v"
    assert message.body == b"body"
    topic = memory.destination("t")
    assert topic.delivered == 50 and topic.enqueued == 1


def test_versions_share_a_tail_unless_escaping_differs(memory):
    old, new = memory.client("1.0"), memory.client("1.2")
    old.subscribe("t", id="o")
    new.subscribe("t", id="n")
    for client in (old, new):
        client.frames()
    publisher = memory.client()
    send(publisher, plain="v")
    assert old.link.out[1] is new.link.out[1]
    send(publisher, needs="a:b")
    assert b"needs:a:b\n" in old.link.out[3]
    assert b"needs:a\\cb\n" in new.link.out[3]
    assert old.frames()[1].headers[b"needs"] == new.frames()[1].headers[b"needs"] == b"a:b"


def test_client_ack_header_per_delivery(memory):
    client = memory.client()
    client.subscribe("t", id="s1", ack="client-individual")
    send(memory.client())
    message = client.frames()[0]
    assert message.headers[b"ack"] == b"s1." + message.headers[b"message-id"]
    client.send("ACK", {"id": message.headers[b"ack"].decode(), "receipt": "r"})
    assert client.frames()[0].headers[b"receipt-id"] == b"r"  # a topic accepts the ACK


def test_slow_consumer_drop_counts_and_skips():
    with InMemoryBroker('[destinations."t"]\ntype = "topic"\nslow_consumer = "drop"\n') as memory:
        slow, fast = memory.client(), memory.client()
        slow.subscribe("t", id="slow")
        fast.subscribe("t", id="fast")
        slow.link.paused = True  # over write_buffer_high
        publisher = memory.client()
        send(publisher, receipt="r")
        assert slow.frames() == [] and len(fast.frames()) == 1
        assert memory.destination("t").dropped == 1
        assert slow.link.closed is None and slow.session.connected
        assert publisher.link.reading  # drop never slows a producer


def test_pause_is_the_default_and_loses_nothing(memory):
    """A slow subscriber still gets every message; the producer is held until it drains."""
    slow, fast, bystander = memory.client(), memory.client(), memory.client()
    slow.subscribe("t", id="slow")
    fast.subscribe("t", id="fast")
    publisher = memory.client()
    slow.link.paused = True
    publisher.feed(b"".join(
        b"SEND\ndestination:t\nseq:%d\nreceipt:r%d\n\n\x00" % (index, index) for index in range(3)
    ))
    topic = memory.destination("t")
    # the first SEND was delivered to both, then the producer was held: the rest wait, unread
    assert [m.headers[b"seq"] for m in slow.frames()] == [b"0"] and len(fast.frames()) == 1
    assert not publisher.link.reading and publisher.session.held
    assert [f.headers[b"receipt-id"] for f in publisher.frames()] == [b"r0"]
    assert topic.stats()["held_producers"] == 1 and topic.stats()["slow_subscribers"] == 1
    send(bystander, receipt="other")  # another producer is held too once it publishes here
    assert not bystander.link.reading
    slow.drained()
    # released on the next loop pass (call_soon runs at once without a loop): nothing lost
    assert [m.headers[b"seq"] for m in slow.frames() if b"seq" in m.headers] == [b"1", b"2"]
    assert [m.headers.get(b"seq") for m in fast.frames()] == [None, b"1", b"2"]  # the bystander's went out first
    assert publisher.link.reading and not publisher.session.held
    assert topic.dropped == 0 and topic.stats()["held_producers"] == 0 and topic.producer_pauses == 2


def test_a_held_producer_resumes_only_when_every_holder_lets_go():
    config = '[destinations."a"]\ntype = "topic"\n[destinations."b"]\ntype = "topic"\n'
    with InMemoryBroker(config) as memory:
        slow_a, slow_b, publisher = memory.client(), memory.client(), memory.client()
        slow_a.subscribe("a", id="a")
        slow_b.subscribe("b", id="b")
        slow_a.link.paused = slow_b.link.paused = True
        publisher.send("SEND", {"destination": "a"}, "1")
        publisher.session.release(memory.destination("a"))  # a, impatient, lets go early...
        publisher.send("SEND", {"destination": "b"}, "2")
        assert publisher.session.held
        slow_a.drained()
        assert publisher.session.held  # ...b still holds it
        slow_b.drained()
        assert not publisher.session.held


def test_a_slow_subscriber_that_leaves_releases_the_producers(memory):
    slow, publisher = memory.client(), memory.client()
    slow.subscribe("t", id="slow")
    slow.link.paused = True
    send(publisher)
    assert publisher.session.held
    slow.send("UNSUBSCRIBE", {"id": "slow"})
    assert not publisher.session.held and memory.destination("t").stats()["slow_subscribers"] == 0


def test_slow_consumer_disconnect_policy():
    with InMemoryBroker('[destinations."t"]\ntype = "topic"\nslow_consumer = "disconnect"\n') as memory:
        slow, fast = memory.client(), memory.client()
        slow.subscribe("t", id="slow")
        fast.subscribe("t", id="fast")
        slow.link.paused = True
        send(memory.client())
        error = slow.frames()[-1]
        assert error.command == b"ERROR" and b"slow consumer" in error.headers[b"message"]
        assert slow.link.closed is True and not slow.session.connected
        assert len(fast.frames()) == 1


def test_unsubscribe_during_fan_out_does_not_skip_others(memory):
    topic = memory.destination("t")

    class LeavingLink(FakeLink):
        __slots__ = ("subscription",)

        def push(self, prefix, tail):
            super().push(prefix, tail)
            topic.unsubscribe(self.subscription)

    clients = [memory.client() for _ in range(3)]
    leaving = memory.client(link=LeavingLink())
    clients[0].subscribe("t", id="0")
    leaving.subscribe("t", id="leaving")
    leaving.link.subscription = leaving.session.subscriptions[b"leaving"]
    for index, client in enumerate(clients[1:], 1):
        client.subscribe("t", id=str(index))
    send(memory.client())
    assert all(len(client.frames()) == 1 for client in clients)
    assert topic.subscriber_count == 3


def test_a_failing_subscriber_does_not_keep_the_message_from_the_others(memory, caplog):
    """Fault isolation: one subscriber's connection raising inside the fan-out."""

    class BrokenLink(FakeLink):
        __slots__ = ()

        def push(self, prefix, tail):
            raise RuntimeError("broken link")

    clients = [memory.client() for _ in range(2)]
    broken = memory.client(link=BrokenLink())
    clients[0].subscribe("t", id="a")
    broken.subscribe("t", id="broken")
    clients[1].subscribe("t", id="b")
    publisher = memory.client()
    send(publisher, receipt="sent")
    assert [len(client.frames()) for client in clients] == [1, 1]
    assert publisher.frames()[0].command == b"RECEIPT"  # the publisher is not blamed
    assert not broken.session.connected and broken.link.closed is not None
    assert "broken link" in caplog.text and "topic" in caplog.text


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


@pytest.mark.parametrize("policy", ["pause", "drop", "disconnect"])
def test_slow_consumer_never_stalls_others(xtomp_factory, raw_client, policy):
    """One subscriber never reads: the live one still gets everything, in order, whatever the
    policy; with pause nothing is dropped (the producer waits until the dead reader is cut off
    after slow_consumer_timeout), with drop or disconnect the dead reader loses messages."""
    broker = xtomp_factory(
        '[server]\nwrite_buffer_high = "512k"\nwrite_buffer_low = "128k"\nwrite_buffer_max = "4m"\n'
        f'[destinations."/topic/flood"]\ntype = "topic"\nslow_consumer = "{policy}"\n'
        'slow_consumer_timeout = "1s"\n'
    )
    slow = unread_subscriber(broker.host, broker.port, "/topic/flood", "slow")
    fast = raw_client(broker)
    fast.connect()
    fast.subscribe("/topic/flood", id="fast")
    count = 600  # ~10 MB: far beyond the slow socket's buffers
    received: list[int] = []

    def read() -> None:  # the live consumer reads on its own thread, as a real client would
        for _ in range(count):
            received.append(int(fast.expect("MESSAGE", timeout=20).headers[b"seq"]))

    reader = threading.Thread(target=read)
    reader.start()
    publisher = RawClient(broker.host, broker.port, timeout=20)
    publisher.connect()
    body = b"x" * 16384
    for index in range(count):
        publisher.send(b"SEND\ndestination:/topic/flood\nseq:%d\ncontent-length:%d\n\n%s\x00" % (index, len(body), body))
        if index % 8 == 7:
            time.sleep(0.01)  # a pace the live reader (sharing this process's GIL) can follow
    publisher.send_frame("SEND", {"destination": "/topic/calm", "receipt": "end"}, "")
    publisher.expect_receipt("end", timeout=20)
    reader.join(25)
    assert received == list(range(count))  # nothing lost, duplicated or reordered for the live one

    def figures():
        topic = broker.broker.destinations[b"/topic/flood"]
        buffered = [s.link.transport.get_write_buffer_size() for s in broker.broker.sessions if s.link.paused]
        return topic.stats(), buffered

    stats, buffered = broker.call(figures)
    if policy == "pause":
        assert stats["dropped"] == 0 and stats["slow_disconnects"] == 1 and stats["sz"] == 1
        assert stats["producer_pauses"] >= 1 and stats["held_producers"] == 0
    elif policy == "drop":
        assert stats["dropped"] > 0 and stats["sz"] == 2
        # bounded: write_buffer_high plus what one loop pass had queued before the count paused it
        assert all(size < (512 + 256) * 1024 for size in buffered)
    else:
        assert stats["dropped"] > 0 and stats["sz"] == 1  # the slow one was disconnected
    slow.close()
