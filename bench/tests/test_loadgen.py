"""The C load generator (bench/loadgen.c) against its own trivial sink broker.

Compiles the generator into a temporary directory (with -Werror: it must build without a
warning), runs every mode with small counts against ``loadgen sink`` and checks the one JSON
line each run prints; the sink's fault-injection hooks prove that losses and duplicates are
counted, and a run against a silent server proves that --timeout ends it. The last test
prints the generator's ceiling (fan-out 1->10, 200,000 messages) without asserting on speed.

The ``--open-loop`` tests run unpaced publishers against the sink and a real xtomp (topics and
a queue with ``when_full = "pause"``) and check that nothing is lost or duplicated and that no
publisher waited for a window; a subscriber that never reads proves that such a run ends on
its quiet timeout, lost counted, rather than hanging.

Run: ``.venv/bin/pytest bench/tests/test_loadgen.py`` (add ``-s`` to see every JSON line).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xtomp_testing import BrokerThread

SOURCE = Path(__file__).resolve().parents[1] / "loadgen.c"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("loadgen") / "loadgen"
    build = subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(SOURCE), "-lm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    assert build.stderr == "", build.stderr
    return binary


class Sink:
    def __init__(self, binary: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "sink", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"listening on .*:(\d+)$", line.strip())
        assert match, f"sink did not start: {line!r}"
        self.port = int(match.group(1))

    def stop(self) -> dict[str, Any]:
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err
        return one_json_line(out)


@pytest.fixture
def sink(loadgen: Path) -> Iterator[Sink]:
    server = Sink(loadgen)
    yield server
    if server.proc.poll() is None:
        server.stop()


def one_json_line(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stdout, got {stdout!r}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def run(binary: Path, mode: str, port: int, *args: str, expect_rc: int = 0, timeout: float = 60) -> Any:
    proc = subprocess.run(
        [str(binary), mode, "--port", str(port), "--timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == expect_rc, f"rc={proc.returncode} stderr={proc.stderr}"
    if expect_rc:
        return proc
    result = one_json_line(proc.stdout)
    assert result["mode"] == mode
    for key in ("elapsed_s", "loadgen_cpu_s", "loadgen_cpu_share"):
        assert isinstance(result[key], (int, float)) and result[key] >= 0, key
    return result


def test_fanout_counts_every_delivery(loadgen: Path, sink: Sink) -> None:
    result = run(loadgen, "fanout", sink.port, "--publishers", "2", "--subscribers", "3", "--messages", "5000",
                 "--size", "100", "--window", "100")
    assert result["published"] == 10_000
    assert result["expected"] == result["delivered"] == 30_000
    assert (result["lost"], result["duplicated"], result["reordered"]) == (0, 0, 0)
    assert result["idle_timeout_hit"] is False
    assert result["deliveries_per_s"] > 0
    stats = sink.stop()
    assert stats["sends"] == 10_000 and stats["messages_out"] == 30_000


def test_fanout_empty_and_large_bodies(loadgen: Path, sink: Sink) -> None:
    for size in ("0", "300000"):  # a frame larger than the 256 KiB read buffer
        result = run(loadgen, "fanout", sink.port, "--subscribers", "2", "--messages", "50", "--size", size,
                     "--window", "5")
        assert result["delivered"] == 100 and result["lost"] == 0


@pytest.mark.parametrize("ack", ["auto", "client-individual", "client"])
def test_queue_exactly_once(loadgen: Path, sink: Sink, ack: str) -> None:
    result = run(loadgen, "queue", sink.port, "--producers", "2", "--consumers", "3", "--messages", "3000",
                 "--ack", ack, "--prefetch", "10", "--destination", "/queue/t")
    assert result["sent"] == result["received"] == 6000
    assert (result["lost"], result["duplicated"], result["stale"]) == (0, 0, 0)
    assert sum(result["per_consumer"]) == 6000 and len(result["per_consumer"]) == 3
    assert min(result["per_consumer"]) > 0  # the sink deals round-robin
    assert result["msgs_per_s"] > 0


def test_latency(loadgen: Path, sink: Sink) -> None:
    started = time.monotonic()
    result = run(loadgen, "latency", sink.port, "--rate", "2000", "--subscribers", "3", "--duration", "0.5")
    wall = time.monotonic() - started
    assert result["sent"] == 1000
    assert result["count"] == 3000 and result["lost"] == 0 and result["duplicated"] == 0
    assert 0 <= result["min_ms"] <= result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"] <= result["max_ms"]
    # Never ahead of the schedule: message i goes out at i/rate after the first at the earliest,
    # so the achieved rate is at most the configured one (however slow the machine, only lower).
    assert result["achieved_rate"] <= 2000
    # And the sends fit inside the run this test timed around the process.
    assert result["achieved_rate"] >= (result["sent"] - 1) / wall


def test_connections_hold_until_stdin_closes(loadgen: Path, sink: Sink) -> None:
    proc = subprocess.Popen(
        [str(loadgen), "connections", "--port", str(sink.port), "--count", "300"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    result = json.loads(proc.stdout.readline())
    assert result["mode"] == "connections" and result["ready"] is True and result["connected"] == 300
    # Held, not just counted: the 300 sockets are open now, after the ready line.
    assert open_sockets(proc.pid) == 300
    # A window for a generator that exits on its own to show it; it waits for nothing, so a
    # correct generator passes on any machine.
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    assert open_sockets(proc.pid) == 300
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""
    assert sink.stop()["connections"] == 300


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += fd.readlink().name.startswith("socket:[")
        except OSError:
            continue  # closed since the listing
    return count


def test_connections_hold_seconds(loadgen: Path, sink: Sink) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [str(loadgen), "connections", "--port", str(sink.port), "--count", "50", "--hold-seconds", "0.3"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 0, proc.stderr
    assert one_json_line(proc.stdout)["connected"] == 50
    assert time.monotonic() - started >= 0.3  # at least the configured --hold-seconds (same clock)


def test_losses_are_counted_not_waited_for(loadgen: Path) -> None:
    sink = Sink(loadgen, "--drop-every", "1000")
    try:
        result = run(loadgen, "fanout", sink.port, "--subscribers", "2", "--messages", "10000",
                     "--idle-timeout", "0.5")
    finally:
        stats = sink.stop()
    assert result["idle_timeout_hit"] is True
    assert result["lost"] == 20  # every 1000th of 20,000 deliveries
    assert result["delivered"] == 19_980 and result["duplicated"] == 0
    assert stats["drop_every"] == 1000


def test_duplicates_are_counted(loadgen: Path) -> None:
    sink = Sink(loadgen, "--dup-every", "500")
    try:
        fanout = run(loadgen, "fanout", sink.port, "--subscribers", "2", "--messages", "5000")
        queue = run(loadgen, "queue", sink.port, "--consumers", "2", "--messages", "5000",
                    "--ack", "client-individual")
    finally:
        sink.stop()
    assert fanout["lost"] == 0 and fanout["duplicated"] == 20 and fanout["delivered"] == 10_020
    assert queue["lost"] == 0 and queue["duplicated"] == 10 and queue["received"] == 5010


def test_error_frame_is_reported(loadgen: Path) -> None:
    sink = Sink(loadgen, "--login", "guest", "--passcode", "secret")
    try:
        proc = run(loadgen, "fanout", sink.port, "--messages", "10", "--login", "guest", "--passcode", "wrong",
                   expect_rc=2)
        assert proc.stdout == ""
        assert "ERROR frame" in proc.stderr and "auth err" in proc.stderr
        ok = run(loadgen, "fanout", sink.port, "--messages", "10", "--login", "guest", "--passcode", "secret")
        assert ok["delivered"] == 100
    finally:
        sink.stop()


def test_connection_refused_and_timeout(loadgen: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run(
            [str(loadgen), "fanout", "--port", str(port), "--subscribers", "2", "--timeout", "0.5"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        waited = time.monotonic() - started
        # Ended by --timeout (its message names it), not by the 5 s --idle-timeout nor by the
        # test's own deadline above; and not before the configured 0.5 s.
        assert proc.returncode == 2 and proc.stdout == ""
        assert "timeout: 0.5 s passed" in proc.stderr and "--timeout)" in proc.stderr, proc.stderr
        assert waited >= 0.5
    proc = subprocess.run([str(loadgen), "fanout", "--port", str(port)], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and "Connection refused" in proc.stderr
    proc = subprocess.run([str(loadgen), "fanout", "--no-such-option", "1"], capture_output=True, text=True)
    assert proc.returncode == 1


def test_ceiling_fanout_1_to_10(loadgen: Path, sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(loadgen, "fanout", sink.port, "--subscribers", "10", "--messages", "200000", "--size", "100")
    assert result["lost"] == 0 and result["delivered"] == 2_000_000
    with capsys.disabled():
        print(
            f"\nloadgen ceiling against the sink, fan-out 1->10, 100 B: "
            f"{result['deliveries_per_s']:,.0f} deliveries/s, loadgen CPU share {result['loadgen_cpu_share']:.2f}"
        )


# -- --transport ws, against xtomp's WebSocket listener (the sink speaks plain STOMP only) ---------

WS_CONFIG = """
[plugins.websocket]
listen = ["ws://127.0.0.1:0/ws"]
"""


@pytest.fixture
def ws_port(xtomp_factory: Callable[..., BrokerThread]) -> int:
    pytest.importorskip("xtomp_websocket", reason="needs the websocket plugin (plugins/websocket)")
    broker = xtomp_factory(WS_CONFIG)
    return int(broker.addresses("ws")[0][1])


def test_websocket_fanout_latency_and_connections(loadgen: Path, ws_port: int) -> None:
    common = ("--transport", "ws", "--path", "/ws")
    result = run(loadgen, "fanout", ws_port, *common, "--publishers", "2", "--subscribers", "3",
                 "--messages", "2000", "--window", "100")
    assert result["transport"] == "ws" and result["path"] == "/ws"
    assert result["delivered"] == 12_000 and (result["lost"], result["duplicated"], result["reordered"]) == (0, 0, 0)
    for size in ("0", "200", "70000"):  # every WebSocket length form, both directions
        sized = run(loadgen, "fanout", ws_port, *common, "--subscribers", "2", "--messages", "50", "--size", size,
                    "--window", "5")
        assert sized["delivered"] == 100 and sized["lost"] == 0
    latency = run(loadgen, "latency", ws_port, *common, "--rate", "2000", "--subscribers", "2", "--duration", "0.3")
    assert latency["count"] == 1200 and latency["lost"] == 0
    proc = subprocess.run(
        [str(loadgen), "connections", "--port", str(ws_port), *common, "--count", "100", "--hold-seconds", "0.1"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    assert one_json_line(proc.stdout)["connected"] == 100


def test_websocket_upgrade_refused_is_reported(loadgen: Path, ws_port: int) -> None:
    proc = run(loadgen, "fanout", ws_port, "--transport", "ws", "--path", "/nope", "--messages", "10", expect_rc=2)
    assert "WebSocket upgrade refused" in proc.stderr and "404" in proc.stderr


def test_websocket_options_are_checked(loadgen: Path) -> None:
    for args in (["sink", "--port", "0", "--transport", "ws"], ["fanout", "--transport", "udp"],
                 ["fanout", "--transport", "ws", "--path", "ws"]):
        proc = subprocess.run([str(loadgen), *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 1, (args, proc.stderr)


def test_filtered_fanout_counts_misrouted_deliveries(loadgen: Path, sink: Sink) -> None:
    """The sink ignores filters, so every subscriber gets every message: all but one copy are misrouted."""
    result = run(loadgen, "fanout", sink.port, "--subscribers", "4", "--messages", "400", "--filter-header", "k",
                 "--idle-timeout", "0.5")
    assert result["filter_header"] == "k" and result["filter_engine"] == "filter"
    assert result["expected"] == 400 and result["lost"] == 0
    assert result["delivered"] == 1600 and result["misrouted"] == 1200 and result["duplicated"] == 1200


@pytest.mark.parametrize("engine", ["filter", "selector", "selector-like"])
def test_filtered_fanout_against_xtomp(loadgen: Path, xtomp_factory: Any, engine: str) -> None:
    """Each subscriber filters on its own value; xtomp (filters plugin) routes each message to one."""
    from xtomp_core.entrypoints import entry_points

    if not any(point.name == "filters" for point in entry_points("xtomp.plugins")):
        pytest.skip("the filters plugin is not installed")
    broker = xtomp_factory("[plugins.filters]\n")
    result = run(loadgen, "fanout", broker.port, "--publishers", "2", "--subscribers", "50", "--messages", "2000",
                 "--filter-header", "k", "--filter-engine", engine, "--window", "200")
    assert result["expected"] == result["delivered"] == 4000
    assert (result["lost"], result["duplicated"], result["reordered"], result["misrouted"]) == (0, 0, 0, 0)


def test_filter_options_are_checked(loadgen: Path) -> None:
    for args in (["--filter-engine", "selector"], ["--filter-header", "a:b"], ["--filter-header", "k",
                                                                                "--filter-engine", "sql"]):
        proc = subprocess.run([str(loadgen), "fanout", *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 1, args


# -- --open-loop: no window, the publishers write as fast as the sockets take it -------------------


def assert_open_loop(result: dict[str, Any]) -> None:
    """An open-loop run: no window, so the publishers never waited for one, and nothing was lost."""
    assert result["open_loop"] is True and result["window"] is None
    assert result["window_waits"] == 0
    assert result["idle_timeout_hit"] is False
    assert (result["lost"], result["duplicated"]) == (0, 0)
    assert isinstance(result["send_blocked"], int) and result["send_blocked"] >= 0
    assert 0 <= result["publish_s"] <= result["elapsed_s"] + 1e-3


def test_open_loop_against_the_sink(loadgen: Path, sink: Sink) -> None:
    fanout = run(loadgen, "fanout", sink.port, "--open-loop", "--subscribers", "10", "--messages", "5000")
    assert_open_loop(fanout)
    assert fanout["published"] == 5000 and fanout["delivered"] == 50_000 and fanout["reordered"] == 0
    for ack in ("auto", "client-individual"):
        queue = run(loadgen, "queue", sink.port, "--open-loop", "--producers", "4", "--consumers", "4",
                    "--messages", "1000", "--ack", ack, "--prefetch", "100", "--destination", "/queue/open")
        assert_open_loop(queue)
        assert queue["sent"] == queue["received"] == 4000 and queue["stale"] == 0
    # The same fan-out closed loop, for contrast: it reports its window.
    closed = run(loadgen, "fanout", sink.port, "--subscribers", "2", "--messages", "100", "--window", "10")
    assert closed["open_loop"] is False and closed["window"] == 10 and closed["lost"] == 0


def test_open_loop_against_xtomp(loadgen: Path, xtomp_factory: Any) -> None:
    """A real broker under overload: topics pause their producers for a slow subscriber
    (slow_consumer = "pause", the default) and a full queue pauses its producers (when_full =
    "pause", max_messages far below what the producers send): nothing is lost or duplicated.
    4 KiB bodies, so that a few thousand messages overflow the sockets' buffers."""
    from xtomp_core.entrypoints import entry_points

    if not any(point.name == "queues" for point in entry_points("xtomp.plugins")):
        pytest.skip("the queues plugin is not installed")
    broker = xtomp_factory('[plugins.queues]\n\n[destinations."/queue/*"]\ntype = "queue"\n'
                           'max_messages = 200\nwhen_full = "pause"\n')
    fanout = run(loadgen, "fanout", broker.port, "--open-loop", "--subscribers", "10", "--messages", "2000",
                 "--size", "4096", "--destination", "/topic/open")
    assert_open_loop(fanout)
    assert fanout["delivered"] == 20_000 and fanout["reordered"] == 0
    for ack, producers in (("auto", "1"), ("client-individual", "1"), ("auto", "4"), ("client-individual", "4")):
        queue = run(loadgen, "queue", broker.port, "--open-loop", "--producers", producers, "--consumers", producers,
                    "--messages", "1000", "--size", "4096", "--ack", ack, "--prefetch", "100",
                    "--destination", f"/queue/open-{ack}")
        assert_open_loop(queue)
        assert queue["sent"] == queue["received"] == 1000 * int(producers) and queue["stale"] == 0


