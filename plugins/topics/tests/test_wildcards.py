"""Wildcard subscriptions on topics: /topic/a.* (one word), /topic/a.# (zero or more), /topic/a.>
(ActiveMQ: one or more, at the end); a per-broker trie, memoized per topic by generation."""

from __future__ import annotations

import pytest

from xtomp_testing import InMemoryBroker
from xtomp_topics.trie import WILDCARDS


def publish(client, name, body="", **headers):
    client.send("SEND", {"destination": name, **headers}, body)


def received(client) -> list[tuple[str, str]]:
    """(destination, subscription) of each MESSAGE since the last call."""
    return [
        (frame.headers[b"destination"].decode(), frame.headers[b"subscription"].decode())
        for frame in client.frames() if frame.command == b"MESSAGE"
    ]


def names(client) -> list[str]:
    return [destination for destination, _ in received(client)]


def deliveries(memory, pattern, topics) -> list[str]:
    subscriber, publisher = memory.client(), memory.client()
    subscriber.subscribe(pattern, id="w")
    assert subscriber.frames() == []
    for topic in topics:
        publish(publisher, topic)
    return names(subscriber)


ALL = ["/topic/a", "/topic/a.b", "/topic/a.b.c", "/topic/x.b", "/topic/ab"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("/topic/a.*", ["/topic/a.b"]),
    ("/topic/a.#", ["/topic/a", "/topic/a.b", "/topic/a.b.c"]),
    ("/topic/a.>", ["/topic/a.b", "/topic/a.b.c"]),
    ("/topic/*.b", ["/topic/a.b", "/topic/x.b"]),
    ("/topic/#", ALL),
    ("/topic/#.c", ["/topic/a.b.c"]),
    ("/topic/a.#.c", ["/topic/a.b.c"]),
    ("/topic/*", ["/topic/a", "/topic/ab"]),
])
def test_what_a_pattern_matches(pattern, expected):
    with InMemoryBroker() as memory:
        assert deliveries(memory, pattern, ALL) == expected


def test_destination_is_the_topic_and_subscription_the_wildcard_one_and_plain_plus_wildcard_get_two():
    with InMemoryBroker() as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("/topic/a.b", id="plain")
        client.subscribe("/topic/a.*", id="wild")
        client.subscribe("/topic/a.#", id="deep")
        client.frames()
        publish(publisher, "/topic/a.b", "hello")
        assert sorted(received(client)) == [("/topic/a.b", "deep"), ("/topic/a.b", "plain"), ("/topic/a.b", "wild")]


def test_patterns_added_before_and_after_the_topic_existed_and_memo_invalidation():
    with InMemoryBroker() as memory:
        early, publisher = memory.client(), memory.client()
        early.subscribe("/topic/a.*", id="early")
        topic = memory.destination("/topic/a.b")  # created after the pattern
        publish(publisher, "/topic/a.b")
        assert names(early) == ["/topic/a.b"]
        trie = memory.context.stash[WILDCARDS]
        seen = topic.seen
        assert seen == trie.generation
        memo = topic.wild
        publish(publisher, "/topic/a.b")
        assert names(early) == ["/topic/a.b"]
        assert topic.wild is memo  # nothing changed: the memoized list, no walk
        late = memory.client()
        late.subscribe("/topic/#", id="late")
        assert trie.generation > seen
        publish(publisher, "/topic/a.b")
        assert names(early) == names(late) == ["/topic/a.b"]
        assert topic.wild is not memo and topic.wild.count == 2 and topic.stats()["wildcard_subscribers"] == 2


def test_no_pattern_costs_nothing_but_a_comparison():
    with InMemoryBroker() as memory:
        subscriber, publisher = memory.client(), memory.client()
        subscriber.subscribe("/topic/plain", id="s")
        publish(publisher, "/topic/plain")
        topic = memory.destination("/topic/plain")
        assert not topic.extras and topic.wild.count == 0 and topic.seen == memory.context.stash[WILDCARDS].generation


def test_with_a_selector_and_a_filter():
    with InMemoryBroker("[plugins.filters]\n") as memory:
        selected, filtered, publisher = memory.client(), memory.client(), memory.client()
        selected.subscribe("/topic/prices.*", id="s", selector="price > 10")
        filtered.subscribe("/topic/prices.#", id="f", filter="sym=IBM")
        publish(publisher, "/topic/prices.ibm", price="5", sym="IBM")
        publish(publisher, "/topic/prices.ibm", price="50", sym="IBM")
        publish(publisher, "/topic/prices.aapl", price="50", sym="AAPL")
        assert names(selected) == ["/topic/prices.ibm", "/topic/prices.aapl"]
        assert names(filtered) == ["/topic/prices.ibm", "/topic/prices.ibm"]


