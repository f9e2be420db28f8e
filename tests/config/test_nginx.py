"""xtomp's original configuration (nginx syntax) read directly, converted, and served."""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xtomp_core.bootstrap import load_config
from xtomp_core.config import read_config
from xtomp_core.config.convert import convert_main
from xtomp_core.config.nginx import is_nginx_config, parse_nginx_time, translate
from xtomp_core.errors import ConfigError
from xtomp_testing import RawClient
from xtomp_testing.runner import start_broker

#: The shape of xtomp's bundled conf/xtomp.conf: core directives, events, one server with
#: a topic, a queue and the statistics destination.
SAMPLE = """\
# xtomp's sample layout
user  xtomp;
worker_processes  1;
worker_rlimit_nofile 2048;
error_log  /var/log/xtomp/error.log error;
pid        /var/run/xtomp/xtomp.pid;

events {
    worker_connections 1024;
}

xtomp {
    server_name xtomp.example.com;
    server {
        listen         61613;
        listen         8080;
        secret_timeout       60000;
        destination {
            name             memtop;
            max_connections  1000;
            max_messages     100;
            max_message_size 1048576;
        }
        destination {
            name             memq;
            min_delivery     1;
            max_connections  1;
            max_messages     100;
        }
        destination {
            name             /xtomp/stat;
            web_read_block   on;
            web_write_block  on;
        }
    }
}
"""

#: A /etc/xtomp.conf using every directive of the original.
EVERYTHING = """\
user xtomp xtomp;              # user and group
worker_processes 1;
worker_rlimit_nofile 4096;
error_log syslog:server=unix:/dev/log,facility=local3,tag=xtomp warn;
pid /run/xtomp/xtomp.pid;
daemon off;
master_process off;
events {
    worker_connections 2000;
    multi_accept on;
}
xtomp {
    server_name xtomp.example.com;
    timeout 90;                # inherited by the server
    heart_beat_read 2m;
    server {
        listen 127.0.0.1:61613 so_keepalive=on;
        listen [::1]:61614 backlog=100;
        login "xtomp";
        passcode 'pass word';
        secret_timeout 60s;
        heart_beat_read 120;   # the server's own wins over xtomp { }'s
        heart_beat_write_min 60000ms;
        heart_beat_write_max 1h30m;
        request_client_buffer 4k;
        response_client_buffer 200;
        protocol stomp;
        websockets on;
        websockets_origin http://a.example.com,http://b.example.com;
        destination {
            name memtop;
            max_connections 500;
            max_messages 50;
            max_message_size 64k;
            min_delivery 0;
            expiry 120;
            stats on;
            log_messages off;
            no_subscribers drop;
        }
        destination {
            name memq;
            min_delivery 1;
        }
        destination {
            name "memfilter";
            filter on;
            filter_header colour;
        }
        destination {
            name /xtomp/stat;
            web_read_block on;
            web_write_block on;
        }
    }
}
"""


