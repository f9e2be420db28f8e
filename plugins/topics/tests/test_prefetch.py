"""Client acknowledgements and prefetch windows on topics: at most prefetch-count unacknowledged
deliveries per windowed subscription; a full window is a slow consumer for the topic's policy."""

from __future__ import annotations

import time

import pytest

from xtomp_testing import InMemoryBroker


def config(policy: str = "pause", extra: str = "") -> str:
    return f'[destinations."t"]\ntype = "topic"\nslow_consumer = "{policy}"\n{extra}'


def sends(count: int, start: int = 0, receipt: str | None = None) -> bytes:
    frames = [b"SEND\ndestination:t\nseq:%d\n\n%d\x00" % (index, index) for index in range(start, start + count)]
    if receipt is not None:
        frames.append(b"SEND\ndestination:t\nreceipt:%s\n\nend\x00" % receipt.encode())
    return b"".join(frames)


def seqs(frames) -> list[int]:
    return [int(frame.headers[b"seq"]) for frame in frames if frame.command == b"MESSAGE" and b"seq" in frame.headers]


def ack(client, message, command="ACK") -> None:
    client.send(command, {"id": message.headers[b"ack"].decode()})


# -- the window, whatever the policy ------------------------------------------------------------


def test_a_windowed_subscription_is_kept_out_of_the_plain_index():
    with InMemoryBroker(config("drop")) as memory:
        plain, windowed, auto = memory.client(), memory.client(), memory.client()
        plain.subscribe("t", id="p", ack="client-individual")  # no prefetch header: unlimited, as before
        windowed.subscribe("t", id="w", ack="client-individual", prefetch_count="2")
        auto.subscribe("t", id="a", prefetch_count="2")  # auto: nothing is ever unacknowledged
        topic = memory.destination("t")
        assert topic.index.count == 2 and topic.windowed.count == 1
        assert topic.subscriber_count == 3 and topic.stats()["sz"] == 3 and topic.stats()["windowed"] == 1
        memory.client().feed(sends(4))
        assert seqs(plain.frames()) == seqs(auto.frames()) == [0, 1, 2, 3]
        assert seqs(windowed.frames()) == [0, 1]
        windowed.send("UNSUBSCRIBE", {"id": "w"})
        assert topic.windowed.count == 0 and not topic.extras and topic.subscriber_count == 2


def test_activemq_prefetch_size_and_zero():
    with InMemoryBroker(config("drop")) as memory:
        activemq, unlimited = memory.client(), memory.client()
        activemq.subscribe("t", id="a", ack="client", **{"activemq.prefetchSize": "1"})
        unlimited.subscribe("t", id="u", ack="client", prefetch_count="0")
        memory.client().feed(sends(3))
        assert seqs(activemq.frames()) == [0]
        assert seqs(unlimited.frames()) == [0, 1, 2]


def test_a_bad_prefetch_count_is_refused():
    with InMemoryBroker(config()) as memory:
        client = memory.client()
        client.subscribe("t", id="w", ack="client", prefetch_count="lots")
        error = client.frames()[-1]
        assert error.command == b"ERROR" and b"prefetch-count" in error.headers[b"message"]


def test_client_individual_ack_frees_one_and_unknown_ids_are_accepted():
    with InMemoryBroker(config("drop")) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="2")
        publisher.feed(sends(3))
        first, second = client.frames()
        ack(client, second)
        publisher.feed(sends(2, 3))
        assert seqs(client.frames()) == [3]  # one freed; 4 dropped, like 2
        client.send("ACK", {"id": "w.999999", "receipt": "r"})  # never delivered: a no-op
        assert client.frames()[0].headers[b"receipt-id"] == b"r"
        ack(client, second)  # twice: a no-op too
        publisher.feed(sends(1, 5))
        assert client.frames() == []
        assert memory.destination("t").dropped == 3


def test_client_ack_is_cumulative():
    with InMemoryBroker(config("drop")) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client", prefetch_count="3")
        publisher.feed(sends(3))
        messages = client.frames()
        ack(client, messages[1])  # covers 0 and 1
        publisher.feed(sends(3, 3))
        assert seqs(client.frames()) == [3, 4]


def test_nack_frees_room_and_nothing_is_redelivered():
    with InMemoryBroker(config("drop")) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="1")
        publisher.feed(sends(1))
        [message] = client.frames()
        ack(client, message, "NACK")
        assert client.frames() == []  # a topic does not redeliver
        publisher.feed(sends(1, 1))
        assert seqs(client.frames()) == [1]


