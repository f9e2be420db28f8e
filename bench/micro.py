"""In-process micro benchmark of the hot path: parse SENDs, route, fan out (no sockets).

Isolates the broker's own Python cost per message from the kernel and the event loop:
``python -m bench.micro --subscribers 10 --messages 200000 [--profile]``; with ``--filter ENGINE``
each subscriber filters on its own value of header ``k`` (the filters plugin) and message n
carries ``k:v(n mod subscribers)``, so each message goes to one subscriber.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from xtomp_core.bootstrap import build_broker
from xtomp_core.broker.session import Session
from xtomp_core.testing import write_config


class CountingLink:
    """A link that keeps output in a list, drained like the real flusher does once per batch."""

    transport_name = "micro"
    peer = "micro"
    web = False

    def __init__(self) -> None:
        self.paused = False
        self.out: list[bytes] = []
        self.bytes = 0
        self.frames = 0

    def push(self, prefix: bytes, tail: bytes) -> None:
        self.frames += 1
        self.out.append(prefix)
        self.out.append(tail)

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def drain(self) -> None:
        if self.out:
            self.bytes += len(b"".join(self.out))
            self.out.clear()

    def connected(self, send: float, receive: float) -> None:
        pass

    def close(self, linger: bool) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200, help="SEND frames per data_received")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--filter", choices=["none", "filter", "selector", "selector-like"], default="none")
    args = parser.parse_args()

    filters: Callable[[int], bytes] = {
        "none": lambda i: b"",
        "filter": lambda i: b"filter:k=v%d\n" % i,
        "selector": lambda i: b"selector:k = 'v%d'\n" % i,
        "selector-like": lambda i: b"selector:k LIKE 'v%d'\n" % i,
    }[args.filter]
    extra = "" if args.filter == "none" else "[plugins.filters]\n"
    extra += "[server]\nmax_subscriptions = 100000\n[destination_defaults]\nmax_connections = 100000\n"
    broker = build_broker(write_config(Path(tempfile.mkdtemp()), extra))
    links = []
    for index in range(args.subscribers):
        link = CountingLink()
        session = Session(broker, link)  # type: ignore[arg-type]
        session.receive(
            b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:/topic/bench\nid:%d\n%s\n\x00"
            % (index, filters(index))
        )
        links.append(link)
    publisher_link = CountingLink()
    publisher = Session(broker, publisher_link)  # type: ignore[arg-type]
    publisher.receive(b"CONNECT\naccept-version:1.2\n\n\x00")
    body = b"x" * args.size
    batches = []
    sequence = 0
    for _ in range(args.messages // args.batch):
        frames = []
        for _ in range(args.batch):
            key = b"k:v%d\n" % (sequence % args.subscribers) if args.filter != "none" else b""
            frames.append(
                b"SEND\ndestination:/topic/bench\nseq:0:%d\n%scontent-length:%d\n\n%s\x00"
                % (sequence, key, len(body), body)
            )
            sequence += 1
        batches.append(b"".join(frames))

    def run() -> float:
        started = time.perf_counter()
        for batch in batches:
            publisher.receive(batch)
            for link in links:
                link.drain()
        return time.perf_counter() - started

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        elapsed = run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    else:
        elapsed = run()
    deliveries = sum(link.frames for link in links)
    print(
        f"{sequence} messages to {args.subscribers} subscribers in {elapsed:.3f}s: "
        f"{sequence / elapsed:,.0f} msg/s, {deliveries / elapsed:,.0f} deliveries/s, "
        f"{elapsed / sequence * 1e6:.2f} us/message"
    )


if __name__ == "__main__":
    main()
