"""What the admin plugin costs in resident memory, and what prometheus_client would have cost.

Run from the repository root after ``make install``::

    .venv/bin/python plugins/admin/measure_memory.py

It starts ``python -m xtomp_core`` (the same process ``xtomp`` runs) with the core and the
topics plugin, with and without ``[plugins.admin]``, reads VmRSS from /proc once the broker
is ready, then again after the admin endpoint served the console and /stats and /metrics
for 100 destinations. Separately, it imports prometheus_client into a process that already
holds the broker's modules and reports the growth. Each figure is the median of a few runs.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xtomp_testing import BrokerProcess, RawClient, write_config

RUNS = 5
ADMIN = '[plugins.admin]\nlisten = "127.0.0.1:0"\n'


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def get(port: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)
    connection.close()


def broker_rss(extra: str, exercise: bool) -> tuple[int, int]:
    """(RSS when ready, RSS after the workload) in KiB."""
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(Path(directory), extra)
        with BrokerProcess(config) as broker:
            time.sleep(0.3)
            ready = rss_kib(broker.pid)
            with RawClient("127.0.0.1", broker.port) as client:
                client.connect()
                for index in range(100):
                    client.send_frame("SEND", {"destination": f"/topic/t{index}"}, "x")
                client.send_frame("SEND", {"destination": "/topic/t0", "receipt": "r"}, "x")
                client.expect_receipt("r")
                if exercise:
                    port = int(re.search(r"admin console on http://127\.0\.0\.1:(\d+)/", "".join(broker.log)).group(1))
                    for path in ("/", "/console.js", "/console.css"):
                        get(port, path)
                    for _ in range(20):
                        get(port, "/stats")
                        get(port, "/metrics")
                time.sleep(0.2)
                return ready, rss_kib(broker.pid)


PROMETHEUS = """
import sys, time
import xtomp_testing, xtomp_admin.admin, json  # what a broker with admin holds (testing's runner imports the server)
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:'))
before, modules, started = rss(), len(sys.modules), time.perf_counter()
import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
class C:
    def collect(self):
        family = GaugeMetricFamily('xtomp_x', 'x', labels=['destination'])
        for index in range(100):
            family.add_metric([str(index)], index)
        yield family
registry = CollectorRegistry(); registry.register(C()); generate_latest(registry)
print(rss() - before, len(sys.modules) - modules, round((time.perf_counter() - started) * 1000, 1))
"""


def prometheus_cost() -> tuple[int, int, float] | None:
    result = subprocess.run([sys.executable, "-c", PROMETHEUS], capture_output=True, text=True)
    if result.returncode != 0:
        return None  # not installed
    kib, modules, ms = result.stdout.split()
    return int(kib), int(modules), float(ms)


def main() -> int:
    socket.setdefaulttimeout(10)
    without = [broker_rss("", exercise=False) for _ in range(RUNS)]
    enabled = [broker_rss(ADMIN, exercise=True) for _ in range(RUNS)]
    median = lambda values: int(statistics.median(values))  # noqa: E731
    base_ready, base_after = median([r for r, _ in without]), median([a for _, a in without])
    admin_ready, admin_after = median([r for r, _ in enabled]), median([a for _, a in enabled])
    from importlib.util import find_spec

    loop = "asyncio" if os.environ.get("XTOMP_NO_UVLOOP") or not find_spec("uvloop") else "uvloop"
    print(f"python -m xtomp_core on {loop}, median of {RUNS} runs, resident memory (VmRSS):")
    print(f"  core + topics, ready:                         {base_ready / 1024:6.1f} MiB")
    print(f"  core + topics, 100 destinations:              {base_after / 1024:6.1f} MiB")
    print(f"  + admin, ready:                               {admin_ready / 1024:6.1f} MiB"
          f"  (+{(admin_ready - base_ready) / 1024:.1f} MiB)")
    print(f"  + admin, after console, 20x /stats, /metrics: {admin_after / 1024:6.1f} MiB"
          f"  (+{(admin_after - base_after) / 1024:.1f} MiB)")
    costs = [prometheus_cost() for _ in range(RUNS)]
    if all(costs):
        kib = median([c[0] for c in costs if c])
        modules = costs[0][1] if costs[0] else 0
        ms = statistics.median([c[2] for c in costs if c])
        print(f"importing prometheus_client (and rendering 100 samples) on top: +{kib / 1024:.1f} MiB,"
              f" {modules} more modules, {ms:.0f} ms")
    else:
        print("prometheus_client is not installed here: `pip install prometheus_client` to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
