"""In-process micro benchmark of a clustered topic's hot path: both nodes' sides, Redis replaced by bytes.

    python -m bench.cluster_micro --side publisher --messages 100000
    python -m bench.instructions --cluster --side receiver      # instructions per SEND (valgrind)

The scenario is ``bench.cluster``'s fan-out 1→10 (``local-first``): a publisher on node A,
``--subscribers`` on each of the two nodes. ``--side publisher`` runs node A's path per
SEND: parse, local fan-out, encoding for Redis, the pipeline (the PUBLISH written to a fake
transport, the ``+OK`` of the CLIENT REPLY ON after it fed back) and the echo Redis sends back (read and skipped).
``--side receiver`` runs node B's: the pub/sub bytes Redis would send (``*3 message channel
payload``, as many per read as ``--batch``) fed to the connection, decoded and fanned out.
No sockets and no Redis: the figure is the brokers' own Python cost per SEND.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from xtomp_core.bootstrap import build_broker
from xtomp_core.broker.session import Session
from xtomp_testing import FakeLink, write_config

from xtomp_cluster.backplane import BACKPLANE
import struct

from xtomp_cluster.redis_backend import UP, RedisBackplane
from xtomp_cluster.resp import RespConnection
from xtomp_cluster.topics import TOPICS

CONFIG = """\
[plugins.cluster]
redis = "redis://127.0.0.1:1/0"
node = "{node}"
"""


class FakeTransport:
    """What a RespConnection writes to: counts the bytes."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def abort(self) -> None:
        pass


def node(name: str, subscribers: int) -> tuple[Any, RedisBackplane, list[FakeLink], RespConnection, RespConnection]:
    broker = build_broker(write_config(Path(tempfile.mkdtemp()), CONFIG.format(node=name)))
    backplane = broker.stash[BACKPLANE]
    assert isinstance(backplane, RedisBackplane)
    backplane.loop = asyncio.get_running_loop()
    backplane.state, backplane.up = UP, True
    commands = RespConnection()
    commands.connection_made(FakeTransport())  # type: ignore[arg-type]
    commands.can_silence = True  # as with a real Redis (CLIENT REPLY OFF/ON around runs of PUBLISHes)
    commands.on_replies = backplane._replies
    pubsub = RespConnection(on_push=backplane._on_push)
    pubsub.connection_made(FakeTransport())  # type: ignore[arg-type]
    backplane._commands, backplane._pubsub = commands, pubsub
    broker.stash[TOPICS].started()
    links = []
    for index in range(subscribers):
        link = FakeLink("micro")
        Session(broker, link).receive(
            b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:/topic/bench\nid:%d\n\n\x00" % index
        )
        links.append(link)
    return broker, backplane, links, commands, pubsub


def payload(origin: bytes, run: int, seq: int, header: bytes, value: bytes, body: bytes) -> bytes:
    """What codec.encode makes of a SEND with one header (built here, not with the codec, so
    that the setup's instructions stay the same whatever the codec does): the head, the
    origin and the MESSAGE frame after its message-id line (a colon in a value is ``\\c``)."""
    return b"".join((
        struct.pack(">BBQ", 2, len(origin), run), origin, struct.pack(">Qd", seq, time.time()),
        header, b":", value.replace(b":", b"\\c"), b"\ncontent-length:%d\n\n" % len(body), body, b"\x00",
    ))


def pushes(channel: bytes, payloads: list[bytes]) -> bytes:
    """The bytes Redis sends a subscriber for these PUBLISHes."""
    head = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n" % (len(channel), channel)
    return b"".join([b"%s$%d\r\n%s\r\n" % (head, len(payload), payload) for payload in payloads])


async def run(args: argparse.Namespace) -> None:
    broker, backplane, links, commands, pubsub = node("a" if args.side == "publisher" else "b", args.subscribers)
    await asyncio.sleep(0)  # the SUBSCRIBE of the channel leaves
    topics = broker.stash[TOPICS]
    channel = topics.prefix + b"/topic/bench"
    body = b"x" * args.size
    batches: list[tuple[bytes, bytes]] = []
    sequence = 0
    # The payload the publishing node encodes for a SEND (its origin, for the echo; node "a"
    # for what node B receives).
    origin, run_id = (topics.origin, topics.run) if args.side == "publisher" else (b"a", 12345)
    for _ in range(args.messages // args.batch):
        frames, payloads = [], []
        for _ in range(args.batch):
            sequence += 1
            frames.append(
                b"SEND\ndestination:/topic/bench\nseq:0:%d\ncontent-length:%d\n\n%s\x00" % (sequence, len(body), body)
            )
            payloads.append(payload(origin, run_id, sequence, b"seq", b"0:%d" % sequence, body))
        batches.append((b"".join(frames), pushes(channel, payloads)))
    replies = b"+OK\r\n" if args.batch >= 3 else b":2\r\n" * args.batch  # a silenced run: one reply
    publisher = None
    if args.side == "publisher":
        publisher = Session(broker, FakeLink("micro"))
        publisher.receive(b"CONNECT\naccept-version:1.2\n\n\x00")
    if args.setup_only:
        return
    received = 0
    started = time.perf_counter()
    for sends, echoes in batches:
        if publisher is not None:
            publisher.receive(sends)
            await asyncio.sleep(0)  # the loop pass ends: the pipeline is written
            commands.data_received(replies)
        pubsub.data_received(echoes)
        for link in links:
            received += len(link.take())
    elapsed = time.perf_counter() - started
    deliveries = sum(link.frames_out - 1 for link in links)
    figures = broker.stash[TOPICS].stats()
    print(
        f"{args.side}: {sequence} SENDs, {deliveries} deliveries on this node in {elapsed:.3f}s: "
        f"{elapsed / sequence * 1e6:.2f} us/SEND (published {figures['published_total']}, "
        f"received {figures['received_total']}, echoes skipped {figures['echoes_skipped_total']})"
    )
    assert deliveries == sequence * args.subscribers, "lost deliveries"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["publisher", "receiver"], default="publisher")
    parser.add_argument("--subscribers", type=int, default=5, help="subscribers on each node")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200, help="SENDs per read (and PUBLISHes per Redis read)")
    parser.add_argument("--setup-only", action="store_true", help="build everything, send nothing (its cost is"
                        " subtracted by bench.instructions --cluster)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
