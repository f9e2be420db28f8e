"""The benchmark: run every scenario against xtomp (and RabbitMQ, or the sink) from one process.

    python -m bench.run                        # xtomp only (make bench)
    python -m bench.run --brokers xtomp,rabbitmq   # side by side (make bench-compare)
    python -m bench.run --quick                # shorter runs, for a smoke test
    python -m bench.run --pin                  # the load generator and xtomp on cores of their own
    python -m bench.run --only open-loop       # only the scenarios whose name matches (re.search)
    python -m bench.run --brokers xtomp,xtomp-workers --only '^fanout 1→1000 100B$'
                                               # workers = 2 on a Redis backplane against one process

Each scenario prints one JSON line (parameters, results, the broker's and the load
generator's CPU, the broker's peak RSS); a summary table follows, with xtomp/RabbitMQ ratios
when both ran and each broker's peak RSS in the load scenarios. The
load generator is C (bench/loadgen.c), built here with gcc (into bench/.build, or
``--build-dir``, or ``$XTOMP_BENCH_BUILD``), and its own ceiling is measured against its trivial
``sink`` broker in the same run (on a port the OS picks, unless ``--sink-port``).

Fan-out and queue scenarios are closed loop (the publishers stay within ``--window`` messages of
the consumers) except the ``open-loop`` ones: there the publishers send as fast as the broker's
sockets take their SENDs (loadgen ``--open-loop``), so they measure the broker under overload:
how fast it delivers, that it loses and duplicates nothing, and how much memory it takes
(``peak_rss_mb``: the broker process's VmHWM, reset when the scenario starts).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Where the load generator is built unless ``--build-dir`` or ``$XTOMP_BENCH_BUILD`` says otherwise.
DEFAULT_BUILD = HERE / ".build"
TICKS = os.sysconf("SC_CLK_TCK")

XTOMP_PORT = 61710
RABBIT_PORT = 61711
#: 0: the OS picks the sink's port, and the sink's first line on stderr says which.
SINK_PORT = 0
XTOMP_WS_PORT = 61713
RABBIT_WS_PORT = 61714

XTOMP_CONFIG = f"""
[server]
listen = ["127.0.0.1:{XTOMP_PORT}"]
log_level = "warning"
max_subscriptions = 100000
connection_limit_per_address = 0  # the load generator opens 10,000 connections from 127.0.0.1

[destination_defaults]
max_connections = 100000
max_messages = 100000

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
"""

XTOMP_QUEUES = """
[plugins.queues]

[destinations."/queue/*"]
type = "queue"
max_messages = 1000000      # RabbitMQ's queues are unbounded: measure speed, not the limit

