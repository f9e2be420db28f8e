"""bench/footprint.py: one JSON line per step, the idle broker last (on the port the OS gave its port-0
listener), and a clear refusal when its port is taken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.footprint import listening_ports

ROOT = Path(__file__).resolve().parents[2]


def slim_config(directory: Path, port: int) -> Path:
    """Core and topics only, on ``port`` (the bundled conf.d/ would take 61613; 0: the OS picks)."""
    (directory / "00-core.toml").write_text(f'[server]\nlisten = ["127.0.0.1:{port}"]\n')
    (directory / "10-topics.toml").write_text('[plugins.topics]\n\n[destinations."/topic/*"]\ntype = "topic"\n')
    return directory


def footprint(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.footprint", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=90)


def test_every_step_and_the_idle_broker_are_measured(tmp_path: Path) -> None:
    result = footprint(slim_config(tmp_path, 0))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows[0]["step"].startswith("python -c pass")
    assert rows[-1]["step"] == f"idle broker, {tmp_path}"
    assert rows[-1]["port"] > 0  # the port the OS gave the broker, read back from it
    # Each step includes the ones before it, so RSS grows (allowing a little page noise) and
    # "adds" is the difference from the previous line.
    for before, after in zip(rows, rows[1:-1]):
        assert after["rss_mb"] >= before["rss_mb"] - 0.5
        assert after["adds_mb"] == pytest.approx(after["rss_mb"] - before["rss_mb"], abs=0.11)
    assert rows[0]["rss_mb"] > 1 and rows[-1]["peak_mb"] >= rows[-1]["rss_mb"]
    assert "| step | RSS MB | adds MB |" in result.stdout


def test_a_busy_port_is_refused_by_name(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        result = footprint(slim_config(tmp_path, port))
    assert result.returncode != 0
    assert f"something already listens on 127.0.0.1:{port}: stop it first" in result.stderr


def test_the_ports_a_process_listens_on_are_read_from_proc() -> None:
    with socket.socket() as listening, socket.socket() as bound_only:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        bound_only.bind(("127.0.0.1", 0))
        ports = listening_ports(os.getpid())
        assert listening.getsockname()[1] in ports
        assert bound_only.getsockname()[1] not in ports
