"""Cluster test support: broker processes (nodes) against the ``redis_server`` fixture's Redis."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from xtomp_testing import BASE_CONFIG, BrokerProcess, RawClient, RedisServer, reserved_port, stomp_py_connection, wait_until, write_config

#: Every test broker's config (xtomp_testing), on a port of its own, with admin figures and the cluster.
NODE_CONFIG = BASE_CONFIG.replace("127.0.0.1:0", "127.0.0.1:{port}") + """
[plugins.admin]
listen = "127.0.0.1:{admin}"
console = false

[plugins.cluster]
redis = "{redis}"
node = "{node}"
reconnect_max = "200ms"
"""


class Node:
    """One broker process of the cluster, with its admin endpoint for figures."""

    def __init__(self, name: str, process: BrokerProcess, admin_port: int) -> None:
        self.name = name
        self.process = process
        self.admin_port = admin_port
        self.connections: list[Any] = []

    @property
    def port(self) -> int:
        return self.process.port

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats", timeout=5) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def cluster(self) -> dict[str, Any]:
        return self.stats()["cluster"]  # type: ignore[no-any-return]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as answer:
            return answer.read().decode()  # type: ignore[no-any-return]

    def client(self, **kwargs: Any) -> tuple[Any, Any]:
        """A connected stomp.py 1.2 connection to this node and its recorder."""
        connection, heard = stomp_py_connection("127.0.0.1", self.port, "1.2", **kwargs)
        connection.connect(wait=True)
        self.connections.append(connection)
        return connection, heard

    def raw(self) -> RawClient:
        """A connected raw STOMP client to this node."""
        client = RawClient("127.0.0.1", self.port, timeout=10)
        client.connect()
        return client

    def log(self) -> str:
        return "".join(self.process.log)


@pytest.fixture
def cluster_nodes(tmp_path: Path, redis_server: RedisServer) -> Iterator[Callable[..., list[Node]]]:
    """``cluster_nodes(n, extra="", connected=False)`` starts ``n`` nodes ("a", "b", ...) on one
    Redis; ``connected``: returns once each is connected to it (until then a queue SEND gets an
    ERROR)."""
    started: list[Node] = []

    def start(count: int = 2, extra: str = "", connected: bool = False) -> list[Node]:
        nodes = []
        for _ in range(count):
            name = "abcdefgh"[len(started)]
            sock, port = reserved_port()
            admin_sock, admin_port = reserved_port()
            config = NODE_CONFIG.format(port=port, admin=admin_port, redis=redis_server.url, node=name)
            directory = write_config(tmp_path / f"node-{name}", extra, config)
            sock.close()
            admin_sock.close()
            node = Node(name, BrokerProcess(directory).start(), admin_port)
            started.append(node)
            nodes.append(node)
        for node in nodes if connected else ():
            wait_until(lambda: node.cluster()["up"] == 1, what=f"node {node.name} connected to Redis")
        return nodes

    yield start
    for node in started:
        for connection in node.connections:
            try:
                if connection.is_connected():
                    connection.disconnect()
            except Exception:
                pass
        node.process.stop()


@pytest.fixture
def rdb(redis_server: RedisServer) -> Iterator[Any]:
    """A redis-py client to look at what the cluster keeps in Redis (each test has a Redis of
    its own: nothing to reset)."""
    client = redis.Redis.from_url(redis_server.url, protocol=2)
    yield client
    client.close()
