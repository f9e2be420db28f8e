"""Clustered topics over real broker processes, a real redis-server and real clients (stomp.py)."""

from __future__ import annotations

import struct
from typing import Any

from xtomp_testing import RawClient, RedisServer, reserved_port, wait_until

CHANNEL = "xtomp:t:/topic/"
#: Waits bound a failing test only; a machine shared by several test runs can be slow.
SLOW = 30.0


def _bodies(heard: Any) -> list[str]:
    return [frame.body for frame in heard.messages]


def _listening(redis_server: RedisServer, topic: str, nodes: int) -> None:
    wait_until(lambda: redis_server.subscribers(CHANNEL + topic) == nodes, SLOW, what=f"{nodes} nodes on {topic}")


def test_a_send_reaches_every_node_once_in_order_and_nodes_listen_only_while_subscribed(
    cluster_nodes: Any, redis_server: RedisServer
):
    a, b = cluster_nodes(2)
    assert redis_server.subscribers(CHANNEL + "prices") == 0  # nobody subscribed yet
    on_a, heard_a = a.client()
    on_b, heard_b = b.client()
    on_a.subscribe("/topic/prices", id="1")
    on_b.subscribe("/topic/prices", id="1")
    _listening(redis_server, "prices", 2)
    publisher, _ = a.client()
    for number in range(200):
        publisher.send("/topic/prices", f"a{number}")
    other, _ = b.client()
    other.send("/topic/prices", "from b", receipt="done")
    expected = [f"a{number}" for number in range(200)] + ["from b"]
    heard_a.wait_for(lambda: len(heard_a.messages) >= 201, SLOW)
    heard_b.wait_for(lambda: len(heard_b.messages) >= 201, SLOW)
    # Exactly once (nothing more arrives after a last round trip), in order, on both nodes.
    publisher.send("/topic/prices", "last")
    heard_a.wait_for(lambda: _bodies(heard_a)[-1:] == ["last"], SLOW)
    heard_b.wait_for(lambda: _bodies(heard_b)[-1:] == ["last"], SLOW)
    for heard in (heard_a, heard_b):
        bodies = _bodies(heard)
        assert sorted(bodies) == sorted(expected + ["last"])  # each exactly once
        assert [body for body in bodies if body[0] == "a"] == expected[:200]  # one publisher's order kept
    # Node a skips each of its 201 echoes (the last may come back after its subscriber had it).
    figures = wait_until(
        lambda: (f := a.cluster())["topics"]["echoes_skipped_total"] == 201 and f, SLOW, what="201 echoes"
    )
    assert figures["topics"]["published_total"] == 201
    assert figures["round_trips_total"] < 150  # SENDs of one loop pass share a pipeline
    assert b.cluster()["topics"]["received_total"] == 201
    # Cluster-wide figures: the nodes Redis sees (refreshed as statistics are taken).
    wait_until(lambda: a.cluster()["nodes"] == 2, SLOW, what="two nodes seen")
    assert a.cluster()["redis"]["pubsub_channels"] >= 1
    assert "xtomp_cluster_nodes 2" in a.metrics()
    # The last local subscriber leaves: the node stops listening to the channel.
    on_b.unsubscribe(id="1")
    _listening(redis_server, "prices", 1)


def test_headers_needing_escapes_arrive_on_another_node_as_on_the_publisher_s(
    cluster_nodes: Any, redis_server: RedisServer
):
    """The MESSAGE encoding crosses Redis as it is (codec version 2) and the other node keeps it:
    its 1.0, 1.1 and 1.2 subscribers get exactly what the publisher's node gives its own."""
    a, b = cluster_nodes(2)
    subscribers: dict[tuple[str, str], Any] = {}
    for node_name, node in (("a", a), ("b", b)):
        for version in ("1.0", "1.1", "1.2"):
            client = RawClient("127.0.0.1", node.port, timeout=10)
            client.connect(version)
            client.subscribe("/topic/escapes", id="s")
            subscribers[node_name, version] = client
    _listening(redis_server, "escapes", 2)
    with a.raw() as publisher:
        headers = {"destination": "/topic/escapes", "at": "12:30", "path": "c:\\dir", "plain": "v", "receipt": "r"}
        publisher.send_frame("SEND", headers, b"body\x00with a NUL")
        publisher.expect_receipt("r")
    for version in ("1.0", "1.1", "1.2"):
        here, there = (subscribers[node_name, version].expect("MESSAGE") for node_name in ("a", "b"))
        assert here.body == there.body == b"body\x00with a NUL"
        for frame in (here, there):
            del frame.headers[b"message-id"]  # each node numbers its own
        assert here.headers == there.headers
        assert there.headers[b"at"] == b"12:30" and there.headers[b"path"] == b"c:\\dir"
    for client in subscribers.values():
        client.close()
    assert b.cluster()["topics"]["undecodable_total"] == 0