# The open-loop scenarios' queues: producers faster than the consumers are slowed (their SENDs
# wait unread while the queue is full), not refused.
[destinations."/queue/open-*"]
type = "queue"
max_messages = 10000
when_full = "pause"
"""

XTOMP_WEBSOCKET = f"""
[plugins.websocket]
listen = ["ws://127.0.0.1:{XTOMP_WS_PORT}/ws"]
"""

XTOMP_FILTERS = """
[plugins.filters]
"""

#: ``xtomp-workers``: ``workers`` processes sharing the ports, topics spanning them through Redis.
XTOMP_WORKERS = """
[plugins.cluster]
redis = "{redis}"
"""


def build_dir() -> Path:
    """``$XTOMP_BENCH_BUILD`` if set, else bench/.build."""
    return Path(os.environ.get("XTOMP_BENCH_BUILD") or DEFAULT_BUILD)


def build_loadgen(build: Path | None = None) -> Path:
    """The load generator in ``build`` (default: :func:`build_dir`), compiled if missing or older than its source."""
    build = build_dir() if build is None else build
    build.mkdir(parents=True, exist_ok=True)
    binary = build / "loadgen"
    source = HERE / "loadgen.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source), "-lm"], check=True)
    return binary


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (RabbitMQ runs beam.smp under a shell script)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def process_name(pid: int) -> str:
    """The command name of ``pid`` (``beam.smp``, ``python3``), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def reset_peak_rss(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current RSS (``5`` to /proc/PID/clear_refs); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kb(pid: int) -> int | None:
    """``pid``'s VmHWM: the highest RSS it reached since it started or since :func:`reset_peak_rss`."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


@dataclass
class Broker:
    """A broker under test: how to start it, its port, and its processes for CPU and memory."""

    name: str
    port: int
    start: Callable[[], subprocess.Popen[bytes]]
    supports_queues: bool = True
    #: The WebSocket (STOMP over ws://HOST:PORT/ws) port, when the broker has one.
    ws_port: int | None = None
    #: xtomp's filter:NAME=VALUE and selector headers (RabbitMQ ignores both; the sink too).
    supports_filters: bool = False
    stop_command: list[str] | None = None
    #: Extra load generator options (credentials, virtual host) this broker needs.
    client_args: list[str] = field(default_factory=list)
    #: A slow broker sends this share of each load scenario's messages, so that a scenario
    #: ends in seconds rather than minutes: the figures are rates, so they stay comparable.
    message_scale: float = 1.0
    #: One process, one thread (xtomp, the sink): ``--pin`` gives it a core of its own.
    single_threaded: bool = True
    #: With ``--pin``: the cores of the broker (None: all) and of the load generator.
    cpus: set[int] | None = None
    loadgen_cpus: set[int] | None = None
    #: Reads the port the started process bound (it was told port 0); None: ``port`` is fixed.
    bound_port: Callable[[subprocess.Popen[bytes]], int] | None = None
    #: The command name of the process whose peak RSS is the broker's (RabbitMQ: beam.smp, under
    #: its start scripts); None: the started process itself.
    memory_process: str | None = None
    process: subprocess.Popen[bytes] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def pids(self) -> list[int]:
        assert self.process is not None
        return process_tree(self.process.pid)

    def memory_pid(self) -> int | None:
        """The process whose memory is the broker's (see ``memory_process``), None if it is missing."""
        assert self.process is not None
        if self.memory_process is None:
            return self.process.pid
        found = [pid for pid in self.pids() if process_name(pid) == self.memory_process]
        return found[0] if found else None

    def __enter__(self) -> Broker:
        self.process = self.start()
        if self.cpus is not None:
            os.sched_setaffinity(self.process.pid, self.cpus)
        if self.bound_port is not None:
            self.port = self.bound_port(self.process)
        else:
            wait_port(self.port)
        time.sleep(1.0)
        return self

    def loadgen_affinity(self) -> Callable[[], None] | None:
        """A ``preexec_fn`` that keeps a load generator process on its cores (``--pin``)."""
        cpus = self.loadgen_cpus
        if cpus is None:
            return None
        return lambda: os.sched_setaffinity(0, cpus)

    def pin(self) -> None:
        """Load generator on the last core; a single-threaded broker on the first (RabbitMQ
        keeps every core: it runs a scheduler thread per core and would lose one)."""
        last = max(os.sched_getaffinity(0))
        self.loadgen_cpus = {last}
        if self.single_threaded:
            self.cpus = {min(os.sched_getaffinity(0))}

    def __exit__(self, *exc: object) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, capture_output=True, timeout=60)
        assert self.process is not None
        if self.process.poll() is None:
            for pid in reversed(self.pids()):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def xtomp_broker(work: Path, loop: str = "uvloop", port: int = XTOMP_PORT, workers: int = 1, redis: str = "") -> Broker:
    """xtomp with the benchmark's configuration, on ``port`` (0: ports the OS picks, read from the
    broker's ``listening on`` log lines, for the WebSocket listener too). With ``workers`` above
    1: that many processes on the cluster plugin, on the Redis server at ``redis``."""
    config = work / (f"xtomp-{loop}" if workers == 1 else f"xtomp-workers{workers}")
    config.mkdir(exist_ok=True)
    queues = _installed("queues")
    websocket = _installed("websocket")
    filters = _installed("filters")
    text = (
        XTOMP_CONFIG
        + (XTOMP_QUEUES if queues else "")
        + (XTOMP_WEBSOCKET if websocket else "")
        + (XTOMP_FILTERS if filters else "")
    )
    if workers > 1:
        text = text.replace("[server]\n", f"[server]\nworkers = {workers}\n", 1) + XTOMP_WORKERS.format(redis=redis)
    if port == 0:
        for fixed in (XTOMP_PORT, XTOMP_WS_PORT):
            text = text.replace(f"127.0.0.1:{fixed}", "127.0.0.1:0")
        text = text.replace('log_level = "warning"', 'log_level = "info"')  # the 'listening on' lines
    (config / "xtomp.toml").write_text(text)
    env = dict(os.environ)
    if loop == "asyncio":
        env["XTOMP_NO_UVLOOP"] = "1"
    command = [sys.executable, "-m", "xtomp_core", "-c", str(config)]
    name = "xtomp" if loop == "uvloop" else "xtomp-asyncio"
    if workers > 1:
        name = "xtomp-workers"
    stderr = subprocess.PIPE if port == 0 else None
    broker = Broker(
        name, port, lambda: subprocess.Popen(command, env=env, stderr=stderr), supports_queues=queues,
        ws_port=XTOMP_WS_PORT if websocket else None, supports_filters=filters,
        single_threaded=workers == 1,
    )
    if port == 0:
        def bound(process: subprocess.Popen[bytes]) -> int:
            ports = xtomp_ports(process)
            broker.ws_port = ports.get("ws")
            return ports["tcp"]

        broker.bound_port = bound
    return broker


