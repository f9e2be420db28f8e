"""Queue priorities (the ``priority`` header, 0-9, default 4) and browsing (SUBSCRIBE ``browser:true``),
in process with InMemoryBroker: the order of deliveries, redelivery to the head of a priority, the
switch from one deque to per-priority deques, expiry, max_messages, filters, dead letters and the
max_memory count with priorities; browse snapshots, their end marker, flow control and ACKs; then
both over real sockets, with raw frames and with stomp.py."""

from __future__ import annotations

import importlib.util
import time
from collections import deque

import pytest

from xtomp_testing import FakeClient, InMemoryBroker, RawClient
from xtomp_queues.priority import Levels, priority_of

CONFIG = '[plugins.queues]\n[destinations."/queue/*"]\ntype = "queue"\nmax_messages = 1000\n'
FILTERS = "[plugins.filters]\n"
HAS_FILTERS = importlib.util.find_spec("xtomp_filters") is not None


@pytest.fixture
def memory():
    with InMemoryBroker(CONFIG) as broker:
        yield broker


def send(client: FakeClient, destination: str, body: str, priority: str | None = None, **headers: str) -> None:
    if priority is not None:
        headers["priority"] = priority
    client.send("SEND", {"destination": destination, **headers}, body)


def messages(client: FakeClient) -> list:
    frames = client.frames()
    assert all(frame.command == b"MESSAGE" for frame in frames), frames
    return frames


def bodies(frames) -> list[bytes]:
    return [frame.body for frame in frames]


def check_bytes(memory: InMemoryBroker, queue) -> None:
    assert queue.ready_bytes == sum(len(held.message.body) for held in queue.ready)
    assert memory.context.memory.held == queue.ready_bytes


# -- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"), [(b"0", 0), (b"4", 4), (b"9", 9), (b"07", 7), (b"000", 0), (b"10", 9), (b"255", 9)]
)
def test_priority_values_and_numbers_above_9_count_as_9(value, level):
    assert priority_of(value) == level


@pytest.mark.parametrize("value", ["", "-1", "high", "4.5", " 4", "\u0665"])
def test_a_bad_priority_is_refused_naming_the_header_and_the_range(memory, value):
    producer = memory.client()
    send(producer, "/queue/bad", "x", value, receipt="r")
    error = producer.frames()[0]
    assert error.command == b"ERROR"
    text = error.headers[b"message"].decode()
    assert "priority must be a whole number from 0 (lowest) to 9 (highest" in text, text
    queue = memory.broker.destinations[b"/queue/bad"]
    assert queue.depth == 0 and queue.enqueued == 0
    check_bytes(memory, queue)


# -- ordering ---------------------------------------------------------------------------------


def test_higher_priorities_go_first_and_fifo_within_a_priority(memory):
    producer = memory.client()
    sends = [("a", None), ("b", "1"), ("c", "9"), ("d", "4"), ("e", "9"), ("f", "1"), ("g", "7"), ("h", None)]
    for body, priority in sends:
        send(producer, "/queue/p", body, priority)
    queue = memory.broker.destinations[b"/queue/p"]
    assert type(queue.ready) is Levels and queue.depth == 8
    check_bytes(memory, queue)
    consumer = memory.client()
    consumer.subscribe("/queue/p")
    assert bodies(messages(consumer)) == [b"c", b"e", b"g", b"a", b"d", b"h", b"b", b"f"]
    assert queue.depth == 0
    check_bytes(memory, queue)
    # the priority header reaches the consumer as sent
    send(producer, "/queue/p", "i", "8")
    assert messages(consumer)[0].headers[b"priority"] == b"8"


def test_a_queue_without_priorities_keeps_one_deque(memory):
    producer = memory.client()
    for index in range(3):
        send(producer, "/queue/plain", f"m{index}")
    send(producer, "/queue/plain", "default", "4")  # the default priority changes nothing
    send(producer, "/queue/plain", "default too", "04")
    queue = memory.broker.destinations[b"/queue/plain"]
    assert type(queue.ready) is deque and queue.depth == 5
    send(producer, "/queue/plain", "urgent", "5")  # the first other priority switches it, in order
    assert type(queue.ready) is Levels and queue.depth == 6
    consumer = memory.client()
    consumer.subscribe("/queue/plain")
    assert bodies(messages(consumer)) == [b"urgent", b"m0", b"m1", b"m2", b"default", b"default too"]


