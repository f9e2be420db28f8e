"""What one idle subscribed connection costs the broker, by allocation site (tracemalloc).

    .venv/bin/python -m bench.connection_memory                    # 2,000 connections, uvloop
    .venv/bin/python -m bench.connection_memory --connections 500 --loop asyncio

Starts a broker (core and topics) on an event loop in this process and traces its
allocations with tracemalloc. A child process opens the connections (so none of the
client's memory is in the trace); each CONNECTs and SUBSCRIBEs to ``/topic/idle`` with a
receipt, and once every receipt is in, the snapshot taken before is compared with one
taken now. Prints one JSON line (bytes per connection, allocation sites in the core,
plugins, asyncio or the loop) and a table of the largest sites per connection. Python heap
only: the kernel's socket buffers are not in the process's memory, and allocator slack
shows in RSS (``python -m bench.run --only connections``) but not here.
"""

from __future__ import annotations

import argparse
import json
import linecache
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from pathlib import Path

from xtomp_testing import start_broker, write_config

#: The child: opens N connections, CONNECT + SUBSCRIBE each, prints "ready" when every
#: receipt is in, then holds them until its stdin closes.
CLIENTS = textwrap.dedent(
    """
    import socket, sys
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sockets = []
    for index in range(count):
        sock = socket.create_connection((host, port))
        sock.sendall(b"CONNECT\\naccept-version:1.2\\nheart-beat:0,0\\n\\n\\x00"
                     b"SUBSCRIBE\\ndestination:/topic/idle\\nid:0\\nreceipt:r\\n\\n\\x00")
        sockets.append(sock)
    for sock in sockets:
        data = b""
        while b"RECEIPT" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                sys.exit("the broker closed a connection")
            data += chunk
    print("ready", flush=True)
    sys.stdin.read()
    """
)


#: Where the loop runs: what uvloop's C code allocates (transports, libuv handles) is
#: attributed to the innermost Python frame, the one that called ``run_forever``.
LOOP_FRAME = "xtomp_testing/runner.py"


def area(filename: str) -> str:
    """Which part of the program an allocation site belongs to."""
    if filename == "<unknown>" or filename.endswith(LOOP_FRAME):
        return "event loop (C objects: transports, handles)"
    for marker, name in (("xtomp_core", "xtomp core"), ("xtomp_topics", "topics plugin"), ("uvloop", "uvloop"),
                         ("asyncio", "asyncio")):
        if marker in filename:
            return name
    return "other"


Site = tuple[str, str, float, float]  # where, the line of code, bytes and blocks per connection


def measure(connections: int, use_uvloop: bool) -> tuple[dict[str, object], list[Site]]:
    config = write_config(
        Path(tempfile.mkdtemp()),
        "[server]\nconnection_limit_per_address = 0\n[destination_defaults]\nmax_connections = 1000000\n",
    )
    tracemalloc.start(1)
    with start_broker(config, use_uvloop=use_uvloop) as broker:
        host, port = broker.address
        broker.call(lambda: None)  # the loop has settled
        before = tracemalloc.take_snapshot()
        clients = subprocess.Popen([sys.executable, "-c", CLIENTS, host, str(port), str(connections)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert clients.stdout is not None and clients.stdin is not None
        try:
            if clients.stdout.readline().strip() != "ready":
                raise SystemExit("the client process failed")
            broker.call(lambda: None)
            after = tracemalloc.take_snapshot()
            sessions = broker.stats()["cc"]["sz"]
        finally:
            clients.stdin.close()
            clients.wait(30)
    tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    total = sum(stat.size_diff for stat in diff)
    by_area: dict[str, float] = {}
    for stat in diff:
        name = area(stat.traceback[0].filename)
        by_area[name] = by_area.get(name, 0) + stat.size_diff / connections
    sites = []
    for stat in sorted(diff, key=lambda stat: stat.size_diff, reverse=True)[:12]:
        frame = stat.traceback[0]
        if frame.filename == "<unknown>" or frame.filename.endswith(LOOP_FRAME):
            where, code = "the event loop", "(its C objects: transport, libuv handle)"
        else:
            where, code = f"{_short(frame.filename)}:{frame.lineno}", linecache.getline(frame.filename, frame.lineno)
        sites.append((where, code.strip()[:70], stat.size_diff / connections, stat.count_diff / connections))
    record: dict[str, object] = {
        "loop": "uvloop" if use_uvloop else "asyncio",
        "connections": connections,
        "sessions_seen": sessions,
        "bytes_per_connection": round(total / connections),
        "by_area": {name: round(size) for name, size in sorted(by_area.items(), key=lambda item: -item[1])},
    }
    return record, sites


def _short(filename: str) -> str:
    for marker in ("xtomp_core/", "xtomp_topics/", "uvloop/", "asyncio/"):
        if marker in filename:
            return marker + filename.split(marker, 1)[1]
    return filename


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    options = parser.parse_args()
    record, sites = measure(options.connections, options.loop == "uvloop")
    print(json.dumps(record))
    print("\n| allocation site | code | bytes per connection | blocks per connection |\n| --- | --- | ---: | ---: |")
    for where, code, size, count in sites:
        print(f"| `{where}` | `{code}` | {size:,.0f} | {count:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
