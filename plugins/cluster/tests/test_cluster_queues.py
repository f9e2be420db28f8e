"""Clustered queues: two real broker processes on one real redis-server, real clients (stomp.py, raw STOMP)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from xtomp_testing import RawClient, RedisServer, stomp_py_connection, wait_until



#: What a node of these tests adds to the cluster fixture's configuration.
QUEUES = """\
[plugins.queues]

[destinations."/queue/*"]
type = "queue"
max_messages = 100000
max_redeliveries = 2

[plugins.cluster]
"""


@pytest.fixture
def nodes(cluster_nodes: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """``nodes(n)``: n cluster nodes with clustered ``/queue/*`` (claim_after 1 s, max_redeliveries 2),
    each connected to Redis (until then a queue SEND gets an ERROR); ``extra`` is more keys of
    ``[plugins.cluster]``."""

    def start(count: int = 2, extra: str = "", claim_after: str = "1s") -> list[Any]:
        return cluster_nodes(count, QUEUES + f'claim_after = "{claim_after}"\n' + extra, connected=True)

    return start


def _ack(client: RawClient, frame: Any) -> None:
    client.send_frame("ACK", {"id": frame.headers[b"ack"].decode()})


def test_a_message_sent_on_one_node_is_consumed_on_the_other_and_deleted_from_redis_when_acked(
    nodes: Any, rdb: Any
) -> None:
    # No claim sweep in this test's time (a sweep would hide a message left undelivered).
    a, b = nodes(2, claim_after="60s")
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/work", "receipt": "r", "x-custom": "a:b"}, "hello")
    producer.expect_receipt("r")
    # Nobody consumes yet: it waits in Redis, not on a node (the lag is what no node has read).
    wait_until(lambda: a.cluster()["queues"]["lag"] == 1, what="a lag of one message")
    consumer = b.raw()
    consumer.subscribe("/queue/work", id="c", ack="client-individual")
    frame = consumer.expect("MESSAGE")
    assert (frame.body, frame.headers[b"redelivered"], frame.headers[b"x-custom"]) == (b"hello", b"false", b"a:b")
    assert rdb.xpending("xtomp:queue:/queue/work", "xtomp")["consumers"] == [{"name": b"b", "pending": 1}]
    wait_until(lambda: a.cluster()["queues"]["lag"] == 0, what="no lag once node b read it")
    _ack(consumer, frame)
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/work") == 0, what="the ACKed message deleted")
    assert rdb.xpending("xtomp:queue:/queue/work", "xtomp")["pending"] == 0


def test_a_cumulative_ack_in_client_mode_settles_every_earlier_delivery(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    consumer = b.raw()
    consumer.subscribe("/queue/cumulative", id="c", ack="client", prefetch_count="10")
    producer = a.raw()
    for number in range(3):
        producer.send_frame("SEND", {"destination": "/queue/cumulative", "receipt": f"r{number}"}, f"{number}")
        producer.expect_receipt(f"r{number}")
    frames = consumer.messages(3)
    assert rdb.xpending("xtomp:queue:/queue/cumulative", "xtomp")["pending"] == 3
    consumer.send_frame("ACK", {"id": frames[-1].headers[b"ack"].decode(), "receipt": "acked"})
    consumer.expect_receipt("acked")
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/cumulative") == 0, what="all three deleted by one ACK")
    assert rdb.xpending("xtomp:queue:/queue/cumulative", "xtomp")["pending"] == 0


class Acker:
    """A stomp.py listener that ACKs every message (client-individual) and remembers the bodies."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.bodies: list[str] = []
        self.redelivered = 0
        self.lock = threading.Lock()

    def on_message(self, frame: Any) -> None:
        with self.lock:
            self.bodies.append(frame.body)
            if frame.headers.get("redelivered") == "true":
                self.redelivered += 1
        self.connection.ack(frame.headers["ack"])


def test_ten_thousand_messages_to_four_consumers_on_two_nodes_each_exactly_once(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    ackers = []
    for node in (a, a, b, b):
        connection, _ = stomp_py_connection("127.0.0.1", node.port, "1.2")
        acker = Acker(connection)
        connection.set_listener("acker", acker)
        connection.connect(wait=True)
        connection.subscribe("/queue/many", id="s", ack="client-individual", headers={"prefetch-count": "50",
                                                                                         "receipt": "sub"})
        ackers.append(acker)
    wait_until(lambda: all(acker.connection.is_connected() for acker in ackers), what="consumers connected")
    producer = a.raw()
    count = 10_000
    producer.send(b"".join(
        b"SEND\ndestination:/queue/many\n\n%d\x00" % number for number in range(count - 1)
    ) + b"SEND\ndestination:/queue/many\nreceipt:last\n\n%d\x00" % (count - 1))
    producer.expect_receipt("last", timeout=30)
    wait_until(lambda: sum(len(acker.bodies) for acker in ackers) >= count, timeout=60, what="10,000 deliveries")
    bodies = [body for acker in ackers for body in acker.bodies]
    assert sorted(map(int, bodies)) == list(range(count))  # each exactly once
    assert sum(acker.redelivered for acker in ackers) == 0
    assert all(acker.bodies for acker in ackers), [len(acker.bodies) for acker in ackers]
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/many") == 0, what="every ACKed message deleted")
    for acker in ackers:
        acker.connection.disconnect()


def test_kill_9_of_a_node_holding_unacked_messages_redelivers_them_on_the_other(nodes: Any) -> None:
    a, b = nodes(2)
    holder = a.raw()
    holder.subscribe("/queue/held", id="h", ack="client-individual", prefetch_count="10")
    producer = b.raw()
    for number in range(5):
        producer.send_frame("SEND", {"destination": "/queue/held"}, f"m{number}")
    producer.send_frame("SEND", {"destination": "/queue/held", "receipt": "sent"}, "m5")
    producer.expect_receipt("sent")
    held = holder.messages(6)
    assert [frame.body for frame in held] == [b"m%d" % number for number in range(6)]
    survivor = b.raw()
    survivor.subscribe("/queue/held", id="s", ack="client-individual")
    # A live node keeps its unacked messages however long its consumer holds them: node a
    # refreshes them every claim_after / 3, so node b's sweeps (every claim_after / 2) never
    # find them idle for claim_after (1 s here).
    survivor.expect_nothing(2.5)
    os.kill(a.process.pid, signal.SIGKILL)
    frames = survivor.messages(6, timeout=20)
    assert sorted(frame.body for frame in frames) == [b"m%d" % number for number in range(6)]
    assert {frame.headers[b"redelivered"] for frame in frames} == {b"true"}
    assert all(int(frame.headers[b"x-delivery-count"]) >= 1 for frame in frames)
    for frame in frames:
        _ack(survivor, frame)
    survivor.send_frame("DISCONNECT", {"receipt": "bye"})
    survivor.expect_receipt("bye")
    figures = b.cluster()["queues"]
    assert figures["claimed_total"] == 6 and figures["redelivered_total"] == 6 and figures["pending"] == 0
    assert "xtomp_cluster_queues_claimed_total 6" in b.metrics()


def test_a_node_stopped_gracefully_hands_its_unacked_messages_back_at_once(nodes: Any) -> None:
    # claim_after = 60 s: what the other node gets here was handed back, not claimed.
    a, b = nodes(2, claim_after="60s")
    holder = a.raw()
    holder.subscribe("/queue/handed", id="h", ack="client-individual", prefetch_count="3")
    producer = b.raw()
    for number in range(5):
        producer.send_frame("SEND", {"destination": "/queue/handed", "receipt": f"r{number}"}, f"m{number}")
        producer.expect_receipt(f"r{number}")
    assert [frame.body for frame in holder.messages(3)] == [b"m0", b"m1", b"m2"]  # m3, m4 wait in Redis
    a.process.stop()  # SIGTERM: a graceful stop
    survivor = b.raw()
    survivor.subscribe("/queue/handed", id="s", ack="client-individual")
    frames = survivor.messages(5, timeout=10)
    assert sorted(frame.body for frame in frames) == [b"m%d" % number for number in range(5)]
    assert {frame.body for frame in frames if frame.headers[b"redelivered"] == b"true"} == {b"m0", b"m1", b"m2"}


def test_nack_redelivers_on_another_node_then_dead_letters_after_max_redeliveries(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    first = a.raw()
    first.subscribe("/queue/nacked", id="f", ack="client-individual", prefetch_count="1")
    producer = b.raw()
    producer.send_frame("SEND", {"destination": "/queue/nacked", "receipt": "r"}, "poison")
    producer.expect_receipt("r")
    frame = first.expect("MESSAGE")
    assert frame.headers[b"redelivered"] == b"false"
    other = b.raw()
    other.subscribe("/queue/nacked", id="o", ack="client-individual", prefetch_count="1")
    # NACK and UNSUBSCRIBE in one write: node a has nobody left to take it back.
    first.send(
        b"NACK\nid:%s\n\n\x00UNSUBSCRIBE\nid:f\nreceipt:gone\n\n\x00" % frame.headers[b"ack"]
    )
    first.expect_receipt("gone")
    again = other.expect("MESSAGE")
    assert (again.body, again.headers[b"redelivered"], again.headers[b"x-delivery-count"]) == (b"poison", b"true", b"1")
    other.send_frame("NACK", {"id": again.headers[b"ack"].decode()})
    third = other.expect("MESSAGE")
    assert third.headers[b"x-delivery-count"] == b"2"
    other.send_frame("NACK", {"id": third.headers[b"ack"].decode()})  # a third delivery is over max_redeliveries
    wait_until(lambda: rdb.xlen("xtomp:dead:/queue/nacked") == 1, what="the dead-letter stream holds it")
    ((_, fields),) = rdb.xrange("xtomp:dead:/queue/nacked")
    assert fields[b"reason"] == b"rejected" and fields[b"m"] == b"\npoison" and fields[b"n"] == b"3"
    assert rdb.xlen("xtomp:queue:/queue/nacked") == 0
    other.expect_nothing(0.2)
    assert b.cluster()["queues"]["dead_lettered_total"] == 1


def test_an_expired_message_is_dead_lettered_when_read_not_delivered(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/expiring", "expires": "1000"}, "long gone")  # 1970
    producer.send_frame("SEND", {"destination": "/queue/expiring", "expiration": "600000"}, "fresh")
    producer.send_frame("SEND", {"destination": "/queue/expiring", "receipt": "r", "expiration": "soon"}, "bad")
    producer.expect_error("expiration must be a whole number of milliseconds")
    consumer = b.raw()
    consumer.subscribe("/queue/expiring", id="c", ack="client-individual")
    frame = consumer.expect("MESSAGE")
    assert frame.body == b"fresh" and frame.headers[b"expiration"] == b"600000"
    consumer.expect_nothing(0.2)
    ((_, fields),) = rdb.xrange("xtomp:dead:/queue/expiring")
    assert (fields[b"reason"], fields[b"m"].rsplit(b"\n", 1)[-1], fields[b"n"]) == (b"expired", b"long gone", b"0")
    # A NACKed message keeps its deadline in the copy that goes back.
    consumer.send_frame("NACK", {"id": frame.headers[b"ack"].decode()})
    again = consumer.expect("MESSAGE")
    assert (again.body, again.headers[b"redelivered"]) == (b"fresh", b"true")
    entry = rdb.xpending_range("xtomp:queue:/queue/expiring", "xtomp", "-", "+", 10)[0]["message_id"]
    assert b"e" in rdb.xrange("xtomp:queue:/queue/expiring", entry, entry)[0][1]
    assert b.cluster()["queues"]["dead_lettered_total"] == 1


def test_a_reply_sent_on_node_b_reaches_the_temporary_queue_of_a_client_on_node_a(nodes: Any) -> None:
    a, b = nodes(2)
    service = b.raw()
    service.subscribe("/queue/requests", id="svc")
    requester = a.raw()
    requester.send_frame("SEND", {"destination": "/queue/requests", "reply-to": "/temp-queue/answers"}, "ping")
    request = service.expect("MESSAGE")
    reply_to = request.headers[b"reply-to"].decode()
    assert reply_to.startswith("/reply-queue/a.")
    service.send_frame("SEND", {"destination": reply_to, "receipt": "replied"}, "pong")
    service.expect_receipt("replied")
    reply = requester.expect("MESSAGE")
    assert (reply.body, reply.headers[b"subscription"]) == (b"pong", b"/temp-queue/answers")
    # Only the owner consumes it; after it left, replies are dropped, not errors.
    service.send_frame("SUBSCRIBE", {"destination": reply_to, "id": "steal"})
    service.expect_error("temporary queue of another connection")
    requester.send_frame("DISCONNECT", {"receipt": "bye"})
    requester.expect_receipt("bye")
    late = b.raw()
    late.send_frame("SEND", {"destination": reply_to, "receipt": "late"}, "too late")
    late.expect_receipt("late")


def _send_fails(node: Any) -> bool:
    client = node.raw()
    try:
        client.send_frame("SEND", {"destination": "/queue/outage", "receipt": "r"}, "during")
        frame = client.recv()
        return frame.command == b"ERROR" and b"Redis is unreachable" in frame.headers[b"message"]
    finally:
        client.close()


def test_redis_stopped_queue_sends_get_an_error_and_consumers_resume_when_it_is_back(
    nodes: Any, redis_server: RedisServer
) -> None:
    a, b = nodes(2)
    consumer = b.raw()
    consumer.subscribe("/queue/outage", id="c")
    redis_server.stop()
    wait_until(lambda: _send_fails(a), what="a queue SEND refused while Redis is down")
    redis_server.start()

    def sent() -> bool:
        producer = a.raw()
        producer.send_frame("SEND", {"destination": "/queue/outage", "receipt": "back"}, "after")
        frame = producer.recv()
        producer.close()
        return frame.command == b"RECEIPT"

    wait_until(sent, what="a SEND accepted again")
    # A SEND the node took before it noticed the outage got its RECEIPT: it was kept and is
    # appended once Redis is back (at least once), so it may come first.
    bodies = [consumer.expect("MESSAGE", timeout=10).body]
    if bodies[0] == b"during":
        bodies.append(consumer.expect("MESSAGE", timeout=10).body)
    assert bodies[-1] == b"after"


def test_with_when_unavailable_hold_a_send_waits_for_redis_instead_of_failing(
    nodes: Any, redis_server: RedisServer
) -> None:
    a, b = nodes(2, 'when_unavailable = "hold"\n')
    consumer = b.raw()
    consumer.subscribe("/queue/held-producer", id="c")
    producer = a.raw()
    redis_server.stop()
    wait_until(lambda: a.cluster()["up"] == 0, what="node a sees Redis down")
    producer.send(b"SEND\ndestination:/queue/held-producer\nreceipt:one\n\nfirst\x00"
                  b"SEND\ndestination:/queue/held-producer\nreceipt:two\n\nsecond\x00")
    # Kept by the node, but a RECEIPT means Redis has it: none while Redis is away, and the
    # producer's next frame waits.
    producer.expect_nothing(0.3)
    redis_server.start()
    producer.expect_receipt("one", timeout=10)
    producer.expect_receipt("two", timeout=10)
    assert [frame.body for frame in consumer.messages(2, timeout=10)] == [b"first", b"second"]


def test_a_queue_whose_stream_vanished_from_redis_is_recreated_and_consumed_again(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    consumer = b.raw()
    consumer.subscribe("/queue/flushed", id="c")
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/flushed", "receipt": "r1"}, "before")
    producer.expect_receipt("r1")
    assert consumer.expect("MESSAGE").body == b"before"
    rdb.flushall()  # what a Redis restarted without persistence looks like, without the outage

    def delivered() -> bool:
        producer.send_frame("SEND", {"destination": "/queue/flushed"}, "after")
        frames = [frame for frame in consumer.drain() if frame.command == b"MESSAGE"]
        return any(frame.body == b"after" for frame in frames)

    wait_until(delivered, what="a message sent after the stream vanished delivered")


def _reads(rdb: Any) -> dict[str, int]:
    stats = rdb.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0)
            for name in ("xreadgroup", "xautoclaim", "xpending", "xclaim", "xlen", "xadd")}


def test_nothing_is_read_from_redis_while_the_cluster_is_idle(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    consumers = [node.raw() for node in (a, b)]
    for consumer in consumers:
        consumer.subscribe("/queue/idle", id="c", ack="client-individual")
    producer = a.raw()
    for number in range(20):
        producer.send_frame("SEND", {"destination": "/queue/idle"}, f"{number}")
    producer.send_frame("SEND", {"destination": "/queue/idle", "receipt": "r"}, "last")
    producer.expect_receipt("r")
    received = 0
    while received < 21:
        for consumer in consumers:
            for frame in consumer.drain():
                if frame.command == b"MESSAGE":
                    _ack(consumer, frame)
                    received += 1
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/idle") == 0, what="everything acknowledged")
    # Let the last sweep (every claim_after / 2) see that nothing is pending, then count.
    wait_until(lambda: _quiet(rdb, 0.6), timeout=10, what="a quiet interval")
    before = _reads(rdb)
    time.sleep(1.5)  # a quiet interval longer than claim_after: no read, sweep or touch may happen
    assert _reads(rdb) == before


def _quiet(rdb: Any, interval: float) -> bool:
    before = _reads(rdb)
    time.sleep(interval)
    return _reads(rdb) == before