def test_unsubscribe_and_session_close_remove_patterns():
    with InMemoryBroker() as memory:
        client, other, publisher = memory.client(), memory.client(), memory.client()
        client.subscribe("/topic/a.*", id="w")
        other.subscribe("/topic/b.#", id="w")
        publish(publisher, "/topic/a.b")
        publish(publisher, "/topic/b.c")
        assert names(client) == ["/topic/a.b"] and names(other) == ["/topic/b.c"]
        client.send("UNSUBSCRIBE", {"id": "w"})
        other.disconnect()
        publish(publisher, "/topic/a.b")
        publish(publisher, "/topic/b.c")
        assert names(client) == []
        assert memory.destination("/topic/a.b").wild.count == 0 == memory.destination("/topic/b.c").wild.count
        trie = memory.context.stash[WILDCARDS]
        assert trie.count == 2  # the patterns stay as idle destinations, removed like any idle one
        memory.context.remove(memory.destination("/topic/a.*"))
        memory.context.remove(memory.destination("/topic/b.#"))
        assert trie.count == 0 and trie.roots == {}


def test_a_send_to_a_pattern_is_refused():
    with InMemoryBroker() as memory:
        publisher = memory.client()
        publish(publisher, "/topic/a.*", "x")
        error = publisher.frames()[-1]
        assert error.command == b"ERROR" and b"wildcard pattern" in error.headers[b"message"]
        txn = memory.client()
        txn.send("BEGIN", {"transaction": "t"})
        publish(txn, "/topic/a.#", "x", transaction="t")
        txn.send("COMMIT", {"transaction": "t"})
        assert txn.frames()[-1].command == b"ERROR"


def test_gt_only_at_the_end_and_literal_words():
    with InMemoryBroker() as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("/topic/a.>.b", id="bad")
        error = client.frames()[-1]
        assert error.command == b"ERROR" and b"last word" in error.headers[b"message"]
        literal = memory.client()
        literal.subscribe("/topic/a*.b", id="l")  # "*" is special only as a whole word
        publish(publisher, "/topic/a*.b")
        publish(publisher, "/topic/ax.b")
        assert names(literal) == ["/topic/a*.b"]


def test_wildcards_false_makes_them_ordinary_characters_and_exact_names_are_literal():
    extra = '[destinations."/lit/*"]\ntype = "topic"\nwildcards = false\n[destinations."/x.#"]\ntype = "topic"\n'
    with InMemoryBroker(extra) as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("/lit/a.*", id="l")
        client.subscribe("/x.#", id="x")
        publish(publisher, "/lit/a.b")
        publish(publisher, "/lit/a.*")
        publish(publisher, "/x.#")
        assert names(client) == ["/lit/a.*", "/x.#"]


def test_limits_max_connections_per_pattern_and_max_destinations():
    extra = '[destinations."/t2/*"]\ntype = "topic"\nmax_connections = 1\n[server]\nmax_destinations = 3\n'
    with InMemoryBroker(extra) as memory:
        first, second = memory.client(), memory.client()
        first.subscribe("/t2/a.*", id="1")
        second.subscribe("/t2/a.*", id="2")
        assert second.frames()[-1].command == b"ERROR"
        third = memory.client()
        third.subscribe("/topic/p1.*", id="1")
        third.subscribe("/topic/p2.*", id="2")
        third.subscribe("/topic/p3.*", id="3")
        frames = third.frames()
        assert frames[-1].command == b"ERROR" and b"max_destinations" in frames[-1].headers[b"message"]


def test_max_subscriptions_per_connection_counts_wildcards():
    with InMemoryBroker("[server]\nmax_subscriptions = 1\n") as memory:
        client = memory.client()
        client.subscribe("/topic/a.*", id="1")
        client.subscribe("/topic/b.*", id="2")
        assert client.frames()[-1].command == b"ERROR"


def test_client_ack_modes_are_accepted_as_on_plain_topics():
    with InMemoryBroker() as memory:
        client, publisher = memory.client(), memory.client()
        client.subscribe("/topic/a.*", id="w", ack="client-individual", prefetch_count="1")
        publish(publisher, "/topic/a.b")
        publish(publisher, "/topic/a.c")
        messages = [frame for frame in client.frames() if frame.command == b"MESSAGE"]
        assert len(messages) == 2  # no window on a wildcard subscription
        assert messages[0].headers[b"ack"].startswith(b"w.")
        client.send("ACK", {"id": messages[0].headers[b"ack"].decode(), "receipt": "r"})
        client.send("NACK", {"id": messages[1].headers[b"ack"].decode(), "receipt": "r2"})
        assert [frame.command for frame in client.frames()] == [b"RECEIPT", b"RECEIPT"]