def test_only_matching_messages_count_against_a_filtered_window():
    with InMemoryBroker(config("drop", "[plugins.filters]\n")) as memory:
        red, everything, publisher = memory.client(), memory.client(), memory.client()
        red.subscribe("t", id="r", ack="client-individual", prefetch_count="2", filter="colour=red")
        everything.subscribe("t", id="e")
        for index, colour in enumerate(["blue", "red", "blue", "blue", "red", "red"]):
            publisher.send("SEND", {"destination": "t", "colour": colour, "seq": str(index)})
        assert seqs(red.frames()) == [1, 4]  # the blue ones neither arrive nor fill the window; 5 is dropped
        assert seqs(everything.frames()) == [0, 1, 2, 3, 4, 5]
        assert memory.destination("t").dropped == 1


def test_max_connections_counts_windowed_subscriptions():
    with InMemoryBroker(config(extra="max_connections = 1\n")) as memory:
        first, second = memory.client(), memory.client()
        first.subscribe("t", id="w", ack="client", prefetch_count="1")
        second.subscribe("t", id="p")
        assert second.frames()[-1].command == b"ERROR"


def test_a_1_0_ack_by_message_id_finds_the_window_awaiting_it():
    config_two = config("drop") + '[destinations."u"]\ntype = "topic"\n'
    with InMemoryBroker(config_two) as memory:
        client, publisher = memory.client("1.0"), memory.client()
        client.subscribe("u", id="first", ack="client")  # unwindowed: would accept any id
        client.subscribe("t", id="second", ack="client", prefetch_count="1")
        client.frames()
        publisher.feed(sends(1))
        [message] = client.frames()
        client.send("ACK", {"message-id": message.headers[b"message-id"].decode()})
        publisher.feed(sends(1, 1))
        assert seqs(client.frames()) == [1]  # the ACK reached "second", not "first"


# -- the policies ------------------------------------------------------------------------------


def test_pause_keeps_the_messages_and_holds_the_producer_until_an_ack():
    with InMemoryBroker(config()) as memory:
        client, fast, publisher = memory.client(), memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="3")
        fast.subscribe("t", id="f")
        publisher.feed(sends(6, receipt="end"))
        topic = memory.destination("t")
        messages = client.frames()
        # 0-2 fill the window; 3 waits for room and holds the producer; 4, 5 are not even read
        assert seqs(messages) == [0, 1, 2] and seqs(fast.frames()) == [0, 1, 2, 3]
        assert publisher.session.held and topic.stats()["held_producers"] == 1
        assert topic.stats()["slow_subscribers"] == 1
        ack(client, messages.pop(0))
        # 3 goes out and fills the window again; the producer, released, publishes 4, which waits
        messages += client.frames()
        assert seqs(messages) == [1, 2, 3] and publisher.session.held
        delivered = []
        while publisher.session.held:
            ack(client, messages.pop(0))
            more = client.frames()
            messages += more
            delivered += more
        assert seqs(delivered) == [4, 5] and delivered[-1].body == b"end"
        assert any(frame.headers.get(b"receipt-id") == b"end" for frame in publisher.frames())
        assert seqs(fast.frames()) == [4, 5]
        assert topic.dropped == 0 and topic.stats()["held_producers"] == 0


def test_pause_a_subscriber_that_leaves_releases_the_producer():
    with InMemoryBroker(config()) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client", prefetch_count="1")
        publisher.feed(sends(3))
        assert publisher.session.held
        client.send("UNSUBSCRIBE", {"id": "w"})
        assert not publisher.session.held


def test_pause_never_holds_a_producer_for_its_own_window():
    with InMemoryBroker(config()) as memory:
        client = memory.client()  # consumes and publishes on one connection, as many apps do
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="1")
        client.feed(sends(3))
        messages = client.frames()
        assert seqs(messages) == [0] and not client.session.held
        ack(client, messages[0])  # read and handled: the next one comes
        assert seqs(client.frames()) == [1]


def test_pause_a_window_full_for_longer_than_the_timeout_is_disconnected(xtomp_factory, raw_client):
    broker = xtomp_factory(
        '[destinations."/topic/w"]\ntype = "topic"\nslow_consumer_timeout = "0.3s"\n'
    )
    client, publisher = raw_client(broker), raw_client(broker)
    client.connect()
    client.subscribe("/topic/w", id="w", ack="client", **{"prefetch-count": "1"})
    publisher.connect()
    publisher.send(b"SEND\ndestination:/topic/w\n\n1\x00SEND\ndestination:/topic/w\n\n2\x00")
    assert client.expect("MESSAGE").body == b"1"
    error = client.expect("ERROR", timeout=5)
    assert b"full prefetch window" in error.headers[b"message"]
    publisher.send_frame("SEND", {"destination": "/topic/w", "receipt": "r"}, "3")
    publisher.expect_receipt("r")  # released when the subscriber was cut off