def test_a_nacked_message_goes_back_to_the_head_of_its_own_priority(memory):
    consumer = memory.client()
    consumer.subscribe("/queue/n", ack="client-individual", prefetch_count="2")
    producer = memory.client()
    send(producer, "/queue/n", "low", "2")
    send(producer, "/queue/n", "mid", "5")
    first = messages(consumer)
    assert bodies(first) == [b"low", b"mid"]  # nothing waited: each went at once
    for body, priority in [("hi", "8"), ("mid2", "5"), ("low2", "2")]:
        send(producer, "/queue/n", body, priority)
    # NACK both: each goes back to the head of its priority, before what waits there
    consumer.send("NACK", {"id": first[0].headers[b"ack"].decode()})
    consumer.send("NACK", {"id": first[1].headers[b"ack"].decode()})
    got = messages(consumer)
    # after the first NACK there was room for one: "hi" (priority 8 beats the returned "low")
    assert bodies(got) == [b"hi", b"mid"]
    assert got[1].headers[b"redelivered"] == b"true" and got[1].headers[b"x-delivery-count"] == b"1"
    queue = memory.broker.destinations[b"/queue/n"]
    assert [held.message.body for held in queue.ready] == [b"mid2", b"low", b"low2"]
    check_bytes(memory, queue)
    for frame in got:
        consumer.send("ACK", {"id": frame.headers[b"ack"].decode()})
    got = messages(consumer)
    assert bodies(got) == [b"mid2", b"low"]
    assert got[1].headers[b"redelivered"] == b"true"


def test_a_departed_consumers_messages_return_to_their_priorities_in_order(memory):
    worker = memory.client()
    worker.subscribe("/queue/d", ack="client", prefetch_count="4")
    producer = memory.client()
    for body, priority in [("a", "3"), ("b", "6"), ("c", "3"), ("d", "6")]:
        send(producer, "/queue/d", body, priority)
    assert bodies(messages(worker)) == [b"a", b"b", b"c", b"d"]
    send(producer, "/queue/d", "e", "6")
    send(producer, "/queue/d", "f", "3")
    worker.disconnect()
    queue = memory.broker.destinations[b"/queue/d"]
    assert [held.message.body for held in queue.ready] == [b"b", b"d", b"e", b"a", b"c", b"f"]
    check_bytes(memory, queue)


def test_round_robin_and_prefetch_still_hold_with_priorities(memory):
    first, second = memory.client(), memory.client()
    first.subscribe("/queue/rr", id="1", ack="client-individual", prefetch_count="1")
    second.subscribe("/queue/rr", id="2", ack="client-individual", prefetch_count="1")
    producer = memory.client()
    for body, priority in [("x", "1"), ("y", "1"), ("z", "1"), ("hi", "9")]:
        send(producer, "/queue/rr", body, priority)
    a, b = messages(first), messages(second)
    assert bodies(a) == [b"x"] and bodies(b) == [b"y"]
    first.send("ACK", {"id": a[0].headers[b"ack"].decode()})
    assert bodies(messages(first)) == [b"hi"]  # "hi" overtakes the older "z"


def test_max_messages_and_the_transaction_room_count_every_priority():
    with InMemoryBroker(CONFIG.replace("1000", "3")) as memory:
        producer = memory.client()
        send(producer, "/queue/full", "a", "1")
        send(producer, "/queue/full", "b", "9")
        send(producer, "/queue/full", "c")
        queue = memory.broker.destinations[b"/queue/full"]
        assert queue.room(producer.session) == 0
        send(producer, "/queue/full", "d", "9", receipt="r")
        error = producer.frames()[0]
        assert error.command == b"ERROR" and b"max_messages (3)" in error.headers[b"message"]
        assert [held.message.body for held in queue.ready] == [b"b", b"c", b"a"]
        check_bytes(memory, queue)


