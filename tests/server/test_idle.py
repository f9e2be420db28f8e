"""Zero work at idle: a broker with idle connections makes no wakeups (no timers, no polling).

A behaviour test, not a timing test: it counts the broker process's context switches and
CPU ticks over a quiet period, read from /proc, with and without idle connections.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from xtomp_core.testing import BrokerProcess, write_config

QUIET_SECONDS = 3.0


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


@pytest.mark.parametrize("connections", [0, 200])
def test_idle_broker_makes_no_wakeups(tmp_path, connections):
    config = write_config(tmp_path / "conf")
    with BrokerProcess(config) as broker:
        sockets = idle_connections(broker.port, connections)
        time.sleep(0.5)  # let start-up and connection work settle
        before = activity(broker.pid)
        time.sleep(QUIET_SECONDS)
        after = activity(broker.pid)
        wakeups, ticks = after[0] - before[0], after[1] - before[1]
        assert wakeups <= 2, f"{wakeups} context switches in {QUIET_SECONDS}s of idleness"
        assert ticks <= 1, f"{ticks} CPU ticks in {QUIET_SECONDS}s of idleness"
        for sock in sockets:
            sock.close()


def test_the_measurement_sees_timers(tmp_path):
    """Control: heart-beating connections do wake the broker, so the test above can fail."""
    config = write_config(tmp_path / "conf", '[server]\nheart_beat_write_min = "200ms"\n')
    with BrokerProcess(config) as broker:
        sockets = idle_connections(broker.port, 5, heart_beat=b"0,200")
        before = activity(broker.pid)
        time.sleep(1.0)
        after = activity(broker.pid)
        assert after[0] - before[0] >= 5
        for sock in sockets:
            sock.close()