XTOMP_LISTENING = re.compile(rb"listening on (\w+)://.*:(\d+)")


def xtomp_ports(process: subprocess.Popen[bytes], timeout: float = 60.0) -> dict[str, int]:
    """The port of each listener scheme (tcp, ws) in xtomp's log, read up to its ``xtomp ready`` line;
    the rest of its log is read and dropped (logged at info level: a line per connection)."""
    assert process.stderr is not None
    ports: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    log = b""
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        log += line
        if not line:
            raise RuntimeError(f"xtomp did not start: {log.decode(errors='replace').strip()[-300:]}")
        match = XTOMP_LISTENING.search(line)
        if match:
            ports.setdefault(match.group(1).decode(), int(match.group(2)))
        if b"xtomp ready" in line:
            threading.Thread(target=_drop, args=(process.stderr,), daemon=True).start()
            return ports
    raise RuntimeError(f"xtomp was not ready after {timeout}s")


def _drop(stream: IO[bytes]) -> None:
    for _ in stream:
        pass


def _installed(plugin: str) -> bool:
    from xtomp_core.entrypoints import entry_points

    return any(point.name == plugin for point in entry_points("xtomp.plugins"))


def rabbitmq_broker(work: Path) -> Broker:
    if not shutil.which("rabbitmq-server"):
        raise SystemExit("rabbitmq-server is not installed: run `make bench-compare`")
    base = work / "rabbitmq"
    for directory in (base, base / "mnesia", base / "log"):
        directory.mkdir(exist_ok=True)
    (base / "rabbitmq.conf").write_text(
        f"stomp.listeners.tcp.1 = 127.0.0.1:{RABBIT_PORT}\n"
        f"web_stomp.tcp.ip = 127.0.0.1\nweb_stomp.tcp.port = {RABBIT_WS_PORT}\n"
        # Web-STOMP closes a WebSocket that sent nothing for 60 s (1000, no reason): the
        # benchmark's subscribers only listen.
        "web_stomp.ws_opts.idle_timeout = 3600000\n"
        "listeners.tcp.default = 127.0.0.1:5699\n"
        "stomp.default_user = guest\nstomp.default_pass = guest\n"
        "loopback_users = none\n"
    )
    (base / "enabled_plugins").write_text("[rabbitmq_stomp,rabbitmq_web_stomp].\n")
    # Debian's rabbitmq-server drops to the rabbitmq user when started as root.
    for path in [work, base, *base.rglob("*")]:
        shutil.chown(path, "rabbitmq", "rabbitmq")
    env = {
        **os.environ,
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_NODENAME": "xtompbench@localhost",
        "RABBITMQ_DIST_PORT": "25699",
    }
    stop = ["rabbitmqctl", "-n", "xtompbench@localhost", "stop"]
    # Debian's rabbitmq-server drops to the rabbitmq user through `su`, whose PAM session
    # resets the open-files limit to 1,024: RabbitMQ then cancels subscriptions past ~450
    # connections ("Server cancelled subscription"). setpriv changes user and keeps our limit.
    home = "/var/lib/rabbitmq"
    command = ["rabbitmq-server"]
    if os.getuid() == 0 and shutil.which("setpriv"):
        env["HOME"] = home
        command = ["setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups",
                   "/usr/lib/rabbitmq/bin/rabbitmq-server"]
    return Broker(
        "rabbitmq",
        RABBIT_PORT,
        lambda: subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        stop_command=stop,
        client_args=["--login", "guest", "--passcode", "guest", "--vhost", "/"],
        ws_port=RABBIT_WS_PORT,
        memory_process="beam.smp",
        # At ~20k deliveries/s a full fan-out (3M deliveries) outlasts the 120 s timeout.
        message_scale=0.1,
        single_threaded=False,
    )