def test_expiry_drops_waiting_messages_of_any_priority(memory):
    producer = memory.client()
    send(producer, "/queue/e", "keep-low", "1")
    send(producer, "/queue/e", "gone-hi", "9", expiration="1")
    send(producer, "/queue/e", "gone-default", None, expiration="1")
    send(producer, "/queue/e", "keep-hi", "9")
    queue = memory.broker.destinations[b"/queue/e"]
    time.sleep(0.01)
    queue._expire_due([held for held in queue.ready if held.expires])  # the timer's call (no loop here)
    assert [held.message.body for held in queue.ready] == [b"keep-hi", b"keep-low"]
    assert type(queue.ready) is Levels and queue.expired == 2
    check_bytes(memory, queue)
    send(producer, "/queue/e", "gone-again", "9", expiration="1")
    time.sleep(0.01)
    consumer = memory.client()
    consumer.subscribe("/queue/e")  # _drain skips what expired while waiting
    assert bodies(messages(consumer)) == [b"keep-hi", b"keep-low"]
    assert queue.expired == 3
    check_bytes(memory, queue)


def test_dead_letters_keep_their_priority():
    config = CONFIG + 'max_redeliveries = 0\ndead_letter = "/queue/DLQ"\n'
    with InMemoryBroker(config) as memory:
        consumer = memory.client()
        consumer.subscribe("/queue/w", ack="client-individual")
        producer = memory.client()
        send(producer, "/queue/w", "poison", "8")
        frame = messages(consumer)[0]
        consumer.send("NACK", {"id": frame.headers[b"ack"].decode()})
        dlq = memory.broker.destinations[b"/queue/DLQ"]
        assert [held.message.headers[b"priority"] for held in dlq.ready] == [b"8"]
        assert type(dlq.ready) is Levels


def test_close_drops_every_priority_and_releases_the_bytes(memory):
    producer = memory.client()
    for index, priority in enumerate(["1", "9", None, "5"]):
        send(producer, "/queue/c", f"m{index}", priority)
    queue = memory.broker.destinations[b"/queue/c"]
    assert memory.context.memory.held == 8
    queue.close()
    assert queue.depth == 0 and queue.dropped == 4 and queue.ready_bytes == 0
    assert memory.context.memory.held == 0


@pytest.mark.skipif(not HAS_FILTERS, reason="the filters plugin (xtomp-filters) is not installed")
def test_a_filtered_consumer_gets_the_highest_priority_message_it_matches():
    with InMemoryBroker(CONFIG + FILTERS) as memory:
        producer = memory.client()
        for body, priority, colour in [("r1", "1", "red"), ("b9", "9", "blue"), ("r7", "7", "red"),
                                       ("r7b", "7", "red"), ("b2", "2", "blue")]:
            send(producer, "/queue/f", body, priority, colour=colour)
        red = memory.client()
        red.subscribe("/queue/f", id="red", ack="client-individual", prefetch_count="1", filter="colour=red")
        got = messages(red)
        assert bodies(got) == [b"r7"]
        blue = memory.client()
        blue.subscribe("/queue/f", id="blue", filter="colour=blue")
        assert bodies(messages(blue)) == [b"b9", b"b2"]
        red.send("ACK", {"id": got[0].headers[b"ack"].decode()})
        got = messages(red)
        assert bodies(got) == [b"r7b"]
        queue = memory.broker.destinations[b"/queue/f"]
        assert [held.message.body for held in queue.ready] == [b"r1"]
        check_bytes(memory, queue)
        # a new message goes straight to a consumer with room that matches it, whatever waits
        other = memory.client()
        other.subscribe("/queue/f", id="green", filter="colour=green")
        send(producer, "/queue/f", "g0", "0", colour="green")
        assert bodies(messages(other)) == [b"g0"]


# -- browsing ---------------------------------------------------------------------------------


