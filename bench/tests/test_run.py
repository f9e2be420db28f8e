"""bench/run.py: core pinning (--pin), ratio formatting, the build directory, the sink on a port the OS
picks, one real pinned scenario against the sink, and the open-loop scenarios (with few messages)
against the sink and a real xtomp process with the benchmark's configuration: nothing lost or
duplicated, no window waited for, the broker's peak RSS in the record and the summary."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.run import (
    DEFAULT_BUILD,
    Broker,
    _ratio,
    build_dir,
    build_loadgen,
    run_scenario,
    scaled,
    scenarios,
    sink_broker,
    summary,
    xtomp_broker,
)

ROOT = Path(__file__).resolve().parents[2]
CORES = sorted(os.sched_getaffinity(0))


def never_started() -> subprocess.Popen[bytes]:
    raise AssertionError("not started in this test")


def test_pin_gives_a_single_threaded_broker_the_first_core_and_the_load_generator_the_last() -> None:
    broker = Broker("xtomp", 1, never_started)
    broker.pin()
    assert broker.cpus == {CORES[0]} and broker.loadgen_cpus == {CORES[-1]}


def test_pin_leaves_a_multi_threaded_broker_every_core() -> None:
    broker = Broker("rabbitmq", 1, never_started, single_threaded=False)
    broker.pin()
    assert broker.cpus is None and broker.loadgen_cpus == {CORES[-1]}


def test_the_load_generator_runs_on_its_core_only_when_pinned() -> None:
    probe = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    broker = Broker("xtomp", 1, never_started)
    assert broker.loadgen_affinity() is None
    broker.pin()
    result = subprocess.run(probe, capture_output=True, text=True, check=True, preexec_fn=broker.loadgen_affinity())
    assert json.loads(result.stdout) == [CORES[-1]]


@pytest.mark.parametrize(
    ("kind", "key", "xtomp", "rabbitmq", "shown"),
    [
        ("load", "deliveries_per_s", 999_136, 22_810, "43.80"),
        ("load", "p99_ms", 1.04, 38_548.4, "1/37,066"),  # lower is better: a ratio, not 0.00
        ("connections", "kb_per_connection", 2.24, 202.02, "1/90"),
        ("idle", "cpu_s_per_min", 0.0, 0.5, "0.00"),
        ("idle", "cpu_s_per_min", 0.0, 0.0, "-"),
    ],
)
def test_ratios_stay_readable_when_xtomp_is_far_lower(kind: str, key: str, xtomp: float, rabbitmq: float,
                                                       shown: str) -> None:
    scenario = "latency 10k/s" if key == "p99_ms" else "fanout 1→10" if kind == "load" else kind
    a = {"kind": kind, "scenario": scenario, key: xtomp}
    b = {"kind": kind, "scenario": scenario, key: rabbitmq}
    assert _ratio(a, b) == shown


def test_the_build_directory_comes_from_the_environment_else_bench_build(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XTOMP_BENCH_BUILD", raising=False)
    assert build_dir() == DEFAULT_BUILD == ROOT / "bench" / ".build"
    monkeypatch.setenv("XTOMP_BENCH_BUILD", str(tmp_path))
    assert build_dir() == tmp_path


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the load generator")


@needs_gcc
def test_the_sink_listens_on_the_port_the_os_gave_it(tmp_path: Path) -> None:
    binary = build_loadgen(tmp_path / "build")
    assert binary == tmp_path / "build" / "loadgen"
    broker = sink_broker(binary, 0)
    with broker:
        assert broker.port != 0
        with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as client:
            client.sendall(b"CONNECT\naccept-version:1.2\n\n\x00")
            assert client.makefile("rb").read(9) == b"CONNECTED"


@needs_gcc
def test_a_pinned_run_records_its_cores(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    build = tmp_path / "build"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--brokers", "sink", "--quick", "--pin", "--only", "^fanout 1→10 100B$",
         "--json", str(out), "--build-dir", str(build), "--sink-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (build / "loadgen").is_file()  # built here, not in the shared bench/.build
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert "error" not in record, record["error"]
    assert record["pinned"] == {"broker": [CORES[0]], "loadgen": [CORES[-1]]}
    assert record["lost"] == record["duplicated"] == record["reordered"] == 0
    assert record["delivered"] == record["expected"] > 0


OPEN_LOOP = [scenario for scenario in scenarios(quick=True) if scenario.name.startswith("open-loop")]


def test_the_open_loop_scenarios_publish_without_a_window() -> None:
    names = [scenario.name for scenario in OPEN_LOOP]
    assert names == [
        "open-loop fanout 1→10 100B", "open-loop fanout 1→100 100B",
        "open-loop queue 1→1 auto", "open-loop queue 1→1 client-individual",
        "open-loop queue 4→4 auto", "open-loop queue 4→4 client-individual",
    ]
    for scenario in OPEN_LOOP:
        assert "--open-loop" in scenario.args and "--window" not in scenario.args
        assert scenario.args[scenario.args.index("--size") + 1] == "100"
        assert scenario.needs_queues == (scenario.args[0] == "queue")


def small(name: str) -> Any:
    """The open-loop scenario ``name`` with at least 1,000 messages per publisher (a few thousand in all)."""
    (scenario,) = [s for s in OPEN_LOOP if s.name == name]
    return replace(scenario, args=scaled(scenario.args, 0.001))


def assert_open_loop_record(record: dict[str, Any]) -> None:
    assert "error" not in record, record["error"]
    assert record["open_loop"] is True and record["window_waits"] == 0
    assert record["lost"] == record["duplicated"] == 0 and record["idle_timeout_hit"] is False
    assert isinstance(record["peak_rss_mb"], float) and record["peak_rss_mb"] > 0
    assert "peak_rss_since" not in record  # reset when the scenario started


@needs_gcc
def test_open_loop_scenarios_against_the_sink_and_xtomp(tmp_path: Path) -> None:
    binary = build_loadgen(tmp_path / "build")
    records = []
    for broker in (sink_broker(binary, 0), xtomp_broker(tmp_path, port=0)):
        for name in ("open-loop fanout 1→10 100B", "open-loop queue 4→4 client-individual"):
            with broker:
                assert broker.port != 0
                record = run_scenario(broker, small(name), True, binary)
            if "no queue support" in record.get("error", ""):
                continue  # the queues plugin is not installed
            assert_open_loop_record(record)
            if record["mode"] == "fanout":
                assert record["delivered"] == record["expected"] == 10_000
            else:
                assert record["sent"] == record["received"] == 4000 and record["stale"] == 0
            records.append(record)
    table = summary(records, ["sink", "xtomp"])
    assert "| sink peak RSS MB | xtomp peak RSS MB |" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if line.startswith("| open-loop fanout 1→10 100B |"))
    assert row.count("|") == 7 and " - |" not in row  # both brokers' figures, both peaks


def test_the_summary_shows_the_peak_rss_of_load_scenarios_only() -> None:
    records = [
        {"broker": "xtomp", "scenario": "open-loop queue 1→1 auto", "kind": "load", "msgs_per_s": 1000.0,
         "peak_rss_mb": 51.4},
        {"broker": "rabbitmq", "scenario": "open-loop queue 1→1 auto", "kind": "load", "msgs_per_s": 500.0,
         "peak_rss_mb": 160.2},
        {"broker": "xtomp", "scenario": "idle, 0 connections", "kind": "idle", "cpu_s_per_min": 0.0, "rss_mb": 30},
    ]
    lines = summary(records, ["xtomp", "rabbitmq"]).splitlines()
    assert lines[0] == ("| scenario | unit | xtomp | rabbitmq | xtomp/RabbitMQ "
                        "| xtomp peak RSS MB | rabbitmq peak RSS MB |")
    assert lines[2] == "| open-loop queue 1→1 auto | msg/s | 1,000 | 500 | 2.00 | 51 | 160 |"
    assert lines[3].endswith("| - | - |")


def test_xtomp_workers_runs_two_processes_on_the_cluster_and_the_summary_compares_them(tmp_path: Path) -> None:
    broker = xtomp_broker(tmp_path, workers=2, redis="redis://127.0.0.1:6390/0")
    assert broker.name == "xtomp-workers" and not broker.single_threaded  # --pin leaves it every core
    text = (tmp_path / "xtomp-workers2" / "xtomp.toml").read_text()
    assert "[server]\nworkers = 2\n" in text and '[plugins.cluster]\nredis = "redis://127.0.0.1:6390/0"' in text
    records = [
        {"broker": "xtomp", "scenario": "fanout 1→1000 100B", "kind": "load", "mode": "fanout",
         "deliveries_per_s": 1000.0},
        {"broker": "xtomp-workers", "scenario": "fanout 1→1000 100B", "kind": "load", "mode": "fanout",
         "deliveries_per_s": 1500.0},
    ]
    lines = summary(records, ["xtomp", "xtomp-workers"]).splitlines()
    assert lines[0] == "| scenario | unit | xtomp | xtomp-workers | workers/one |"
    assert lines[2] == "| fanout 1→1000 100B | deliveries/s | 1,000 | 1,500 | 1.50 |"
