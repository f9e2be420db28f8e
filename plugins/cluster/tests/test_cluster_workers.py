"""``workers = 2`` on the cluster: each worker process is a node of its own (``m/1``, ``m/2``), a
topic SEND through one worker reaches the subscribers connected to the other (through Redis),
and a queue's consumers on both workers read its stream as two consumers of its group."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xtomp_testing import BrokerProcess, RawClient, RedisServer, reserved_port, wait_until, write_config

CONFIG = """\
[server]
listen = ["127.0.0.1:{port}"]
workers = 2

[plugins.topics]

[destinations."/topic/*"]
type = "topic"

[plugins.queues]

[destinations."/queue/*"]
type = "queue"

[plugins.cluster]
redis = "{redis}"
node = "m"
"""


def client_on(port: int, worker: str, clients: list[RawClient]) -> RawClient:
    """A connected client on worker ``worker`` (connections are spread by the kernel: retry)."""

    def attempt() -> RawClient | None:
        client = RawClient("127.0.0.1", port)
        server = client.connect().headers[b"server"].decode()
        if server.endswith(f"(worker {worker} of 2)"):
            clients.append(client)
            return client
        client.close()
        return None

    return wait_until(attempt, what=f"a connection on worker {worker}")


@contextmanager
def workers(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[BrokerProcess, list[RawClient]]]:
    """The master of ``workers = 2`` on ``redis_server``, and a list of clients closed at the end;
    its log must hold no traceback."""
    holder, port = reserved_port()
    directory = write_config(tmp_path / "conf", base=CONFIG.format(port=port, redis=redis_server.url))
    holder.close()
    clients: list[RawClient] = []
    with BrokerProcess(directory) as master:
        try:
            yield master, clients
        finally:
            for client in clients:
                client.close()
    log = "".join(master.log)
    assert "Traceback" not in log, log


def test_a_send_through_one_worker_reaches_the_subscribers_of_both(tmp_path: Path, redis_server: RedisServer):
    with workers(tmp_path, redis_server) as (master, clients):
        wait_until(lambda: len(re.findall(r"node m/[12] connected to Redis", "".join(master.log))) == 2,
                   what="both workers' nodes (m/1, m/2) on Redis")
        one, two = client_on(master.port, "1", clients), client_on(master.port, "2", clients)
        for subscriber in (one, two):
            subscriber.subscribe("/topic/prices")
        wait_until(lambda: redis_server.subscribers("xtomp:t:/topic/prices") == 2,
                   what="both workers subscribed to the channel")
        for sender, text in ((one, "from 1"), (two, "from 2")):
            sender.send_frame("SEND", {"destination": "/topic/prices"}, text)
            for subscriber in (one, two):
                assert subscriber.expect("MESSAGE").body == text.encode()
        for subscriber in (one, two):
            subscriber.expect_nothing()  # each message once, on each worker


def test_queue_consumers_on_both_workers_are_two_consumers_of_the_group(tmp_path: Path, redis_server: RedisServer):
    with workers(tmp_path, redis_server) as (master, clients):
        one, two = client_on(master.port, "1", clients), client_on(master.port, "2", clients)
        for consumer in (one, two):
            consumer.subscribe("/queue/jobs", ack="client-individual")
        producer = RawClient("127.0.0.1", master.port)
        clients.append(producer)
        producer.connect()
        for number in range(20):
            producer.send_frame("SEND", {"destination": "/queue/jobs", "receipt": f"r{number}"}, f"job {number}")
            producer.expect_receipt(f"r{number}")
        got: list[bytes] = []

        def take() -> bool:
            for consumer in (one, two):
                for frame in consumer.drain():
                    if frame.command == b"MESSAGE":
                        got.append(frame.body)
                        consumer.send_frame("ACK", {"id": frame.headers[b"ack"].decode()})
            return len(got) >= 20

        try:
            wait_until(take, what="20 queue messages")
        except AssertionError:
            raise AssertionError(f"got {sorted(got)}\n" + "".join(master.log)[-3000:]) from None
        assert sorted(got) == sorted(f"job {number}".encode() for number in range(20))  # each once
        consumers = redis_server.command("XINFO", "CONSUMERS", "xtomp:queue:/queue/jobs", "xtomp")
        names = sorted(dict(zip(entry[::2], entry[1::2]))[b"name"] for entry in consumers)
        assert names == [b"m/1", b"m/2"]