def test_a_browser_sees_what_waits_in_delivery_order_then_the_end_marker_and_nothing_more(memory):
    producer = memory.client()
    for body, priority in [("a", None), ("b", "9"), ("c", "1"), ("d", None)]:
        send(producer, "/queue/b", body, priority)
    browser = memory.client()
    browser.send("SUBSCRIBE", {"destination": "/queue/b", "id": "look", "browser": "true", "receipt": "r"})
    frames = browser.frames()
    assert frames[0].command == b"RECEIPT"
    shown = frames[1:]
    assert bodies(shown) == [b"b", b"a", b"d", b"c", b""]
    end = shown[-1]
    assert end.headers[b"browser"] == b"end" and end.headers[b"subscription"] == b"look"
    assert end.headers[b"destination"] == b"/queue/b" and end.headers[b"content-length"] == b"0"
    assert b"ack" not in end.headers
    assert all(frame.headers[b"subscription"] == b"look" for frame in shown)
    assert shown[0].headers[b"priority"] == b"9" and shown[0].headers[b"redelivered"] == b"false"
    assert b"redelivered" not in end.headers
    queue = memory.broker.destinations[b"/queue/b"]
    assert queue.depth == 4 and queue.browsed == 4 and queue.delivered == 0  # nothing consumed
    assert queue.stats()["consumers"] == 0 and queue.stats()["sz"] == 1
    send(producer, "/queue/b", "later")
    assert browser.frames() == []  # a browse is a snapshot
    consumer = memory.client()
    consumer.subscribe("/queue/b")
    assert bodies(messages(consumer)) == [b"b", b"a", b"d", b"later", b"c"]
    assert browser.frames() == []
    browser.send("UNSUBSCRIBE", {"id": "look", "receipt": "u"})
    assert browser.frames()[0].command == b"RECEIPT"


def test_browsing_an_empty_queue_gives_the_end_marker_alone(memory):
    browser = memory.client()
    browser.subscribe("/queue/empty", id="look", browser="true")
    assert [(frame.body, frame.headers[b"browser"]) for frame in messages(browser)] == [(b"", b"end")]


def test_a_browser_is_not_a_consumer_and_takes_nothing(memory):
    browser = memory.client()
    browser.subscribe("/queue/nb", id="look", browser="TRUE")  # booleans: any case
    assert bodies(messages(browser)) == [b""]
    producer = memory.client()
    send(producer, "/queue/nb", "kept")
    assert browser.frames() == []
    queue = memory.broker.destinations[b"/queue/nb"]
    assert queue.depth == 1
    check_bytes(memory, queue)


def test_a_client_ack_browser_has_ack_headers_and_its_acks_and_nacks_are_ignored(memory):
    producer = memory.client()
    send(producer, "/queue/ca", "one")
    send(producer, "/queue/ca", "two")
    browser = memory.client()
    browser.subscribe("/queue/ca", id="look", ack="client-individual", browser="true")
    shown = messages(browser)
    assert bodies(shown) == [b"one", b"two", b""]
    assert all(frame.headers[b"ack"].startswith(b"look.") for frame in shown)
    browser.send("ACK", {"id": shown[0].headers[b"ack"].decode(), "receipt": "a"})
    browser.send("NACK", {"id": shown[1].headers[b"ack"].decode(), "receipt": "n"})
    browser.send("ACK", {"id": shown[2].headers[b"ack"].decode(), "receipt": "e"})
    assert [frame.command for frame in browser.frames()] == [b"RECEIPT"] * 3
    queue = memory.broker.destinations[b"/queue/ca"]
    assert (queue.depth, queue.acked, queue.nacked, queue.in_flight) == (2, 0, 0, 0)


def test_a_browser_shows_redelivery_headers_of_waiting_redeliveries(memory):
    consumer = memory.client()
    consumer.subscribe("/queue/rd", ack="client-individual")
    producer = memory.client()
    send(producer, "/queue/rd", "again")
    frame = messages(consumer)[0]
    consumer.send("UNSUBSCRIBE", {"id": "0"})  # back to the queue, delivered once
    browser = memory.client()
    browser.subscribe("/queue/rd", id="look", browser="true")
    shown = messages(browser)
    assert shown[0].body == b"again" and shown[0].headers[b"redelivered"] == b"true"
    assert shown[0].headers[b"x-delivery-count"] == b"1"
    assert shown[0].headers[b"message-id"] == frame.headers[b"message-id"]
    queue = memory.broker.destinations[b"/queue/rd"]
    assert queue.redelivered == 0 and queue.ready[0].deliveries == 1  # a copy is not a delivery


