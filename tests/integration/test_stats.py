"""Statistics over real sockets: xtomp's /xtomp/stat topic read by stomp.py, the broker's
figures (connections, sessions, frames, memory), and the one-line-per-connection logs."""

from __future__ import annotations

import json
import re
import time

from xtomp_core.broker.stats import STAT_DESTINATION, xtomp_json
from xtomp_testing import BrokerProcess, wait_until, write_config

#: Wall-clock time before any broker of this module started.
IMPORTED = time.time()

STAT_CONFIG = """
[server]
stats_interval = "200ms"

[destinations."/xtomp/stat"]
type = "topic"

[destinations."memtop"]
type = "topic"
stats = true

[destinations."quiet"]
type = "topic"
"""


def test_xtomp_json_is_xtomps_layout():
    assert xtomp_json({"dest": "memtop", "sz": 0, "q": 0, "Δ": 3, "Σ": 3}) == (
        '{\n  "dest":"memtop",\n  "sz":0,\n  "q":0,\n  "Δ":3,\n  "Σ":3\n}\n'.encode()
    )
    assert xtomp_json({"cc": {"sz": 2, "up": 1795839118, "Σ": 7, "Σµ": 4, "m": 0}}) == (
        '{\n  "cc":{\n    "sz":2,\n    "up":1795839118,\n    "Σ":7,\n    "Σµ":4,\n    "m":0\n  }\n}\n'.encode()
    )


def test_stat_topic_read_by_a_stomp_py_subscriber(xtomp_factory, stomp_py):
    before = time.time()
    broker = xtomp_factory(STAT_CONFIG)
    started = time.time()
    subscriber, heard = stomp_py(broker)
    subscriber.connect(wait=True)
    subscriber.subscribe("/xtomp/stat", id="stats")
    publisher, _ = stomp_py(broker)
    publisher.connect(wait=True)
    for index in range(3):
        publisher.send("memtop", f"m{index}", receipt=f"r{index}" if index == 2 else None)

    def bodies():
        return [json.loads(frame.body) for frame in list(heard.messages)]

    def memtop_total(body):
        return body.get("dest") == "memtop" and body["Σ"] == 3

    heard.wait_for(lambda: any(memtop_total(body) for body in bodies()), timeout=5)
    received = bodies()
    frames = list(heard.messages)
    assert all(frame.headers["destination"] == "/xtomp/stat" for frame in frames)
    assert all(frame.headers["content-type"].startswith("application/json") for frame in frames)
    # Bodies are laid out exactly as xtomp wrote them.
    assert all(frame.body.encode() == xtomp_json(json.loads(frame.body)) for frame in frames)

    per_destination = [body for body in received if "dest" in body]
    # Only destinations with stats = true (and never "quiet", whose flag is off).
    assert {body["dest"] for body in per_destination} == {"memtop"}
    memtop = next(body for body in per_destination if memtop_total(body))
    assert list(memtop)[:5] == ["dest", "sz", "q", "Δ", "Σ"]
    assert memtop["sz"] == 0 and memtop["q"] == 0 and memtop["type"] == "topic"
    assert memtop["dropped"] == 0 and memtop["delivered"] == 0  # nobody subscribes to memtop
    # Δ counts per tick: over the ticks, the deltas add up to the total.
    assert sum(body["Δ"] for body in per_destination[: per_destination.index(memtop) + 1]) == 3

    cc_messages = [body for body in received if "cc" in body]
    assert cc_messages, "no cc message"
    cc = cc_messages[-1]["cc"]
    assert list(cc) == ["sz", "up", "Σ", "Σµ", "m"]
    assert cc["sz"] == 2 and cc["Σ"] == 2  # two connections, two accepted
    assert int(before) <= cc["up"] <= started  # xtomp's meaning: the start time (epoch seconds)
    assert cc["m"] > 1_000_000  # resident memory in bytes (xtomp always sent 0)
    assert cc["Σµ"] >= 3  # includes the stats messages themselves, as in xtomp
    figures = cc_messages[-1]["broker"]
    assert figures["sessions"] == 2 and figures["transports"] == {"tcp": 2}


def test_no_stat_timer_unless_the_destination_is_declared(xtomp_factory):
    plain = xtomp_factory('[destinations."memtop"]\ntype = "topic"\nstats = true\n')
    assert plain.broker._stat_publisher is None
    declared = xtomp_factory(STAT_CONFIG)
    assert declared.broker._stat_publisher is not None
    assert STAT_DESTINATION in declared.broker.destinations