@pytest.mark.parametrize("policy", ["pause", "drop", "disconnect"])
def test_a_paused_wildcard_subscriber_is_slow_for_every_topic_that_delivers_to_it(policy):
    extra = f'[destination_defaults]\nslow_consumer = "{policy}"\n'
    with InMemoryBroker(extra) as memory:
        slow, publisher, other = memory.client(), memory.client(), memory.client()
        slow.subscribe("/topic/a.*", id="w")
        slow.frames()
        slow.link.paused = True
        publish(publisher, "/topic/a.b")
        publish(other, "/topic/a.c")  # (publisher is held after its first, under pause)
        first, second = memory.destination("/topic/a.b"), memory.destination("/topic/a.c")
        if policy == "pause":
            assert len(names(slow)) == 2 and not publisher.link.reading and not other.link.reading
            assert first.stats()["slow_subscribers"] == second.stats()["slow_subscribers"] == 1
            assert first.stats()["held_producers"] == second.stats()["held_producers"] == 1
            slow.drained()  # writable goes to the pattern, which releases both topics
            assert first.stats()["slow_subscribers"] == second.stats()["slow_subscribers"] == 0
            assert first.stats()["held_producers"] == 0 == second.stats()["held_producers"]
            assert publisher.link.reading and other.link.reading
        elif policy == "drop":
            assert names(slow) == [] and first.dropped == 1 == second.dropped
            assert publisher.link.reading and other.link.reading
        else:
            assert not slow.session.connected and first.slow_disconnects == 1


def test_pause_a_wildcard_subscriber_that_leaves_releases_every_topic():
    with InMemoryBroker() as memory:
        slow, publisher = memory.client(), memory.client()
        slow.subscribe("/topic/#", id="w")
        slow.link.paused = True
        publish(publisher, "/topic/a")
        publish(publisher, "/topic/b")
        slow.disconnect()
        for name in ("/topic/a", "/topic/b"):
            assert memory.destination(name).stats()["slow_subscribers"] == 0
        assert memory.context.stash[WILDCARDS].stuck == {}


# -- over a real socket, with stomp.py ---------------------------------------------------------


def test_stomp_py_wildcards(xtomp_factory, stomp_py, raw_client):
    broker = xtomp_factory("[plugins.filters]\n")
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/orders.*", id="one", headers={"receipt": "s1"})
    connection.subscribe("/topic/orders.#", id="deep", headers={"selector": "qty > 1", "receipt": "s2"})
    connection.subscribe("/topic/orders.>", id="amq", ack="client", headers={"receipt": "s3"})
    recorder.wait_for(lambda: {"s1", "s2", "s3"} <= set(recorder.receipts))
    publisher = raw_client(broker)
    publisher.connect()
    publisher.send_frame("SEND", {"destination": "/topic/orders", "qty": "5"}, "root")
    publisher.send_frame("SEND", {"destination": "/topic/orders.eu", "qty": "1"}, "eu")
    publisher.send_frame("SEND", {"destination": "/topic/orders.eu.fr", "qty": "2", "receipt": "r"}, "fr")
    publisher.expect_receipt("r")
    got = sorted((m.headers["subscription"], m.headers["destination"], m.body) for m in recorder.wait_messages(5))
    assert got == [
        ("amq", "/topic/orders.eu", "eu"), ("amq", "/topic/orders.eu.fr", "fr"),
        ("deep", "/topic/orders", "root"), ("deep", "/topic/orders.eu.fr", "fr"),
        ("one", "/topic/orders.eu", "eu"),
    ]
    connection.unsubscribe("one")
    connection.unsubscribe("deep")
    connection.unsubscribe("amq", headers={"receipt": "u"})
    recorder.wait_for(lambda: "u" in recorder.receipts)
    publisher.send_frame("SEND", {"destination": "/topic/orders.eu", "receipt": "r2"}, "after")
    publisher.expect_receipt("r2")
    sender = raw_client(broker)
    sender.connect()
    sender.send_frame("SEND", {"destination": "/topic/orders.*"}, "no")
    error = sender.expect_error()
    assert "wildcard pattern" in error.headers[b"message"].decode()
    assert len(recorder.messages) == 5
