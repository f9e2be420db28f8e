"""Zero work at idle: a broker with idle connections makes no wakeups (no timers, no polling).

A behaviour test, not a timing test: it counts the broker process's context switches and
CPU ticks, read from /proc, over a quiet period measured by a configured timer (the
``clock``: another broker's ``/xtomp/stat`` ticks, counted as they arrive), with and without
idle connections, with
the admin plugin disabled (not even imported) and enabled (after it served requests), and
with per-destination stats flags but no ``/xtomp/stat`` sink. The controls show the
measurement sees timers: heart-beats, and the ``/xtomp/stat`` ticks once it is declared.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from xtomp_testing import BrokerProcess, RawClient, wait_until, write_config

#: The clock's timer, and how many of its ticks a quiet period lasts (so at least 2.9 s).
CLOCK_INTERVAL = 0.1
QUIET_TICKS = 30


class Clock:
    """Another broker's ``/xtomp/stat`` topic, ticking every CLOCK_INTERVAL: a test waits for
    ticks of a configured timer rather than sleeping a duration of its own."""

    def __init__(self, client: RawClient) -> None:
        self.client = client

    def wait(self, ticks: int) -> None:
        """Return after ``ticks`` ticks: at least (ticks - 1) * CLOCK_INTERVAL from now. Ticks
        that arrived before the call (while nobody read) are dropped first: they are the past."""
        self.client.drain()
        for _ in range(ticks):
            self.client.expect("MESSAGE", timeout=10)


@pytest.fixture(scope="module")
def clock(tmp_path_factory):
    config = write_config(
        tmp_path_factory.mktemp("clock"),
        f'[server]\nstats_interval = "{int(CLOCK_INTERVAL * 1000)}ms"\n[destinations."/xtomp/stat"]\ntype = "topic"\n',
    )
    with BrokerProcess(config) as broker, RawClient("127.0.0.1", broker.port) as client:
        client.connect()
        client.subscribe("/xtomp/stat")
        yield Clock(client)


def settle(pid: int, clock: Clock) -> None:
    """Wait until the process has done nothing for two clock ticks (start-up work is over)."""
    def quiet() -> bool:
        before = activity(pid)
        clock.wait(2)
        return activity(pid) == before

    wait_until(quiet, timeout=30, what="a quiet broker")


def quiet_period(pid: int, clock: Clock) -> tuple[int, int]:
    """(context switches, CPU ticks) of the settled process over QUIET_TICKS clock ticks."""
    settle(pid, clock)
    before = activity(pid)
    clock.wait(QUIET_TICKS)
    after = activity(pid)
    return after[0] - before[0], after[1] - before[1]


def activity(pid: int) -> tuple[int, int]:
    """(context switches, CPU clock ticks) of every thread of the process so far."""
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return switches, ticks


def idle_connections(port: int, count: int, heart_beat: bytes = b"0,0") -> list[socket.socket]:
    sockets = []
    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"CONNECT\naccept-version:1.2\nheart-beat:" + heart_beat + b"\n\n\x00"
            b"SUBSCRIBE\ndestination:/topic/idle\nid:%d\nreceipt:r\n\n\x00" % index
        )
        sockets.append(sock)
    for sock in sockets:  # CONNECTED and RECEIPT
        data = b""
        while data.count(b"\x00") < 2:
            data += sock.recv(4096)
    return sockets


ADMIN = '[plugins.admin]\nlisten = "127.0.0.1:0"\n'
CONFIGS = {
    "core": "",
    "stats flags, no /xtomp/stat": "[destination_defaults]\nstats = true\n",
    "admin enabled": ADMIN,
}


def admin_port(broker: BrokerProcess) -> int:
    match = re.search(r"admin console on http://127\.0\.0\.1:(\d+)/", "".join(broker.log))
    assert match, broker.log
    return int(match.group(1))


def use_admin(port: int) -> None:
    """What an operator does: the console's files, /stats a few times, /metrics."""
    for path in ("/", "/console.js", "/console.css", "/stats", "/stats", "/metrics", "/health"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        assert response.status == 200, path
        response.read()
        connection.close()


@pytest.mark.parametrize(
    "config, connections",
    [("core", 0), ("core", 200), ("stats flags, no /xtomp/stat", 200), ("admin enabled", 200)],
)
def test_idle_broker_makes_no_wakeups(tmp_path, clock, config, connections):
    directory = write_config(tmp_path / "conf", CONFIGS[config])
    with BrokerProcess(directory) as broker:
        sockets = idle_connections(broker.port, connections)
        if config == "admin enabled":
            use_admin(admin_port(broker))
        wakeups, ticks = quiet_period(broker.pid, clock)
        assert wakeups <= 2, f"{wakeups} context switches in {QUIET_TICKS} clock ticks of idleness"
        assert ticks <= 1, f"{ticks} CPU ticks in {QUIET_TICKS} clock ticks of idleness"
        for sock in sockets:
            sock.close()


def test_a_disabled_admin_plugin_is_not_imported(tmp_path):
    """Installed (make install puts it in .venv) but not enabled: not a module of it is loaded."""
    script = (
        "import sys\n"
        "from xtomp_core.bootstrap import build_broker\n"
        "build_broker(sys.argv[1])\n"
        "print(sorted(m for m in sys.modules if m.startswith('xtomp_admin')))\n"
    )
    for extra, expected in (("", "[]"), (ADMIN, "['xtomp_admin', 'xtomp_admin.admin'")):
        directory = write_config(tmp_path / f"conf{len(extra)}", extra)
        result = subprocess.run([sys.executable, "-c", script, str(directory)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(expected)


def test_the_stat_topic_is_the_one_timer(tmp_path, clock):
    """Control: declared, /xtomp/stat ticks every stats_interval, even with nobody listening."""
    config = write_config(
        tmp_path / "conf", '[server]\nstats_interval = "250ms"\n[destinations."/xtomp/stat"]\ntype = "topic"\n'
    )
    with BrokerProcess(config) as broker:
        before = activity(broker.pid)
        clock.wait(QUIET_TICKS)  # at least 2.9 s: 11 or more ticks of a 250 ms timer
        after = activity(broker.pid)
        assert after[0] - before[0] >= 6


def test_the_measurement_sees_timers(tmp_path, clock):
    """Control: heart-beating connections do wake the broker, so the test above can fail."""
    config = write_config(tmp_path / "conf", '[server]\nheart_beat_write_min = "200ms"\n')
    with BrokerProcess(config) as broker:
        sockets = idle_connections(broker.port, 5, heart_beat=b"0,200")
        before = activity(broker.pid)
        clock.wait(QUIET_TICKS)  # at least 2.9 s: 14 or more heart-beat intervals
        after = activity(broker.pid)
        assert after[0] - before[0] >= 7
        for sock in sockets:
            sock.close()
