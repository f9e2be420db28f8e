"""A RECEIPT means the cluster has it (queue SEND: Redis stored the entry; topic SUBSCRIBE: Redis
confirmed the channel), and when_full = "pause" holds a producer: real nodes, real redis-server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from xtomp_cluster.queue import FULL_POLL
from xtomp_testing import RedisServer, wait_until

CONFIG = """\
[plugins.queues]

[plugins.filters]

[destinations."/queue/*"]
type = "queue"
max_messages = 100000

[destinations."/queue/full"]
type = "queue"
max_messages = 5
when_full = "pause"

[plugins.cluster]
claim_after = "60s"
"""


@pytest.fixture
def nodes(cluster_nodes: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    return lambda count=2: cluster_nodes(count, CONFIG, connected=True)


def test_a_queue_send_gets_its_receipt_only_once_the_stream_holds_the_message(nodes: Any, rdb: Any) -> None:
    (a,) = nodes(1)
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/confirmed", "receipt": "first"}, "zero")
    producer.expect_receipt("first")
    rdb.execute_command("CLIENT", "PAUSE", 1000, "WRITE")  # XADD waits, XLEN answers
    producer.send(b"SEND\ndestination:/queue/confirmed\nreceipt:r\n\none\x00"
                  b"SEND\ndestination:/queue/confirmed\nreceipt:after\n\ntwo\x00")
    producer.expect_nothing(0.3)  # no RECEIPT while Redis has not stored it
    assert rdb.xlen("xtomp:queue:/queue/confirmed") == 1
    producer.expect_receipt("r", timeout=10)
    bodies = [fields[b"m"].rpartition(b"\n")[2] for _, fields in rdb.xrange("xtomp:queue:/queue/confirmed")]
    assert bodies[:2] == [b"zero", b"one"]
    producer.expect_receipt("after", timeout=10)


def test_a_commit_receipt_waits_until_redis_has_every_send_of_the_transaction(nodes: Any, rdb: Any) -> None:
    (a,) = nodes(1)
    producer = a.raw()
    producer.send_frame("BEGIN", {"transaction": "t"})
    for number in range(3):
        producer.send_frame("SEND", {"destination": "/queue/committed", "transaction": "t"}, f"m{number}")
    rdb.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
    producer.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
    producer.expect_nothing(0.3)
    producer.expect_receipt("c", timeout=10)
    assert rdb.xlen("xtomp:queue:/queue/committed") == 3


def test_redis_lost_before_it_confirmed_a_send_is_an_error_not_a_receipt(
    nodes: Any, rdb: Any, redis_server: RedisServer
) -> None:
    (a,) = nodes(1)
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/lost", "receipt": "ok"}, "fits")
    producer.expect_receipt("ok")
    rdb.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
    producer.send_frame("SEND", {"destination": "/queue/lost", "receipt": "lost"}, "unconfirmed")
    producer.expect_nothing(0.2)
    redis_server.stop()
    error = producer.expect_error("the connection to the cluster's Redis broke before it confirmed the message")
    assert error.headers[b"receipt-id"] == b"lost"


def test_a_send_redis_refuses_gets_an_error_not_a_receipt(nodes: Any, rdb: Any) -> None:
    (a,) = nodes(1)
    producer = a.raw()
    producer.send_frame("SEND", {"destination": "/queue/refused", "receipt": "ok"}, "fits")
    producer.expect_receipt("ok")
    rdb.config_set("maxmemory-policy", "noeviction")
    rdb.config_set("maxmemory", 1)  # every XADD now gets Redis's OOM error
    producer.send_frame("SEND", {"destination": "/queue/refused", "receipt": "no"}, "refused")
    error = producer.expect_error("cluster refused - /queue/refused: Redis refused the message: OOM")
    assert error.headers[b"receipt-id"] == b"no"


def test_a_topic_subscribe_receipt_waits_for_redis_so_the_next_publish_on_another_node_arrives(
    nodes: Any, rdb: Any, redis_server: RedisServer
) -> None:
    a, b = nodes(2)
    publisher = a.raw()
    subscriber = b.raw()
    for name, send_to in (("/topic/fresh", "/topic/fresh"), ("/topic/words.*", "/topic/words.new")):
        rdb.execute_command("CLIENT", "PAUSE", 1000, "ALL")  # node b's SUBSCRIBE waits in Redis
        subscriber.send_frame("SUBSCRIBE", {"destination": name, "id": name, "receipt": name})
        subscriber.expect_nothing(0.3)
        subscriber.expect_receipt(name, timeout=10)
        publisher.send_frame("SEND", {"destination": send_to}, f"right after {name}")
        assert subscriber.expect("MESSAGE", timeout=10).body == f"right after {name}".encode()
    # A channel node b already listens to: the RECEIPT comes at once.
    subscriber.send_frame("SUBSCRIBE", {"destination": "/topic/fresh", "id": "again", "receipt": "again"})
    subscriber.expect_receipt("again")
    assert redis_server.subscribers("xtomp:t:/topic/fresh") == 1


def test_when_full_pause_holds_a_producer_until_a_consumer_on_another_node_drains(nodes: Any, rdb: Any) -> None:
    a, b = nodes(2)
    producer = a.raw()
    for number in range(20):
        producer.send_frame("SEND", {"destination": "/queue/full"}, f"m{number}")
    producer.send_frame("SEND", {"destination": "/queue/full", "receipt": "last"}, "m20")
    # Five fit, the sixth is accepted and holds the producer: no ERROR, nothing lost.
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/full") == 6, what="a full queue (one over)")
    producer.expect_nothing(0.3)
    assert rdb.xlen("xtomp:queue:/queue/full") == 6
    consumer = b.raw()
    consumer.subscribe("/queue/full", id="c", ack="client-individual", prefetch_count="2")
    bodies = []
    while len(bodies) < 21:
        frame = consumer.expect("MESSAGE", timeout=10)
        bodies.append(frame.body.decode())
        consumer.send_frame("ACK", {"id": frame.headers[b"ack"].decode()})
    producer.expect_receipt("last", timeout=10)
    assert bodies == [f"m{number}" for number in range(21)]  # each once, in order
    consumer.expect_nothing(0.2)
    wait_until(lambda: rdb.xlen("xtomp:queue:/queue/full") == 0, what="everything acknowledged")
    assert "q flup" not in a.log()
    # Nobody is held any more: the length is no longer polled (no timer at idle).
    wait_until(lambda: _no_xlen_for(rdb, 3 * FULL_POLL), what="no XLEN once the producer was released")


def _no_xlen_for(rdb: Any, interval: float) -> bool:
    def calls() -> int:
        return int(rdb.info("commandstats").get("cmdstat_xlen", {}).get("calls", 0))

    before = calls()
    time.sleep(interval)  # an interval to count in, not a synchronisation
    return calls() == before


def test_a_clustered_queue_refuses_selectors_and_browsing_saying_why(nodes: Any) -> None:
    (a,) = nodes(1)
    client = a.raw()
    client.send_frame("SUBSCRIBE", {"destination": "/queue/plain", "id": "s", "selector": "x = 1"})
    client.expect_error("clustered queue: selectors and filters are not supported on it")
    client = a.raw()
    client.send_frame("SUBSCRIBE", {"destination": "/queue/plain", "id": "s", "browser": "true"})
    client.expect_error("clustered queue: browsing (browser:true) is not supported on it")


def test_with_redis_down_a_topic_subscribe_gets_its_receipt_at_once_local_only(
    nodes: Any, redis_server: RedisServer
) -> None:
    (a,) = nodes(1)
    redis_server.stop()
    wait_until(lambda: a.cluster()["up"] == 0, what="node a sees Redis down")
    subscriber = a.raw()
    subscriber.send_frame("SUBSCRIBE", {"destination": "/topic/offline", "id": "s", "receipt": "s"})
    subscriber.expect_receipt("s")
    publisher = a.raw()
    publisher.send_frame("SEND", {"destination": "/topic/offline"}, "local")
    assert subscriber.expect("MESSAGE").body == b"local"