def sink_broker(binary: Path, port: int = SINK_PORT) -> Broker:
    """The load generator's trivial broker on ``port`` (0: the OS picks; the sink says which)."""
    command = [str(binary), "sink", "--port", str(port)]
    return Broker(
        "sink", port, lambda: subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
        bound_port=sink_port,
    )


SINK_LISTENING = re.compile(rb"listening on .*:(\d+)$")


def sink_port(process: subprocess.Popen[bytes]) -> int:
    """The port in the sink's first line (``loadgen sink: listening on HOST:PORT``, written once it
    listens); the rest of its stderr is copied to ours."""
    assert process.stderr is not None
    line = process.stderr.readline()
    match = SINK_LISTENING.search(line.strip())
    if not match:
        rest = process.stderr.read() if process.poll() is not None else b""
        raise RuntimeError(f"the sink did not start: {(line + rest).decode(errors='replace').strip()[-300:]}")
    threading.Thread(target=_copy_stderr, args=(process.stderr,), daemon=True).start()
    return int(match.group(1))


def _copy_stderr(stream: IO[bytes]) -> None:
    for line in stream:
        sys.stderr.buffer.write(line)
        sys.stderr.flush()


# -- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    args: list[str]
    needs_queues: bool = False
    needs_filters: bool = False
    kind: str = "load"  # load | connections | idle
    transport: str = "tcp"  # tcp | ws (every connection of the scenario)