def test_open_loop_ends_when_the_broker_holds_the_publisher(loadgen: Path) -> None:
    """A subscriber that never reads makes the sink stop reading the publisher (past 4 MiB
    unsent): the open-loop run does not hang, it ends after --idle-timeout of quiet and counts
    what did not arrive as lost."""
    server = Sink(loadgen)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stuck:
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.sendall(b"CONNECT\naccept-version:1.2\n\n\x00"
                          b"SUBSCRIBE\nid:0\ndestination:/topic/held\nreceipt:r\n\n\x00")
            answer = b""
            while b"RECEIPT" not in answer:
                chunk = stuck.recv(4096)
                assert chunk, "the sink closed the connection"
                answer += chunk
            result = run(loadgen, "fanout", server.port, "--open-loop", "--subscribers", "1", "--messages", "20000",
                         "--size", "1000", "--destination", "/topic/held", "--idle-timeout", "0.5")
    finally:
        stats = server.stop()
    assert result["open_loop"] is True and result["idle_timeout_hit"] is True
    assert result["lost"] > 0 and result["duplicated"] == 0
    assert result["delivered"] + result["lost"] == 20_000
    assert result["send_blocked"] > 0  # the sink stopped reading the publisher
    assert result["publish_s"] is None  # it could never write them all
    assert stats["pauses"] >= 1


