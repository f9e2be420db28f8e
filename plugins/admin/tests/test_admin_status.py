"""``xtomp status`` against a running broker, and the admin plugin's configuration checks."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from xtomp_admin.status import admin_url, format_status
from xtomp_testing import BrokerProcess, RawClient, write_config


def admin_port(broker: BrokerProcess) -> int:
    """The port the OS gave the admin listener (configured as port 0)."""
    match = re.search(r"admin console on http://127\.0\.0\.1:(\d+)/", "".join(broker.log))
    assert match, broker.log
    return int(match.group(1))


def xtomp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xtomp_core", *args], capture_output=True, text=True, timeout=60)


def test_status_prints_the_figures_as_a_table(tmp_path):
    table = '[plugins.admin]\nlisten = "127.0.0.1:{port}"\n[destinations."memtop"]\ntype = "topic"\n'
    with BrokerProcess(write_config(tmp_path / "broker", table.format(port=0))) as broker:
        # `xtomp status -c` reads the admin address from a config: the same one, with the port taken
        port = admin_port(broker)
        config = write_config(tmp_path / "conf", table.format(port=port))
        with RawClient("127.0.0.1", broker.port) as subscriber, RawClient("127.0.0.1", broker.port) as publisher:
            subscriber.connect()
            subscriber.subscribe("/topic/status")
            publisher.connect()
            for index in range(4):
                publisher.send_frame("SEND", {"destination": "/topic/status", "receipt": f"r{index}"}, "x")
                publisher.expect_receipt(f"r{index}")
            result = xtomp("status", "-c", str(config))
            as_json = xtomp("status", "--json", "--url", f"http://127.0.0.1:{port}/")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("xtomp ") and f"http://127.0.0.1:{port}" in lines[0]
    assert lines[1].split()[:3] == ["connections", "2", "(tcp"] and "sessions 2" in lines[1]
    assert lines[2].split()[:2] == ["messages", "4"] and "(over " in lines[2]  # rates: asked twice
    header = next(line for line in lines if line.startswith("destination"))
    assert header.split()[:9] == ["destination", "type", "subs", "depth", "in/s", "out/s", "accepted", "delivered", "dropped"]
    # then the figures destination types add (the topics' flow control...), as columns of their own
    extra = header.split()[9:]
    assert {"held_producers", "producer_pauses", "slow_disconnects", "slow_subscribers"} <= set(extra)
    rows = {line.split()[0]: line.split() for line in lines[lines.index(header) + 1:] if line.startswith(("/", "memtop"))}
    assert rows["/topic/status"][:4] == ["/topic/status", "topic", "1", "0"]
    assert rows["/topic/status"][6:9] == ["4", "4", "0"] and set(rows["/topic/status"][9:]) == {"0"}
    assert rows["memtop"][6:9] == ["0", "0", "0"] and set(rows["memtop"][9:]) == {"0"}
    assert any(line.split() == ["admin.connections", "1"] for line in lines)
    figures = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and figures["broker"]["messages"] == 4


def test_status_without_a_broker_or_without_the_plugin(tmp_path):
    with socket.socket() as bound:  # bound, not listening: nobody else gets the port, connecting is refused
        bound.bind(("127.0.0.1", 0))
        config = write_config(tmp_path / "on", f'[plugins.admin]\nlisten = "127.0.0.1:{bound.getsockname()[1]}"\n')
        result = xtomp("status", "-c", str(config))
    assert result.returncode == 1
    assert "xtomp status: cannot reach the admin endpoint at http://127.0.0.1:" in result.stderr
    config = write_config(tmp_path / "off")
    result = xtomp("status", "-c", str(config))
    assert result.returncode == 1 and "the admin plugin is not enabled in" in result.stderr
    result = xtomp("status", "-c", str(tmp_path / "missing"))
    assert result.returncode == 1 and "no such config file" in result.stderr


def test_admin_url_from_the_config(tmp_path):
    def url(table: str) -> str:
        directory = tmp_path / str(len(list(tmp_path.iterdir())))
        return admin_url(str(write_config(directory, table)))

    assert url("[plugins.admin]\n") == "http://127.0.0.1:15680"
    assert url('[plugins.admin]\nlisten = "0.0.0.0:1234"\n') == "http://127.0.0.1:1234"
    assert url('[plugins.admin]\nlisten = "[::]:1234"\n') == "http://[::1]:1234"
    assert url('[plugins.admin]\nlisten = "http://[::1]:99"\n') == "http://[::1]:99"


def test_format_status_shows_unknown_figures_as_columns():
    text = format_status({
        "broker": {"version": "9", "uptime": 3725, "connections": 0, "transports": {}},
        "destinations": [{"dest": "q", "type": "queue", "sz": 1, "q": 2, "Σ": 3, "in_flight": 1, "ratio": 0.5}],
        "queues": {"redelivered": 4},
    })
    lines = text.splitlines()
    assert lines[0] == "xtomp 9  up 1h 2m 5s"
    header = next(line for line in lines if line.startswith("destination"))
    assert header.split()[-2:] == ["in_flight", "ratio"]
    assert lines[lines.index(header) + 1].split() == ["q", "queue", "1", "2", "-", "-", "3", "-", "-", "1", "0.5"]
    assert lines[-1].split() == ["queues.redelivered", "4"]


def test_bad_listen_is_a_config_error(tmp_path):
    config = write_config(tmp_path, '[plugins.admin]\nlisten = "ws://127.0.0.1:80/x"\n')
    result = xtomp("-t", "-c", str(config))
    assert result.returncode == 1
    assert f"{Path(config) / '50-test.toml'}: plugins.admin.listen: 'ws://127.0.0.1:80/x': expected HOST:PORT" in result.stderr


def test_admin_port_in_use_stops_the_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f'[plugins.admin]\nlisten = "127.0.0.1:{port}"\n')
        result = xtomp("-c", str(config))
    assert result.returncode == 1
    assert f"xtomp: admin: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