def scenarios(quick: bool) -> list[Scenario]:
    n = 50_000 if quick else 300_000
    n100 = 10_000 if quick else 50_000
    seconds = "3" if quick else "10"
    n1000 = 2_000 if quick else 10_000
    fan = ["fanout", "--destination", "/topic/bench"]
    # 1 publisher, 1,000 subscribers: unfiltered (every message to all), then each subscriber
    # with its own filter, so each message goes to one: indexed (filter, selector equality)
    # and not indexed (LIKE: 1,000 selector evaluations per message).
    fan1000 = fan + ["--publishers", "1", "--subscribers", "1000", "--size", "100", "--window", "2000"]
    filtered = fan1000 + ["--filter-header", "k", "--messages"]
    queue = ["queue", "--destination", "/queue/bench", "--window", "1000"]
    # Open loop: no window, the publishers write as fast as the broker takes their SENDs; the
    # queues are /queue/open-* (xtomp: max_messages 10,000, when_full = "pause").
    open_fan = ["fanout", "--destination", "/topic/open-bench", "--open-loop", "--size", "100", "--publishers", "1"]
    open_queue = ["queue", "--destination", "/queue/open-bench", "--open-loop", "--size", "100"]
    open_q1 = open_queue + ["--producers", "1", "--consumers", "1", "--messages", str(n), "--prefetch", "500"]
    open_q4 = open_queue + ["--producers", "4", "--consumers", "4", "--messages", str(n // 4), "--prefetch", "200"]
    return [
        Scenario("fanout 1→10 100B", fan + ["--publishers", "1", "--subscribers", "10", "--messages", str(n), "--size", "100"]),
        Scenario("fanout 4→4 100B", fan + ["--publishers", "4", "--subscribers", "4", "--messages", str(n // 4), "--size", "100"]),
        Scenario("fanout 1→100 100B", fan + ["--publishers", "1", "--subscribers", "100", "--messages", str(n100), "--size", "100"]),
        Scenario("fanout 1→1000 100B", fan1000 + ["--messages", str(n1000)]),
        Scenario("fanout 1→1000 filter:k=vI", filtered + [str(n), "--filter-engine", "filter"], needs_filters=True),
        Scenario("fanout 1→1000 selector k = 'vI'", filtered + [str(n), "--filter-engine", "selector"], needs_filters=True),
        Scenario("fanout 1→1000 selector k LIKE 'vI'", filtered + [str(n100 // 5), "--filter-engine", "selector-like"],
                 needs_filters=True),
        Scenario("fanout 1→10 4KiB", fan + ["--publishers", "1", "--subscribers", "10", "--messages", str(n // 5), "--size", "4096", "--window", "200"]),
        # STOMP over WebSocket (ws://HOST:PORT/ws): the same fan-outs, every client a WebSocket one.
        Scenario("ws fanout 1→10 100B", fan + ["--publishers", "1", "--subscribers", "10", "--messages", str(n), "--size", "100", "--transport", "ws"], transport="ws"),
        Scenario("ws fanout 1→100 100B", fan + ["--publishers", "1", "--subscribers", "100", "--messages", str(n100), "--size", "100", "--transport", "ws"], transport="ws"),
        Scenario("queue 1→1 auto", queue + ["--producers", "1", "--consumers", "1", "--messages", str(n), "--size", "100", "--ack", "auto", "--prefetch", "500"], True),
        Scenario("queue 1→1 client-individual", queue + ["--producers", "1", "--consumers", "1", "--messages", str(n), "--size", "100", "--ack", "client-individual", "--prefetch", "500"], True),
        Scenario("queue 4→4 auto", queue + ["--producers", "4", "--consumers", "4", "--messages", str(n // 4), "--size", "100", "--ack", "auto", "--prefetch", "200"], True),
        Scenario("queue 4→4 client-individual", queue + ["--producers", "4", "--consumers", "4", "--messages", str(n // 4), "--size", "100", "--ack", "client-individual", "--prefetch", "200"], True),
        Scenario("open-loop fanout 1→10 100B", open_fan + ["--subscribers", "10", "--messages", str(n)]),
        Scenario("open-loop fanout 1→100 100B", open_fan + ["--subscribers", "100", "--messages", str(n100)]),
        Scenario("open-loop queue 1→1 auto", open_q1 + ["--ack", "auto"], True),
        Scenario("open-loop queue 1→1 client-individual", open_q1 + ["--ack", "client-individual"], True),
        Scenario("open-loop queue 4→4 auto", open_q4 + ["--ack", "auto"], True),
        Scenario("open-loop queue 4→4 client-individual", open_q4 + ["--ack", "client-individual"], True),
        Scenario("latency 1k/s ×10", ["latency", "--rate", "1000", "--subscribers", "10", "--duration", seconds, "--size", "100", "--destination", "/topic/latency"]),
        Scenario("latency 10k/s ×10", ["latency", "--rate", "10000", "--subscribers", "10", "--duration", seconds, "--size", "100", "--destination", "/topic/latency"]),
        Scenario("connections 1,000", ["1000"], kind="connections"),
        Scenario("connections 10,000", ["10000"], kind="connections"),
        Scenario("idle, 0 connections", ["0"], kind="idle"),
        Scenario("idle, 1,000 connections", ["1000"], kind="idle"),
    ]


def loadgen(binary: Path, args: list[str], broker: Broker, timeout: float = 300,
            port: int | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [str(binary), *args, *broker.client_args, "--port", str(port or broker.port), "--timeout", "120"],
        capture_output=True, text=True, timeout=timeout, preexec_fn=broker.loadgen_affinity(),
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-300:] or f"exit {result.returncode}"}
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def scaled(args: list[str], scale: float) -> list[str]:
    """``args`` with its ``--messages`` count multiplied by ``scale`` (at least 1,000)."""
    if scale == 1.0 or "--messages" not in args:
        return args
    at = args.index("--messages") + 1
    return [*args[:at], str(max(1000, int(int(args[at]) * scale))), *args[at + 1:]]


@contextmanager
def idle_connections(binary: Path, broker: Broker, count: int) -> Iterator[dict[str, Any]]:
    """Hold ``count`` subscribed connections open (loadgen ``connections`` mode)."""
    if count == 0:
        yield {"connected": 0}
        return
    process = subprocess.Popen(
        [str(binary), "connections", "--count", str(count), "--destination", "/topic/idle", "--port", str(broker.port),
         "--timeout", "120", *broker.client_args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=broker.loadgen_affinity(),
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()
    if not line:
        error = process.stderr.read() if process.stderr else ""
        process.wait()
        raise RuntimeError(f"connections mode failed: {error.strip()[-300:]}")
    try:
        yield json.loads(line)
    finally:
        process.stdin.close()
        process.wait(60)


def run_scenario(broker: Broker, scenario: Scenario, quick: bool, binary: Path) -> dict[str, Any]:
    pids = broker.pids()
    record: dict[str, Any] = {"broker": broker.name, "scenario": scenario.name, "kind": scenario.kind}
    if broker.loadgen_cpus is not None:
        record["pinned"] = {"broker": sorted(broker.cpus) if broker.cpus else "all", "loadgen": sorted(broker.loadgen_cpus)}
    if scenario.kind == "connections":
        count = int(scenario.args[0])
        time.sleep(1.0)
        before = rss_kb(pids)
        started = time.monotonic()
        try:
            with idle_connections(binary, broker, count) as ready:
                connect_s = time.monotonic() - started
                time.sleep(3.0)
                after = rss_kb(broker.pids())
                record.update(
                    connections=ready.get("connected", count),
                    connect_s=round(connect_s, 2),
                    rss_before_mb=round(before / 1024, 1),
                    rss_after_mb=round(after / 1024, 1),
                    kb_per_connection=round((after - before) / max(count, 1), 2),
                    kb_for_100k_mb=round((after - before) / max(count, 1) * 100_000 / 1024),
                )
        except RuntimeError as error:
            record["error"] = str(error)
        return record
    if scenario.kind == "idle":
        count = int(scenario.args[0])
        window = 10.0 if quick else 30.0
        try:
            with idle_connections(binary, broker, count):
                time.sleep(2.0)
                pids = broker.pids()
                cpu_before = cpu_seconds(pids)
                time.sleep(window)
                cpu_after = cpu_seconds(pids)
                record.update(
                    connections=count,
                    window_s=window,
                    cpu_s_per_min=round((cpu_after - cpu_before) * 60 / window, 3),
                    rss_mb=round(rss_kb(pids) / 1024, 1),
                )
        except RuntimeError as error:
            record["error"] = str(error)
        return record
    if scenario.needs_queues and not broker.supports_queues:
        record["error"] = "no queue support (plugin not installed)"
        return record
    if scenario.transport == "ws" and broker.ws_port is None:
        record["error"] = "no WebSocket listener (plugin not installed)"
        return record
    if scenario.needs_filters and not broker.supports_filters:
        record["error"] = "no filters or selectors"
        return record
    memory = broker.memory_pid()
    # The peak of this scenario, not of the broker's start-up (a fresh broker runs each scenario).
    peak_reset = memory is not None and reset_peak_rss(memory)
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    result = loadgen(binary, scaled(scenario.args, broker.message_scale), broker, port=broker.ws_port if scenario.transport == "ws" else None)
    wall = time.monotonic() - started
    cpu_used = cpu_seconds(broker.pids()) - cpu_before
    record.update(result)
    record["broker_cpu_s"] = round(cpu_used, 2)
    record["broker_cpu_share"] = round(cpu_used / wall, 2) if wall else None
    record["broker_rss_mb"] = round(rss_kb(broker.pids()) / 1024, 1)
    peak = peak_rss_kb(memory) if memory is not None else None
    record["peak_rss_mb"] = round(peak / 1024, 1) if peak is not None else None
    if peak is not None and not peak_reset:
        record["peak_rss_since"] = "broker start"  # VmHWM could not be reset
    return record


# -- reporting ---------------------------------------------------------------------------------

HEADLINE = {
    "fanout": ("deliveries_per_s", "deliveries/s"),
    "queue": ("msgs_per_s", "msg/s"),
    "latency": ("p99_ms", "p99 ms"),
    "connections": ("kb_per_connection", "KB/conn"),
    "idle": ("cpu_s_per_min", "CPU s/min"),
}


def _kind(record: dict[str, Any]) -> str:
    kind = str(record["kind"])
    if kind != "load":
        return kind
    words = str(record["scenario"]).split()
    return words[1] if words[0] in ("ws", "open-loop") else words[0]


def headline(record: dict[str, Any]) -> tuple[str, str]:
    kind = _kind(record)
    key, unit = HEADLINE[kind]
    if "error" in record:
        return "error", unit
    value = record.get(key)
    if kind == "fanout" or kind == "queue":
        bad = sum(record.get(name, 0) for name in ("lost", "duplicated", "reordered", "misrouted"))
        text = f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)
        return (text + (f" ({bad} bad)" if bad else "")), unit
    if kind == "idle":
        return f"{value} ({record.get('rss_mb')} MB)", unit
    if kind == "connections":
        return f"{value} ({record.get('rss_after_mb')} MB)", unit
    return f"{value}", unit


def summary(records: list[dict[str, Any]], brokers: list[str]) -> str:
    by_key = {(r["broker"], r["scenario"]): r for r in records}
    names = list(dict.fromkeys(r["scenario"] for r in records))
    header = ["scenario", "unit", *brokers]
    ratio = "xtomp" in brokers and "rabbitmq" in brokers
    if ratio:
        header.append("xtomp/RabbitMQ")
    scaling = "xtomp" in brokers and "xtomp-workers" in brokers
    if scaling:
        header.append("workers/one")
    # Each broker's peak RSS during the load scenarios (connections and idle show theirs inline).
    memory = any(r.get("peak_rss_mb") is not None for r in records)
    if memory:
        header += [f"{broker} peak RSS MB" for broker in brokers]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in names:
        row = [name]
        unit = ""
        values = []
        for broker in brokers:
            record = by_key.get((broker, name))
            if record is None:
                values.append("-")
                continue
            text, unit = headline(record)
            values.append(text)
        row.append(unit)
        row += values
        if ratio:
            a, b = by_key.get(("xtomp", name)), by_key.get(("rabbitmq", name))
            row.append(_ratio(a, b))
        if scaling:
            row.append(_ratio(by_key.get(("xtomp-workers", name)), by_key.get(("xtomp", name))))
        if memory:
            row += [_peak_rss(by_key.get((broker, name))) for broker in brokers]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _peak_rss(record: dict[str, Any] | None) -> str:
    value = record.get("peak_rss_mb") if record else None
    return f"{value:,.0f}" if isinstance(value, (int, float)) else "-"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or "error" in a or "error" in b:
        return "-"
    key, _ = HEADLINE[_kind(a)]
    x, y = a.get(key), b.get(key)
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or y == 0:
        return "-"
    if x and x / y < 0.1:
        return f"1/{y / x:,.0f}"  # lower is better (latency, memory): 0.00 would hide how much
    return f"{x / y:.2f}"


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}, nofile limit {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="sink,xtomp",
                        help="comma list of sink, xtomp, xtomp-asyncio, xtomp-workers (workers = 2 on the cluster "
                             "plugin, with a redis-server of its own), rabbitmq")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--only", default="",
                        help="run the scenarios whose name matches this regular expression (re.search: plain "
                             "text matches anywhere; --only open-loop, --only '^fanout 1→10 100B$')")
    parser.add_argument("--json", type=Path, help="also append the JSON lines to this file")
    parser.add_argument("--pin", action="store_true",
                        help="load generator on the last core, a single-threaded broker on the first")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where to build the load generator (default: $XTOMP_BENCH_BUILD, else bench/.build)")
    parser.add_argument("--sink-port", type=int, default=SINK_PORT, help="the sink's port (default 0: the OS picks)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    binary = build_loadgen(args.build_dir)
    work = Path(tempfile.mkdtemp(prefix="xtomp-bench-"))
    brokers = [name.strip() for name in args.brokers.split(",") if name.strip()]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {machine()}", flush=True)
    records: list[dict[str, Any]] = []
    redis: Any = None
    for name in brokers:
        if name == "sink":
            broker = sink_broker(binary, args.sink_port)
        elif name == "rabbitmq":
            broker = rabbitmq_broker(work)
        elif name == "xtomp-asyncio":
            broker = xtomp_broker(work, "asyncio")
        elif name == "xtomp-workers":
            if redis is None:
                from xtomp_testing import RedisServer  # redis-server without persistence, on a free port

                redis = RedisServer().start()
            broker = xtomp_broker(work, workers=2, redis=redis.url)
        else:
            broker = xtomp_broker(work)
        if args.pin:
            broker.pin()
        for scenario in scenarios(args.quick):
            if args.only and not re.search(args.only, scenario.name):
                continue
            if name == "sink" and (
                scenario.kind != "load"
                or scenario.name.startswith("latency")
                or scenario.transport != "tcp"
                or scenario.needs_filters
            ):
                continue  # the sink measures the load generator's ceiling only (no WebSocket, no filters)
            # A fresh broker per scenario: memory figures must not inherit earlier runs' heaps.
            with broker:
                record = run_scenario(broker, scenario, args.quick, binary)
                line = json.dumps(record, ensure_ascii=False)
                print(line, flush=True)
                if args.json:
                    with args.json.open("a") as handle:
                        handle.write(line + "\n")
                records.append(record)
    if redis is not None:
        redis.stop()
    print()
    print(summary(records, brokers))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