def test_open_loop_options_are_checked(loadgen: Path) -> None:
    for args in (["fanout", "--open-loop", "--window", "10"], ["latency", "--open-loop"],
                 ["sink", "--port", "0", "--open-loop"]):
        proc = subprocess.run([str(loadgen), *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 1, (args, proc.stderr)


def answer_once(reply: bytes) -> tuple[socket.socket, threading.Thread]:
    """A listening socket whose first client gets ``reply`` (one byte per send) after its CONNECT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        client, _ = server.accept()
        with client:
            client.recv(4096)
            for byte in reply:
                client.sendall(bytes([byte]))
            try:
                client.recv(4096)  # until the load generator gives up
            except ConnectionResetError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize("reply, complaint", [
    (b"CONNECTED\nversion:1.2\nno colon here\n\n\x00", "header line without a colon"),
    (b"CONNECTED\nversion:1.2\ncontent-length:x\n\n\x00", "bad content-length"),
    (b"CONNECTED\nversion:1.2\ncontent-length:2\n\nab!", "no NUL after content-length"),
])
def test_malformed_frames_are_named(loadgen: Path, reply: bytes, complaint: str) -> None:
    """The frame scanner (fed one byte per read here) names what is wrong with a frame."""
    server, thread = answer_once(reply)
    with server:
        proc = run(loadgen, "fanout", server.getsockname()[1], "--subscribers", "1", "--messages", "1",
                   expect_rc=2, timeout=30)
    assert complaint in proc.stderr