def test_what_is_not_a_message_is_counted_and_dropped_and_delivery_goes_on(
    cluster_nodes: Any, redis_server: RedisServer, rdb: Any
):
    """Someone else's PUBLISH on a topic's channel, or a version 2 head with a broken MESSAGE
    after it: each is dropped with a warning and counted; the next real message arrives."""
    (a,) = cluster_nodes(1)
    with a.raw() as subscriber:
        subscriber.subscribe("/topic/noise", id="s")
        _listening(redis_server, "noise", 1)
        broken = struct.pack(">BBQ", 2, 1, 7) + b"x" + struct.pack(">Qd", 1, 0.0) + b"k:v\ncontent-length:9\n\nshort\x00"
        for payload in (b"not an xtomp message", broken):
            rdb.publish(CHANNEL + "noise", payload)
        wait_until(lambda: a.cluster()["topics"]["undecodable_total"] == 2, SLOW, what="two undecodable")
        with a.raw() as publisher:
            publisher.send_frame("SEND", {"destination": "/topic/noise", "receipt": "r"}, b"real")
            publisher.expect_receipt("r")
        assert subscriber.expect("MESSAGE").body == b"real"
    assert "undecodable message" in a.log()


def test_filters_and_wildcards_are_applied_on_the_receiving_node(cluster_nodes: Any, redis_server: RedisServer):
    a, b = cluster_nodes(2, extra="[plugins.filters]\n")
    filtered, heard_filtered = b.client()
    filtered.subscribe("/topic/orders", id="red", headers={"selector": "colour = 'red'"})
    star, heard_star = b.client()
    star.subscribe("/topic/w.*", id="star")
    hash_, heard_hash = b.client()
    hash_.subscribe("/topic/w.#", id="hash")
    hash_.subscribe("/topic/w.x", id="exact")  # the channel and the glob both match: still once each
    _listening(redis_server, "orders", 1)
    _listening(redis_server, "w.x", 1)
    wait_until(lambda: redis_server.command("PUBSUB", "NUMPAT") == 1, SLOW, what="one glob for both patterns")
    publisher, _ = a.client()
    publisher.send("/topic/orders", "blue", headers={"colour": "blue"})
    publisher.send("/topic/orders", "red", headers={"colour": "red"})
    publisher.send("/topic/w.x", "w.x")
    publisher.send("/topic/w.x.y", "w.x.y")
    publisher.send("/topic/wx", "wx")  # matched by the glob, by no pattern
    publisher.send("/topic/w", "w")  # "#" matches zero words
    publisher.send("/topic/orders", "red again", headers={"colour": "red"})
    heard_filtered.wait_for(lambda: len(heard_filtered.messages) >= 2, SLOW)
    assert _bodies(heard_filtered) == ["red", "red again"]
    heard_hash.wait_for(lambda: len(heard_hash.messages) >= 4, SLOW)
    publisher.send("/topic/w.z", "end")
    heard_star.wait_for(lambda: _bodies(heard_star)[-1:] == ["end"], SLOW)
    heard_hash.wait_for(lambda: _bodies(heard_hash)[-1:] == ["end"], SLOW)
    assert _bodies(heard_star) == ["w.x", "end"]
    by_subscription = [(frame.headers["subscription"], frame.body) for frame in heard_hash.messages]
    assert sorted(by_subscription) == sorted(
        [("hash", "w.x"), ("exact", "w.x"), ("hash", "w.x.y"), ("hash", "w"), ("hash", "end")]
    )
    assert b.cluster()["topics"]["duplicates_skipped_total"] >= 1


