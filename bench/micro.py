"""In-process micro benchmark of the hot path: parse SENDs, route, fan out (no sockets).

Isolates the broker's own Python cost per message from the kernel and the event loop:
``python -m bench.micro --subscribers 10 --messages 200000 [--profile]``; with ``--filter ENGINE``
each subscriber filters on its own value of header ``k`` (the filters plugin) and message n
carries ``k:v(n mod subscribers)``, so each message goes to one subscriber. With ``--wildcards N``
one more connection holds N wildcard subscriptions (``/topic/w<i>.*``, and ``/topic/*``, the one
matching ``/topic/bench``): the cost of the topics plugin's pattern trie per SEND. With ``--durable N``
N durable subscriptions (``durable:true``) to ``/topic/bench``, half of them away (unsubscribed without
``durable:true``, so they collect a backlog; ``max_messages`` is raised so that it never fills).
With ``--queue`` the subscribers are competing consumers (auto ack) of ``/queue/bench`` instead (the
queues plugin), and ``--priority`` gives message n the header ``priority:(n mod 10)``: the cost of
priorities per SEND.
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
from xtomp_testing import FakeLink, write_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200, help="SEND frames per data_received")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--wildcards", type=int, default=0, help="wildcard patterns (one matching)")
    parser.add_argument("--durable", type=int, default=0, help="durable subscriptions (half of them away)")
    parser.add_argument("--queue", action="store_true", help="consumers of /queue/bench instead of a topic")
    parser.add_argument("--priority", action="store_true", help="with --queue: priority:(n mod 10) on message n")
    parser.add_argument("--filter", choices=["none", "filter", "selector", "selector-like"], default="none")
    args = parser.parse_args()

    filters: Callable[[int], bytes] = {
        "none": lambda i: b"",
        "filter": lambda i: b"filter:k=v%d\n" % i,
        "selector": lambda i: b"selector:k = 'v%d'\n" % i,
        "selector-like": lambda i: b"selector:k LIKE 'v%d'\n" % i,
    }[args.filter]
    extra = "" if args.filter == "none" else "[plugins.filters]\n"
    extra += "[server]\nmax_subscriptions = 100000\nmax_destinations = 200000\n"
    extra += "[destination_defaults]\nmax_connections = 100000\n"
    if args.durable:
        extra += "max_messages = 10000000\n"
    if args.queue:
        extra += '[plugins.queues]\n[destinations."/queue/*"]\ntype = "queue"\nmax_messages = 10000000\n'
    destination = b"/queue/bench" if args.queue else b"/topic/bench"
    broker = build_broker(write_config(Path(tempfile.mkdtemp()), extra))
    links = []
    for index in range(args.subscribers):
        link = FakeLink("micro")
        session = Session(broker, link)
        session.receive(
            b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:%s\nid:%d\n%s\n\x00"
            % (destination, index, filters(index))
        )
        links.append(link)
    if args.wildcards:
        link = FakeLink("micro")
        session = Session(broker, link)
        patterns = [b"/topic/w%d.*" % index for index in range(args.wildcards - 1)] + [b"/topic/*"]
        session.receive(b"CONNECT\naccept-version:1.2\n\n\x00" + b"".join(
            b"SUBSCRIBE\ndestination:%s\nid:w%d\n\n\x00" % (pattern, index) for index, pattern in enumerate(patterns)
        ))
        links.append(link)
    if args.durable:
        link = FakeLink("micro")
        session = Session(broker, link)
        away = args.durable // 2
        session.receive(b"CONNECT\naccept-version:1.2\n\n\x00" + b"".join(
            b"SUBSCRIBE\ndestination:/topic/bench\nid:d%d\ndurable:true\nauto-delete:false\n\n\x00" % index
            for index in range(args.durable)
        ) + b"".join(b"UNSUBSCRIBE\nid:d%d\n\n\x00" % index for index in range(away)))
        links.append(link)
    publisher_link = FakeLink("micro")
    publisher = Session(broker, publisher_link)
    publisher.receive(b"CONNECT\naccept-version:1.2\n\n\x00")
    body = b"x" * args.size
    batches = []
    sequence = 0
    for _ in range(args.messages // args.batch):
        frames = []
        for _ in range(args.batch):
            key = b"k:v%d\n" % (sequence % args.subscribers) if args.filter != "none" else b""
            if args.priority:
                key += b"priority:%d\n" % (sequence % 10)
            frames.append(
                b"SEND\ndestination:%s\nseq:0:%d\n%scontent-length:%d\n\n%s\x00"
                % (destination, sequence, key, len(body), body)
            )
            sequence += 1
        batches.append(b"".join(frames))

    received = [0]

    def run() -> float:
        started = time.perf_counter()
        for batch in batches:
            publisher.receive(batch)
            for link in links:
                received[0] += len(link.take())  # what a flush would join and write
        return time.perf_counter() - started

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        elapsed = run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    else:
        elapsed = run()
    deliveries = sum(link.frames_out - 1 for link in links)  # less CONNECTED
    print(
        f"{sequence} messages to {args.subscribers} subscribers in {elapsed:.3f}s: "
        f"{sequence / elapsed:,.0f} msg/s, {deliveries / elapsed:,.0f} deliveries/s, "
        f"{elapsed / sequence * 1e6:.2f} us/message"
    )


if __name__ == "__main__":
    main()