def test_drop_skips_and_counts():
    with InMemoryBroker(config("drop")) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="2")
        publisher.feed(sends(5, receipt="end"))
        assert publisher.frames()[0].headers[b"receipt-id"] == b"end"  # never held
        assert seqs(client.frames()) == [0, 1]
        assert memory.destination("t").dropped == 4  # 2, 3, 4 and the "end"


def test_disconnect_closes_the_subscriber_with_a_full_window():
    with InMemoryBroker(config("disconnect")) as memory:
        client, other, publisher = memory.client(), memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="2")
        other.subscribe("t", id="o")
        publisher.feed(sends(3))
        frames = client.frames()
        assert seqs(frames) == [0, 1]
        assert frames[-1].command == b"ERROR" and b"slow consumer" in frames[-1].headers[b"message"]
        assert b"prefetch-count" in frames[-1].headers[b"message"]
        assert not client.session.connected and seqs(other.frames()) == [0, 1, 2]
        topic = memory.destination("t")
        assert topic.windowed.count == 0 and topic.slow_disconnects == 1


@pytest.mark.parametrize("policy", ["pause", "drop", "disconnect"])
def test_a_windowed_subscriber_over_write_buffer_high(policy):
    with InMemoryBroker(config(policy)) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("t", id="w", ack="client-individual", prefetch_count="10")
        client.link.paused = True
        publisher.feed(sends(2))
        topic = memory.destination("t")
        if policy == "pause":
            assert seqs(client.frames()) == [0] and publisher.session.held  # delivered anyway; producer held
            client.drained()
            assert seqs(client.frames()) == [1] and not publisher.session.held
        elif policy == "drop":
            assert client.frames() == [] and topic.dropped == 2
        else:
            assert client.frames()[-1].command == b"ERROR" and not client.session.connected


# -- over a real socket, with stomp.py ---------------------------------------------------------


@pytest.mark.parametrize("policy", ["pause", "drop", "disconnect"])
def test_stomp_py_prefetch_count(xtomp_factory, stomp_py, raw_client, policy):
    broker = xtomp_factory(
        f'[destinations."/topic/window"]\ntype = "topic"\nslow_consumer = "{policy}"\n'
        'slow_consumer_timeout = "20s"\n'
    )
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe(
        "/topic/window", id="w", ack="client-individual", headers={"prefetch-count": "5", "receipt": "subscribed"}
    )
    recorder.wait_for(lambda: "subscribed" in recorder.receipts)
    publisher = raw_client(broker)
    publisher.connect()
    publisher.send(b"".join(
        b"SEND\ndestination:/topic/window\nseq:%d\n\n%d\x00" % (index, index) for index in range(10)
    ))
    first = recorder.wait_messages(5)
    assert [m.body for m in first] == ["0", "1", "2", "3", "4"]
    time.sleep(0.3)
    assert len(recorder.messages) == 5  # nothing beyond the window until an ACK

    def topic_stats():
        return broker.broker.destinations[b"/topic/window"].stats()

    if policy == "pause":
        assert broker.call(topic_stats)["held_producers"] == 1
        for index in range(10):  # each ACK frees room for one more: the rest arrive, in order
            message = recorder.wait_messages(index + 1)[index]
            connection.ack(message.headers["ack"])
        assert [m.body for m in recorder.wait_messages(10)] == [str(index) for index in range(10)]
        stats = broker.call(topic_stats)
        assert stats["dropped"] == 0 and stats["held_producers"] == 0
    elif policy == "drop":
        publisher.send_frame("SEND", {"destination": "/topic/window", "receipt": "r"}, "late")
        publisher.expect_receipt("r")  # the producer never waits
        assert broker.call(topic_stats)["dropped"] == 6
        connection.ack(first[0].headers["ack"], receipt="acked")
        recorder.wait_for(lambda: "acked" in recorder.receipts)
        publisher.send_frame("SEND", {"destination": "/topic/window"}, "after the ack")
        assert recorder.wait_messages(6)[5].body == "after the ack"
    else:
        recorder.wait_for(lambda: bool(recorder.errors))
        assert "slow consumer" in recorder.errors[0].headers["message"]
        assert recorder.disconnected.wait(5)
        assert broker.call(topic_stats)["slow_disconnects"] == 1
