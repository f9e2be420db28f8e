"""Cluster benchmark: topic fan-out and queues over two xtomp nodes sharing one Redis, beside one node alone.

    python -m bench.cluster                 # every scenario
    python -m bench.cluster --quick         # shorter runs, for a smoke test
    python -m bench.cluster --only '1→100'  # the scenarios whose name matches (re.search)

For each fan-out scenario it runs the load generator (bench/loadgen.c) three times: against one
xtomp process without the cluster plugin (every subscriber on it: the single-node figure), then
against two nodes with the cluster plugin on one ``redis-server`` (Debian's; started here on a
free port, no persistence), the publisher on node A and the subscribers split between A and B
(loadgen ``--port2``: odd subscribers on B), once per ``topic_delivery`` mode (``local-first``,
``backplane``). Each line reports deliveries/s, the CPU seconds of the brokers and of Redis per
100k deliveries, and Redis round trips (pipelines) and PUBLISHes per SEND, from the nodes'
``cluster`` figures (admin plugin ``/stats``). A fresh set of processes runs each line.
The queue scenarios (clustered ``/queue/*``: one producer on node A, the consumers split
between A and B) run single node and two nodes (``topic_delivery`` does not apply); their
round trips and Redis commands per SEND count both nodes (A appends, both read and settle).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from xtomp_testing import RedisServer, reserved_port

from .run import XTOMP_CONFIG, XTOMP_PORT, XTOMP_QUEUES, build_loadgen, cpu_seconds, machine, xtomp_ports

NODE = """
[plugins.admin]
listen = "127.0.0.1:{admin}"
console = false
"""

CLUSTER = """
[plugins.cluster]
redis = "{redis}"
node = "{node}"
topic_delivery = "{delivery}"
"""


class Node:
    """One xtomp process (port 0: read from its log), with its admin endpoint for figures."""

    def __init__(self, work: Path, name: str, redis: str | None, delivery: str) -> None:
        sock, self.admin = reserved_port()
        text = XTOMP_CONFIG.replace(f"127.0.0.1:{XTOMP_PORT}", "127.0.0.1:0").replace(
            'log_level = "warning"', 'log_level = "info"'
        ) + XTOMP_QUEUES + NODE.format(admin=self.admin)
        if redis is not None:
            text += CLUSTER.format(redis=redis, node=name, delivery=delivery)
        directory = work / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "xtomp.toml").write_text(text)
        sock.close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xtomp_core", "-c", str(directory)], stderr=subprocess.PIPE
        )
        self.port = xtomp_ports(self.process)["tcp"]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats", timeout=10) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def nodes(work: Path, count: int, delivery: str) -> Iterator[tuple[list[Node], RedisServer | None]]:
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer()) if count > 1 else None
        started: list[Node] = []
        try:
            for index in range(count):
                started.append(Node(work, "ab"[index], redis.url if redis else None, delivery))
            if redis is not None:
                deadline = time.monotonic() + 20
                while not all(node.stats().get("cluster", {}).get("up") for node in started):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the nodes did not connect to Redis")
                    time.sleep(0.05)
            yield started, redis
        finally:
            for node in started:
                node.close()


def scenarios(quick: bool) -> list[tuple[str, list[str]]]:
    n10 = 30_000 if quick else 200_000
    n100 = 5_000 if quick else 40_000
    fan = ["fanout", "--destination", "/topic/bench", "--publishers", "1", "--size", "100"]
    # Queues: the producer on node A, the consumers split between A and B (--port2: odd ones on B).
    queue = ["queue", "--destination", "/queue/bench", "--producers", "1", "--size", "100", "--window", "2000",
             "--messages", str(n10)]
    return [
        ("fanout 1→10 100B", fan + ["--subscribers", "10", "--messages", str(n10)]),
        ("fanout 1→100 100B", fan + ["--subscribers", "100", "--messages", str(n100)]),
        ("fanout 1→1000 100B", fan + ["--subscribers", "1000", "--messages", str(n100 // 5), "--window", "2000"]),
        ("queue 1→2 client-individual", queue + ["--consumers", "2", "--ack", "client-individual", "--prefetch", "200"]),
        ("queue 1→4 auto", queue + ["--consumers", "4", "--ack", "auto", "--prefetch", "200"]),
        ("latency 1k/s ×10", ["latency", "--rate", "1000", "--subscribers", "10", "--duration", "3" if quick else "10",
                              "--size", "100", "--destination", "/topic/latency"]),
    ]


def run(binary: Path, work: Path, name: str, args: list[str], setup: str) -> dict[str, Any]:
    count, delivery = (1, "local-first") if setup == "single node" else (2, setup.split()[-1])
    with nodes(work, count, delivery) as (started, redis):
        pids = [node.process.pid for node in started]
        redis_pids = [redis.process.pid] if redis is not None and redis.process is not None else []
        cpu_before, redis_before = cpu_seconds(pids), cpu_seconds(redis_pids)
        ports = ["--port", str(started[0].port)] + (["--port2", str(started[1].port)] if count > 1 else [])
        result = subprocess.run([str(binary), *args, *ports, "--timeout", "120"], capture_output=True, text=True,
                                timeout=300)
        record: dict[str, Any] = {"scenario": name, "setup": setup}
        if result.returncode != 0:
            record["error"] = result.stderr.strip()[-300:]
            return record
        record.update(json.loads(result.stdout.strip().splitlines()[-1]))
        # latency mode says count, queue mode received
        deliveries = max(1, int(record.get("delivered") or record.get("received") or record.get("count") or 0))
        record["brokers_cpu_s_per_100k"] = round((cpu_seconds(pids) - cpu_before) * 100_000 / deliveries, 3)
        if redis_pids:
            record["redis_cpu_s_per_100k"] = round((cpu_seconds(redis_pids) - redis_before) * 100_000 / deliveries, 3)
            figures = started[0].stats()["cluster"]
            if name.startswith("queue"):
                # Both nodes talk to Redis for a queue (A appends, both read and acknowledge).
                every = [node.stats()["cluster"] for node in started]
                record["round_trips_per_send"] = round(sum(f["round_trips_total"] for f in every) / deliveries, 4)
                record["redis_commands_per_send"] = round(sum(f["commands_total"] for f in every) / deliveries, 3)
                record["read_on_b"] = every[1]["queues"]["read_total"]
            else:
                sends = max(1, figures["topics"]["published_total"])
                record["round_trips_per_send"] = round(figures["round_trips_total"] / sends, 4)
                record["publishes_per_send"] = round(figures["published_total"] / sends, 4)
            record["pipeline_mean"] = figures["pipeline_mean"]
        return record


SETUPS = ("single node", "2 nodes local-first", "2 nodes backplane")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--only", default="", help="the scenarios whose name matches this regular expression")
    args = parser.parse_args()
    binary = build_loadgen()
    work = Path(tempfile.mkdtemp(prefix="xtomp-cluster-bench-"))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {machine()}", flush=True)
    rows = []
    for name, loadgen_args in scenarios(args.quick):
        if args.only and not re.search(args.only, name):
            continue
        for setup in SETUPS:
            if name.startswith("queue") and setup.endswith("backplane"):
                continue  # topic_delivery does not apply to queues
            record = run(binary, work, name, loadgen_args, setup)
            print(json.dumps(record, ensure_ascii=False), flush=True)
            rows.append(record)
    print()
    print("| scenario | setup | deliveries/s (latency: p50 / p99 ms) | lost/dup/reordered | brokers CPU s per 100k "
          "| Redis CPU s per 100k | round trips per SEND | PUBLISH (queues: Redis commands) per SEND |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        if "error" in row:
            print(f"| {row['scenario']} | {row['setup']} | error: {row['error'][:80]} | | | | | |")
            continue
        bad = "/".join(str(row.get(key, 0)) for key in ("lost", "duplicated", "reordered"))
        rate = (f"{row.get('p50_ms')} / {row.get('p99_ms')}" if row.get("mode") == "latency"
                else f"{row.get('deliveries_per_s') or row.get('msgs_per_s') or 0:,.0f}")
        print(f"| {row['scenario']} | {row['setup']} | {rate} | {bad} "
              f"| {row['brokers_cpu_s_per_100k']} | {row.get('redis_cpu_s_per_100k', '-')} "
              f"| {row.get('round_trips_per_send', '-')} "
              f"| {row.get('publishes_per_send', row.get('redis_commands_per_send', '-'))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