def line_of(text: str, needle: str) -> int:
    """The number of the first line of ``text`` holding ``needle``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def write(tmp_path: Path, text: str, name: str = "xtomp.conf") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def xtomp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtomp_core", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "XTOMP_CONFIG": "/nonexistent"},
    )


# -- syntax and units ----------------------------------------------------------------------


def test_time_units_are_nginx_s():
    assert parse_nginx_time("120") == 120  # a bare number is seconds
    assert parse_nginx_time("500ms") == 0.5
    assert parse_nginx_time("2m") == 120
    assert parse_nginx_time("1h30m") == 5400
    assert parse_nginx_time("1d") == 86400
    with pytest.raises(ValueError):
        parse_nginx_time("2 minutes")


def test_detection(tmp_path):
    assert is_nginx_config(write(tmp_path, "server {}", "a.conf"))
    assert is_nginx_config(write(tmp_path, "# comment\n\nuser xtomp;\n", "xtomp"))
    assert not is_nginx_config(write(tmp_path, "# comment\n[server]\n", "b"))
    assert not is_nginx_config(write(tmp_path, "include = ['x/*.toml']\n", "c"))
    assert not is_nginx_config(write(tmp_path, "user xtomp;", "d.toml"))


# -- the effective configuration -------------------------------------------------------------


def test_sample_config(tmp_path):
    path = write(tmp_path, SAMPLE)
    config, _ = load_config(path)
    server = config.server
    assert server["listen"] == ("0.0.0.0:61613", "0.0.0.0:8080")  # nginx: a port alone is every IPv4 address
    assert server["pid_file"] == "/var/run/xtomp/xtomp.pid"
    assert server["log_level"] == "error"
    assert server["connection_limit"] == 1024
    assert server["secret_timeout"] == 60000  # seconds, as xtomp read it
    assert list(config.plugins) == ["topics", "queues"]
    memtop, memq, stat = (config.destinations[name] for name in ("memtop", "memq", "/xtomp/stat"))
    assert (memtop["max_connections"], memtop["max_messages"], memtop["max_message_size"]) == (1000, 100, 1 << 20)
    assert memtop["type"] is None and memtop["min_delivery"] == 0  # a topic
    assert memq["min_delivery"] == 1 and memq["max_connections"] == 1  # a queue
    assert stat["web_read_block"] and stat["web_write_block"]
    # Origins name FILE:LINE, as --show-config shows them.
    assert server.origin("pid_file") == f"{path}:{line_of(SAMPLE, 'pid ')}"
    assert memq.origin("min_delivery") == f"{path}:{line_of(SAMPLE, 'min_delivery')}"
    assert config.files == (str(path),)


def test_every_directive(tmp_path, caplog):
    path = write(tmp_path, EVERYTHING)
    with caplog.at_level(logging.DEBUG, logger="xtomp.config"):
        config, _ = load_config(path)
    server = config.server
    assert server["listen"] == ("ws://127.0.0.1:61613/xtomp", "ws://[::1]:61614/xtomp")
    assert server["log_target"] == "syslog" and server["syslog_address"] == "/dev/log"
    assert server["syslog_facility"] == "local3" and server["log_level"] == "warning"
    assert server["pid_file"] == "/run/xtomp/xtomp.pid"
    assert server["connection_limit"] == 2000
    assert (server["login"], server["passcode"]) == ("xtomp", "pass word")
    assert server["timeout"] == 90 and server.origin("timeout") == f"{path}:{line_of(EVERYTHING, 'timeout 90')}"
    assert server["heart_beat_read"] == 120
    assert server.origin("heart_beat_read") == f"{path}:{line_of(EVERYTHING, 'heart_beat_read 120')}"
    assert server["heart_beat_write_min"] == 60 and server["heart_beat_write_max"] == 5400
    assert server["secret_timeout"] == 60
    assert list(config.plugins) == ["topics", "websocket", "queues", "filters"]
    websocket = config.plugins["websocket"]
    assert websocket["plain_stomp"] and websocket["paths"] == ("*",)
    assert websocket["websockets_origin"] == ("http://a.example.com", "http://b.example.com")
    memtop = config.destinations["memtop"]
    assert (memtop["max_connections"], memtop["max_messages"], memtop["max_message_size"]) == (500, 50, 65536)
    assert memtop["stats"] and memtop["expiry"] == 0  # xtomp never enforced expiry: not translated
    assert config.destinations["memq"]["min_delivery"] == 1
    memfilter = config.destinations["memfilter"]
    assert memfilter["filter"] == "required" and memfilter["filter_header"] == "colour"  # xtomp's "on"
    notes = {record.getMessage() for record in caplog.records}
    assert f"{path}:1: user is ignored: run the service as that user (User= in the systemd unit)" in notes
    assert any(note.startswith(f"{path}:{line_of(EVERYTHING, 'expiry')}: expiry is ignored") for note in notes)
    assert any(note.startswith(f"{path}:{line_of(EVERYTHING, 'multi_accept')}: multi_accept is ignored")
               for note in notes)


def test_a_secret_keeps_xtomps_sha1_tokens(tmp_path):
    text = SAMPLE.replace("secret_timeout       60000;", "secret 0123456789abcdefXYZ; secret_timeout 60;")
    config, _ = load_config(write(tmp_path, text))
    assert config.server["secret"] == "0123456789abcdefXYZ"
    assert config.server["secret_algorithm"] == "sha1"


def test_include_and_filter_values(tmp_path):
    (tmp_path / "dests").mkdir()
    write(tmp_path / "dests", "destination { name a; filter required; }\n", "a.conf")
    write(tmp_path / "dests", "destination { name b; filter off; }\n", "b.conf")
    path = write(tmp_path, "xtomp { server { listen 127.0.0.1:0; include dests/*.conf; } }\n")
    config, _ = load_config(path)
    assert config.destinations["a"]["filter"] == "required"
    assert config.destinations["b"]["filter"] == "off"
    assert config.destinations["b"].origin("filter") == f"{tmp_path / 'dests' / 'b.conf'}:1"
    assert "websocket" not in config.plugins  # only with websockets on


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("worker_processes 4;\nxtomp { server { listen 1; } }", 1,
         "server.workers: 4 worker processes need a backplane plugin"),
        ("worker_processes 0;\nxtomp { server { listen 1; } }", 1, 'invalid value "0" in "worker_processes"'),
        ("worker_processes two;\nxtomp { server { listen 1; } }", 1, "expected a number of processes or auto"),
        ("xtomp {\n server {\n  listen 1;\n  bogus on;\n }\n}", 4, 'unknown directive "bogus"'),
        ("xtomp {\n server {\n  listen 1\n }\n}", 3, 'missing ";"'),
        ("xtomp {\n server {\n  listen 1;\n }\n", 1, 'expecting "}"'),
        ("xtomp { server { listen 1; } }\n}", 2, 'unexpected "}"'),
        ("xtomp {\n server {\n  listen 61613 ssl;\n }\n}", 3, "ssl"),
        ("xtomp {\n server {\n  listen 1;\n  destination {\n   name q;\n   min_delivery 2;\n }\n }\n}", 6,
         "min_delivery 2"),
        ("xtomp { server { listen 1;\n destination { name a; }\n destination { name a; } } }", 3,
         'destination "a" is duplicate (first at'),
        ("xtomp { server { listen 1; }\n server { listen 2; } }", 2, "a second server"),
        ("xtomp { server { listen 1;\n max_messages 5; } }", 2, "belongs in a destination"),
        ("xtomp { server { listen 1;\n timeout 2 minutes; } }", 2, "invalid number of arguments"),
        ("xtomp { server { listen 1;\n timeout 2minutes; } }", 2, "is not a time"),
        ("xtomp { server { listen 1;\n destination { name a;\n filter yes; } } }", 3, "on, off or required"),
        ("xtomp { server { listen 1;\n destination { name a;\n stats 1; } } }", 3, "expected on or off"),
        ("xtomp { server { listen 1;\n listen 1; } }", 2, "duplicate listen"),
        ("xtomp {\n server { login a; } }", 2, 'no "listen" is defined'),
        ("xtomp { server { listen 1;\n websockets maybe; } }", 2, "expected on or off"),
        ("error_log /x verbose;\nxtomp { server { listen 1; } }", 1, 'invalid log level "verbose"'),
        ("xtomp { server { listen 1;\n name \"unterminated; } }", 2, "unexpected end of file"),
        # Validation of the translated values cites the directive's line too.
        ("xtomp { server { listen 1;\n destination { name a;\n max_messages 0; } } }", 3, "must be at least 1"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert f"{path}:{line}: " in str(raised.value)
    assert message in str(raised.value)


def test_checks_at_start_up_cite_the_line(tmp_path):
    from xtomp_core.bootstrap import build_broker

    path = write(tmp_path, "xtomp { server { listen 127.0.0.1:0;\n secret short; } }")
    with pytest.raises(ConfigError) as raised:
        build_broker(path)
    assert f"{path}:2: " in str(raised.value) and "secret" in str(raised.value)


def test_every_problem_at_once(tmp_path):
    path = write(tmp_path, "worker_processes 0;\nfoo bar;\nxtomp { server { listen 1; } }")
    with pytest.raises(ConfigError) as raised:
        translate(path)
    assert f"{path}:1:" in str(raised.value) and f"{path}:2:" in str(raised.value)


# -- the command line --------------------------------------------------------------------------


def test_test_flag_on_an_xtomp_conf(tmp_path):
    path = write(tmp_path, SAMPLE)
    result = xtomp("-t", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert f"the configuration {path} is valid" in result.stdout
    assert f"[info] {path}:2: user is ignored" in result.stderr
    line = line_of(SAMPLE, "secret_timeout")
    assert f"[warning] {path}:{line}: secret_timeout 60000 means 60000 seconds" in result.stderr
    broken = write(tmp_path, SAMPLE.replace("worker_processes  1;", "worker_processes  4;"), "bad.conf")
    result = xtomp("-t", "-c", str(broken))
    assert result.returncode == 1
    assert (f"{broken}:{line_of(SAMPLE, 'worker_processes')}: server.workers: 4 worker processes need a backplane "
            "plugin") in result.stderr
    assert "[plugins.cluster]" in result.stderr


def test_show_config_names_file_and_line(tmp_path):
    path = write(tmp_path, SAMPLE)
    result = xtomp("--show-config", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert f'pid_file = "/var/run/xtomp/xtomp.pid"' in result.stdout
    assert f"# {path}:{line_of(SAMPLE, 'pid ')}" in result.stdout


def _effective(config):
    return (
        dict(config.server),
        {name: dict(section) for name, section in config.destinations.items()},
        {name: dict(section) for name, section in config.plugins.items()},
    )


@pytest.mark.parametrize("text", [SAMPLE, EVERYTHING])
def test_convert_round_trips(tmp_path, text, capsys):
    path = write(tmp_path, text)
    out = tmp_path / "conf.d"
    assert convert_main([str(path), str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files[0] == "00-core.toml" and "10-topics.toml" in files
    original, _ = load_config(path)
    converted, _ = load_config(out)
    assert _effective(converted) == _effective(original)
    core = (out / "00-core.toml").read_text()
    # One comment per translated directive, naming where it came from.
    assert f'pid_file = "{original.server["pid_file"]}"  # {path}:' in core
    assert f"{path}:1:" in core or f"{path}:2:" in core  # the ignored "user" is listed too
    # Existing files are kept unless --force.
    assert convert_main([str(path), str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert convert_main([str(path), str(out), "--force"]) == 0


def test_convert_subcommand(tmp_path):
    path = write(tmp_path, SAMPLE)
    result = xtomp("convert", str(path), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert xtomp("-t", "-c", str(tmp_path / "out")).returncode == 0
    result = xtomp("convert", str(write(tmp_path, "bogus;", "bad.conf")), str(tmp_path / "out2"))
    assert result.returncode == 1 and f"{tmp_path / 'bad.conf'}:1:" in result.stderr
    assert not (tmp_path / "out2").exists()


# -- a broker started from an xtomp.conf -------------------------------------------------------

SERVED = """\
worker_processes 1;
xtomp {
    server {
        listen 127.0.0.1:0;
        %s
        destination { name memtop; }
        destination { name memq; min_delivery 1; }
        destination { name memfilter; filter on; filter_header colour; }
    }
}
"""


@pytest.fixture
def served(tmp_path):
    started = []

    def start(extra: str = ""):
        broker = start_broker(write(tmp_path, SERVED % extra))
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


def test_a_broker_from_an_xtomp_conf_serves_filters(served):
    broker = served()
    subscriber = RawClient(broker.host, broker.port)
    publisher = RawClient(broker.host, broker.port)
    try:
        subscriber.connect()
        publisher.connect()
        subscriber.subscribe("memfilter", id="blue", filter="colour=blue")
        subscriber.subscribe("memq", id="q")
        for colour in ("red", "blue"):
            publisher.send_frame("SEND", {"destination": "memfilter", "colour": colour}, colour)
        publisher.send_frame("SEND", {"destination": "memq", "receipt": "r"}, "queued")
        publisher.expect_receipt("r")
        bodies = sorted(frame.body for frame in subscriber.messages(2))
        assert bodies == [b"blue", b"queued"]
        subscriber.expect_nothing()
        # "filter on" kept xtomp's meaning: a SUBSCRIBE without a filter is refused.
        refused = RawClient(broker.host, broker.port)
        try:
            refused.connect()
            refused.send_frame("SUBSCRIBE", {"destination": "memfilter", "id": "all"})
            assert refused.expect_error("dest flup")
        finally:
            refused.close()
    finally:
        subscriber.close()
        publisher.close()


def test_a_broker_from_an_xtomp_conf_serves_stomp_py(served, stomp_py):
    broker = served()
    connection, heard = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("memfilter", id="g", headers={"filter": "colour=green"})
    connection.send("memfilter", "hello", headers={"colour": "green"})
    heard.wait_for(lambda: len(heard.messages) == 1, timeout=5)
    assert heard.messages[0].body == "hello"


def test_websockets_on_serves_stomp_and_the_consoles_path_on_one_port(served):
    broker = served("websockets on;")
    stomp = RawClient(broker.host, broker.port)
    try:
        stomp.connect()  # plain STOMP on the ws listener, as xtomp
    finally:
        stomp.close()
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((broker.host, broker.port), timeout=5) as sock:
        sock.sendall(
            f"GET /xtomp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: stomp\r\n\r\n".encode()
        )
        deadline = time.monotonic() + 5
        response = b""
        while b"\r\n\r\n" not in response and time.monotonic() < deadline:
            response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101")


def test_read_config_reads_either_syntax(tmp_path):
    raw = read_config(write(tmp_path, SAMPLE))
    assert raw.origins[("server", "pid_file")] == f"{tmp_path / 'xtomp.conf'}:{line_of(SAMPLE, 'pid ')}"
    toml = write(tmp_path, '[server]\npid_file = "/x"\n', "plain.conf.toml")
    assert read_config(toml).data == {"server": {"pid_file": "/x"}}