def test_a_slow_browser_gets_the_rest_when_it_drains_skipping_what_was_taken(memory):
    producer = memory.client()
    for index in range(5):
        send(producer, "/queue/slow", f"m{index}")
    browser = memory.client()
    browser.link.paused = True  # over write_buffer_high from the start
    browser.subscribe("/queue/slow", id="look", browser="true")
    assert browser.frames() == []
    consumer = memory.client()
    consumer.subscribe("/queue/slow", ack="client-individual", prefetch_count="2")
    assert bodies(messages(consumer)) == [b"m0", b"m1"]  # taken before the browser saw them
    browser.drained()
    assert bodies(messages(browser)) == [b"m2", b"m3", b"m4", b""]
    browser.drained()
    assert browser.frames() == []


@pytest.mark.skipif(not HAS_FILTERS, reason="the filters plugin (xtomp-filters) is not installed")
def test_a_browser_with_a_filter_sees_only_what_it_matches():
    with InMemoryBroker(CONFIG + FILTERS) as memory:
        producer = memory.client()
        for body, colour in [("r1", "red"), ("b1", "blue"), ("r2", "red")]:
            send(producer, "/queue/bf", body, colour=colour)
        browser = memory.client()
        browser.subscribe("/queue/bf", id="look", browser="true", selector="colour = 'red'")
        assert bodies(messages(browser)) == [b"r1", b"r2", b""]


def test_a_browser_of_another_connections_temporary_queue_is_refused(memory):
    owner = memory.client()
    owner.send("SEND", {"destination": "/queue/rpc", "reply-to": "/temp-queue/mine"}, "q")
    temporary = next(name for name in memory.broker.destinations if name.startswith(b"/reply-queue/"))
    spy = memory.client()
    spy.send("SUBSCRIBE", {"destination": temporary.decode(), "id": "s", "browser": "true"})
    error = spy.frames()[0]
    assert error.command == b"ERROR"


# -- over real sockets: raw frames and stomp.py ----------------------------------------------------


def sync(client: RawClient) -> None:
    """Every SEND before this one is enqueued (a RECEIPT comes after the frames before it)."""
    client.send_frame("SEND", {"destination": "/topic/sync", "receipt": "sync"}, "")
    client.expect_receipt("sync")


def test_raw_priorities_order_a_queue_and_a_bad_one_is_an_error(broker, raw_client):
    producer = raw_client(broker)
    producer.connect()
    for body, priority in [("low", "0"), ("plain", None), ("top", "9"), ("high", "7"), ("huge", "200")]:
        headers = {"destination": "/queue/wire"}
        if priority is not None:
            headers["priority"] = priority
        producer.send_frame("SEND", headers, body)
    sync(producer)
    consumer = raw_client(broker)
    consumer.connect()
    consumer.subscribe("/queue/wire", id="c", ack="client-individual", prefetch_count="1")
    got = []
    for _ in range(5):
        message = consumer.expect("MESSAGE")
        got.append((message.body, message.headers.get(b"priority")))
        consumer.send_frame("ACK", {"id": message.headers[b"ack"].decode()})
    assert got == [(b"top", b"9"), (b"huge", b"200"), (b"high", b"7"), (b"plain", None), (b"low", b"0")]
    producer.send_frame("SEND", {"destination": "/queue/wire", "priority": "urgent", "receipt": "bad"}, "x")
    error = producer.expect_error("priority must be a whole number from 0 (lowest) to 9 (highest")
    assert error.headers[b"receipt-id"] == b"bad"
    consumer.expect_nothing(0.1)