def test_a_failing_tick_keeps_ticking(xtomp_factory):
    from xtomp_core import hookimpl

    class Broken:
        calls = 0

        @hookimpl
        def xtomp_collect_stats(self, broker, stats):
            Broken.calls += 1
            raise RuntimeError("a plugin's figures failed")

    xtomp_factory(STAT_CONFIG, plugins=[("broken", Broken())])
    wait_until(lambda: Broken.calls >= 2, what="a second stats tick")  # logged, and the timer still runs


def test_broker_figures_count_connections_sessions_and_frames(xtomp, raw_client):
    subscriber = raw_client()
    subscriber.connect()  # 1 frame in, 1 out
    subscriber.subscribe("/topic/figures")  # SUBSCRIBE + RECEIPT
    publisher = raw_client()
    publisher.connect()
    publisher.send_frame("SEND", {"destination": "/topic/figures", "receipt": "r"}, "x")
    publisher.expect_receipt("r")
    subscriber.expect("MESSAGE")
    idle = raw_client()  # connected at TCP level only
    idle.send(b"\n")
    wait_until(lambda: xtomp.stats()["broker"]["connections"] == 3)
    figures = xtomp.stats()["broker"]
    assert figures["connections"] == 3 and figures["sessions"] == 2
    assert figures["transports"] == {"tcp": 3}
    assert figures["connections_accepted"] == 3
    assert figures["frames_in"] == 4  # CONNECT, SUBSCRIBE, CONNECT, SEND
    assert figures["frames_out"] == 5  # CONNECTED, RECEIPT, CONNECTED, RECEIPT, MESSAGE
    assert figures["messages"] == 1 and figures["destinations"] >= 1
    assert figures["rss"] > 1_000_000 and figures["cpu_user"] > 0
    assert 0 <= figures["uptime"] <= round(time.time() - IMPORTED, 3)  # the broker started after this module
    # Totals survive the sessions that made them; counts of open things go back down.
    subscriber.send_frame("DISCONNECT", {"receipt": "bye"})
    subscriber.expect_receipt("bye")
    idle.close()
    wait_until(lambda: xtomp.stats()["broker"]["connections"] == 1)
    figures = xtomp.stats()["broker"]
    assert figures["connections"] == 1 and figures["sessions"] == 1 and figures["transports"] == {"tcp": 1}
    assert figures["frames_in"] == 5 and figures["frames_out"] == 6


def test_stats_without_destinations(xtomp):
    stats = xtomp.call(lambda: xtomp.broker.stats(destinations=False))
    assert "destinations" not in stats and set(stats) >= {"cc", "broker"}


FIELDS = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def fields(line: str) -> dict[str, str]:
    return {key: json.loads(value) if value.startswith('"') else value for key, value in FIELDS.findall(line)}


def test_one_log_line_per_connection_open_and_close(tmp_path):
    from xtomp_testing import RawClient

    config = write_config(tmp_path / "conf", '[server]\nlogin = "ops team"\npasscode = "secret"\n')
    with BrokerProcess(config) as broker:
        with RawClient("127.0.0.1", broker.port) as client:
            client.connect(login="ops team", passcode="secret")
            client.subscribe("/topic/logs")
            client.send_frame("DISCONNECT", {"receipt": "bye"})
            client.expect_receipt("bye")
        with RawClient("127.0.0.1", broker.port) as refused:
            refused.send_frame("CONNECT", {"accept-version": "1.2", "login": "x\ny", "passcode": "no"})
            refused.expect_error("auth err")
        wait_until(lambda: sum("xtomp.connections: closed" in line for line in broker.log) >= 2)
    lines = [line for line in broker.log if "INFO xtomp.connections: " in line]
    assert len(lines) == 3, lines
    opened, closed, refused_line = (fields(line.split("xtomp.connections: ", 1)[1]) for line in lines)
    assert lines[0].split("xtomp.connections: ")[1].startswith("opened ")
    assert opened["login"] == "ops team" and opened["transport"] == "tcp" and opened["version"] == "1.2"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", opened["peer"]) and opened["id"] == closed["id"]
    assert closed["frames_in"] == "3" and closed["frames_out"] == "3"  # CONNECT SUBSCRIBE DISCONNECT
    assert closed["reason"] == "DISCONNECT" and closed["duration"].endswith("s")
    # A connection that never completed CONNECT has its line too, its login not taken as valid.
    assert refused_line["id"] == "-" and refused_line["login"] == "-"
    assert refused_line["reason"].startswith("auth err") and refused_line["frames_out"] == "1"
    assert all("\n" not in line.rstrip("\n") for line in lines)


def test_unknown_command(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "xtomp_core", "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("xtomp: unknown command 'frobnicate' (installed commands:")
    assert "passwd" in result.stderr and "status" in result.stderr