def test_redis_outage_makes_topics_local_only_then_delivery_resumes(cluster_nodes: Any, redis_server: RedisServer):
    a, b = cluster_nodes(2)
    on_a, heard_a = a.client()
    on_b, heard_b = b.client()
    on_a.subscribe("/topic/t", id="1")
    on_b.subscribe("/topic/t", id="1")
    _listening(redis_server, "t", 2)
    publisher, _ = a.client()
    publisher.send("/topic/t", "before")
    heard_b.wait_for(lambda: _bodies(heard_b) == ["before"], SLOW)

    redis_server.stop()
    wait_until(lambda: a.cluster()["up"] == 0 and b.cluster()["up"] == 0, SLOW, what="both nodes see Redis down")
    publisher.send("/topic/t", "during")
    heard_a.wait_for(lambda: _bodies(heard_a) == ["before", "during"], SLOW)  # local subscribers still served
    assert a.cluster()["topics"]["published_local_only_total"] == 1
    assert "xtomp_cluster_up 0" in a.metrics()

    redis_server.start()
    _listening(redis_server, "t", 2)  # every channel subscribed again, no broker restarted
    wait_until(lambda: a.cluster()["up"] == 1, SLOW, what="node a up again")
    publisher.send("/topic/t", "after")
    heard_b.wait_for(lambda: _bodies(heard_b)[-1:] == ["after"], SLOW)
    assert _bodies(heard_b) == ["before", "after"]  # at most once across the outage
    assert a.log().count("lost Redis") == 1

    # A subscriber connection Redis cuts (CLIENT KILL TYPE pubsub, or its output buffer limit).
    assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub") == 2
    wait_until(lambda: b.cluster()["reconnects_total"] == 2, SLOW, what="node b reconnected")
    _listening(redis_server, "t", 2)
    publisher.send("/topic/t", "after the kill")
    heard_b.wait_for(lambda: _bodies(heard_b)[-1:] == ["after the kill"], SLOW)
    # Node a delivered it at once, but its client's receiver thread may not have read it yet.
    heard_a.wait_for(lambda: _bodies(heard_a)[-1:] == ["after the kill"], SLOW)
    assert _bodies(heard_a)[-2:] == ["after", "after the kill"]


def test_backplane_delivery_gives_every_node_the_same_order(cluster_nodes: Any, redis_server: RedisServer):
    a, b = cluster_nodes(2, extra='[plugins.cluster]\ntopic_delivery = "backplane"\n')
    on_a, heard_a = a.client()
    on_b, heard_b = b.client()
    on_a.subscribe("/topic/o", id="1")
    on_b.subscribe("/topic/o", id="1")
    _listening(redis_server, "o", 2)
    from_a, _ = a.client()
    from_b, _ = b.client()
    for number in range(100):
        from_a.send("/topic/o", f"a{number}")
        from_b.send("/topic/o", f"b{number}")
    heard_a.wait_for(lambda: len(heard_a.messages) >= 200, SLOW)
    heard_b.wait_for(lambda: len(heard_b.messages) >= 200, SLOW)
    assert _bodies(heard_a) == _bodies(heard_b)
    assert [body for body in _bodies(heard_a) if body[0] == "a"] == [f"a{number}" for number in range(100)]
    assert a.cluster()["topics"]["echoes_skipped_total"] == 0
    # Each node's topic counts every message once: its own 100 SENDs and the other node's 100.
    for node in (a, b):
        (topic,) = [d for d in node.stats()["destinations"] if d["dest"] == "/topic/o"]
        assert topic["Σ"] == 200


def test_a_stompjs_websocket_client_on_one_node_talks_to_stomp_py_on_another(
    cluster_nodes: Any, redis_server: RedisServer
):
    """@stomp/stompjs in node over WebSocket on node b, stomp.py over TCP on node a (the
    websocket plugin's node client: subscribes /topic/to-node, waits for 3, publishes 2 to
    /topic/from-node)."""
    node_client = _node_client()
    sock, ws_port = reserved_port()
    (a,) = cluster_nodes(1)
    sock.close()
    (b,) = cluster_nodes(1, extra=f'[plugins.websocket]\nlisten = ["ws://127.0.0.1:{ws_port}/ws"]\n')
    listener, heard = a.client()
    listener.subscribe("/topic/from-node", id="py")
    _listening(redis_server, "from-node", 1)
    browser = node_client(f"ws://127.0.0.1:{ws_port}/ws", "stompjs")
    try:
        assert browser.next_event()["event"] == "connected"
        assert browser.next_event()["event"] == "ready"
        _listening(redis_server, "to-node", 1)
        publisher, _ = a.client()
        bodies = ["plain", "ünïcödé ✓", "two\nlines"]
        for index, body in enumerate(bodies):
            publisher.send("/topic/to-node", body, headers={"x-seq": str(index), "x-colon": "a:b"})
        done = browser.next_event()
        assert done["event"] == "done"
        assert [message["body"] for message in done["received"]] == bodies
        assert done["received"][0]["headers"]["x-colon"] == "a:b"
        assert [frame.body for frame in heard.wait_messages(2, SLOW)] == ["from node 0 ✓", "from node 1 ✓"]
        assert browser.process.wait(10) == 0
    finally:
        browser.close()


def _node_client() -> Any:
    """The websocket plugin's node client harness (plugins/websocket/js), or a skip/fail naming what is missing."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "websocket" / "tests" / "test_ws_node_clients.py"
    spec = importlib.util.spec_from_file_location("_ws_node_clients", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._need_node()
    return module.NodeClient