def test_raw_nack_returns_to_the_head_of_its_priority(broker, raw_client):
    consumer = raw_client(broker)
    consumer.connect()
    consumer.subscribe("/queue/wnack", id="c", ack="client-individual", prefetch_count="1")
    producer = raw_client(broker)
    producer.connect()
    for body, priority in [("first", "6"), ("second", "6"), ("lower", "2")]:
        producer.send_frame("SEND", {"destination": "/queue/wnack", "priority": priority}, body)
    sync(producer)
    first = consumer.expect("MESSAGE")
    assert first.body == b"first"
    consumer.send_frame("NACK", {"id": first.headers[b"ack"].decode()})
    again = consumer.expect("MESSAGE")
    assert again.body == b"first" and again.headers[b"redelivered"] == b"true"


def test_raw_browser_sees_the_queue_then_the_end_marker(broker, raw_client):
    producer = raw_client(broker)
    producer.connect()
    for body, priority in [("a", None), ("b", "8"), ("c", None)]:
        headers = {"destination": "/queue/wbrowse"}
        if priority is not None:
            headers["priority"] = priority
        producer.send_frame("SEND", headers, body)
    sync(producer)
    browser = raw_client(broker)
    browser.connect()
    browser.subscribe("/queue/wbrowse", id="look", browser="true")  # RECEIPT first
    shown = browser.messages(4)
    assert [frame.body for frame in shown] == [b"b", b"a", b"c", b""]
    assert shown[-1].headers[b"browser"] == b"end"
    assert {frame.headers[b"subscription"] for frame in shown} == {b"look"}
    producer.send_frame("SEND", {"destination": "/queue/wbrowse"}, "d")
    sync(producer)
    browser.expect_nothing(0.2)
    figures = next(d for d in broker.stats()["destinations"] if d["dest"] == "/queue/wbrowse")
    assert (figures["q"], figures["browsed"], figures["delivered"], figures["consumers"]) == (4, 3, 0, 0)
    consumer = raw_client(broker)
    consumer.connect()
    consumer.subscribe("/queue/wbrowse", id="take")
    assert [frame.body for frame in consumer.messages(4)] == [b"b", b"a", b"c", b"d"]
    browser.expect_nothing(0.1)
    browser.send_frame("UNSUBSCRIBE", {"id": "look", "receipt": "gone"})
    browser.expect_receipt("gone")


def test_stomp_py_priorities_and_browsing(broker, stomp_py):
    producer, seen = stomp_py(broker)
    producer.connect(wait=True)
    for index, priority in enumerate([1, 5, 9, 5, 0]):
        producer.send("/queue/py", f"m{index}", headers={"priority": str(priority)})
    producer.send("/queue/py", "no priority")
    producer.send("/topic/sync", "", receipt="sent")
    seen.wait_for(lambda: "sent" in seen.receipts)
    browser, shown = stomp_py(broker)
    browser.connect(wait=True)
    browser.subscribe("/queue/py", id="look", ack="client-individual", headers={"browser": "true"})
    shown.wait_for(lambda: any(m.headers.get("browser") == "end" for m in shown.messages))
    order = ["m2", "m1", "m3", "no priority", "m0", "m4"]
    assert [m.body for m in shown.messages] == [*order, ""]
    for message in shown.messages:
        browser.ack(message.headers["ack"])  # accepted and ignored: a browser takes nothing
    browser.send("/topic/sync", "", receipt="acked")
    shown.wait_for(lambda: "acked" in shown.receipts)
    assert not shown.errors
    consumer, got = stomp_py(broker)
    consumer.connect(wait=True)
    consumer.subscribe("/queue/py", id="take", ack="client-individual", headers={"prefetch-count": "1"})
    for count in range(1, 7):
        message = got.wait_messages(count)[-1]
        consumer.ack(message.headers["ack"])
    assert [m.body for m in got.messages] == order
    assert got.messages[0].headers["priority"] == "9"
    producer.send("/queue/py", "bad", headers={"priority": "-1"})
    seen.wait_for(lambda: bool(seen.errors))
    assert "priority must be a whole number" in seen.errors[0].headers["message"]
