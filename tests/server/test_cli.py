"""The ``xtomp`` command line, run as a real process: version, -t, --show-config, --plugins, signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from xtomp_core._version import __version__
from xtomp_core.bootstrap import load_config
from xtomp_testing import BrokerProcess, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "conf.d"


def xtomp(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtomp_core", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def strip_comments(text: str) -> str:
    """Drop ``#`` comments outside strings (the show-config comments are never inside one)."""
    lines = []
    for line in text.splitlines():
        # A comment starts at a "#" preceded by an even number of quotes on the line.
        quotes = 0
        cut = len(line)
        for index, char in enumerate(line):
            if char == '"' and (index == 0 or line[index - 1] != "\\"):
                quotes += 1
            elif char == "#" and quotes % 2 == 0:
                cut = index
                break
        lines.append(line[:cut].rstrip())
    return "\n".join(lines) + "\n"


# -- quick commands -------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(flag: str) -> None:
    result = xtomp(flag)
    assert result.returncode == 0
    assert result.stdout == f"xtomp {__version__}\n"
    assert result.stderr == ""


def test_test_flag_on_the_bundled_config() -> None:
    result = xtomp("-t", "-c", str(BUNDLED))
    assert result.returncode == 0, result.stderr
    files = ", ".join(str(path) for path in sorted(BUNDLED.glob("*.toml")))
    assert result.stdout == f"xtomp: the configuration {BUNDLED} is valid ({files})\n"
    assert result.stderr == ""


def test_config_from_environment(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "conf")
    result = xtomp("-t", env={"XTOMP_CONFIG": str(directory)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"xtomp: the configuration {directory} is valid (")


def test_test_flag_on_a_broken_config(tmp_path: Path) -> None:
    directory = write_config(tmp_path, '[destination_defaults]\nmax_mesages = 5\n[server]\nmax_headers = "ten"\n')
    result = xtomp("-t", "-c", str(directory))
    assert result.returncode == 1
    assert result.stdout == ""
    extra = directory / "50-test.toml"
    assert result.stderr == (
        "xtomp: configuration error:\n"
        f"{extra}: server.max_headers: expected an integer\n"
        f"{extra}: destination_defaults.max_mesages: unknown directive; did you mean max_messages?\n"
    )


def test_test_flag_checks_the_broker_too(tmp_path: Path) -> None:
    # Valid TOML and valid keys, but no plugin provides the type: -t must still fail.
    directory = write_config(tmp_path, '[destinations."memq"]\ntype = "queue"\n')
    result = xtomp("-t", "-c", str(directory))
    assert result.returncode == 1
    assert f'{directory / "50-test.toml"}: destinations."memq".type: unknown destination type' in result.stderr
    assert "xtomp-queues" in result.stderr


def test_test_flag_on_a_missing_path(tmp_path: Path) -> None:
    result = xtomp("-t", "-c", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr == f"xtomp: configuration error:\n{tmp_path / 'nowhere'}: no such config file or directory\n"


def test_running_with_a_broken_config_exits_1(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "[plugins.nosuchplugin]\n")
    result = xtomp("-c", str(directory))
    assert result.returncode == 1
    extra = directory / "50-test.toml"
    assert f"{extra}: plugins.nosuchplugin: plugin 'nosuchplugin' is enabled but not installed" in result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    result = xtomp("--frobnicate")
    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr


# -- --show-config --------------------------------------------------------------------------


SHOW_EXTRA = """\
[server]
max_headers = 10
timeout = "1500ms"
virtual_hosts = ["say \\"hi\\"", "c:\\\\dir"]

[destination_defaults]
max_messages = 50

[destinations."memq"]
type = "topic"
max_connections = 5

[destinations."/topic/\\"odd\\"/*"]
web_read_block = "on"
"""


def test_show_config_names_the_origin_of_each_value(tmp_path: Path) -> None:
    directory = write_config(tmp_path, SHOW_EXTRA)
    base, extra = directory / "00-base.toml", directory / "50-test.toml"
    result = xtomp("--show-config", "-c", str(directory))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"# effective configuration from: {base}, {extra}\n")
    lines = out.splitlines()

    def line(start: str) -> str:
        found = [text for text in lines if text.startswith(start)]
        assert found, f"no line starts with {start!r}"
        return found[0]

    def origin(text: str) -> str:
        return text.rsplit("  # ", 1)[1]

    assert re.fullmatch(r'listen = \["127\.0\.0\.1:0"\] +# ' + re.escape(str(base)), line("listen = "))
    assert re.fullmatch(r"max_headers = 10 +# " + re.escape(str(extra)), line("max_headers = "))
    assert origin(line("timeout = ")) == str(extra)
    assert line("timeout = ").startswith('timeout = "1500ms" ')
    assert re.fullmatch(r'max_frame_size = "4m" +# default', line("max_frame_size = "))
    assert re.fullmatch(r"# pid_file \(unset\) +# default", line("# pid_file"))
    assert re.fullmatch(r'linger = "2s" +# default', line("linger = "))
    assert re.fullmatch(r"heart_beat_grace = 1\.5 +# default", line("heart_beat_grace = "))
    # Section headers, in order: server, defaults, exact names, prefix rules, plugins.
    headers = [text for text in lines if text.startswith("[")]
    assert headers == [
        "[server]",
        "[destination_defaults]",
        '[destinations."memq"]',
        '[destinations."/topic/\\"odd\\"/*"]',  # prefix rules longest first
        '[destinations."/topic/*"]',
        "[plugins.topics]",
    ]


def test_show_config_is_valid_toml_and_the_same_config(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "conf", SHOW_EXTRA)
    result = xtomp("--show-config", "-c", str(directory))
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(strip_comments(result.stdout))
    assert data["server"]["max_headers"] == 10
    assert data["server"]["virtual_hosts"] == ['say "hi"', "c:\\dir"]
    assert data["destination_defaults"]["max_messages"] == 50
    assert data["destinations"]["memq"]["max_connections"] == 5
    assert data["destinations"]["memq"]["max_messages"] == 50  # merged over the defaults
    assert data["destinations"]['/topic/"odd"/*']["web_read_block"] is True
    assert data["plugins"] == {"topics": {"max_durable_subscriptions": 10000}}  # the only directive of its table
    # Fed back as a config file, the output gives exactly the same configuration.
    shown = tmp_path / "shown.toml"
    shown.write_text(result.stdout)
    original, _ = load_config(directory)
    again, _ = load_config(shown)
    assert dict(again.server) == dict(original.server)
    assert dict(again.destination_defaults) == dict(original.destination_defaults)
    assert {name: dict(s) for name, s in again.destinations.items()} == {
        name: dict(s) for name, s in original.destinations.items()
    }
    assert [(p, dict(s)) for p, s in again.prefixes] == [(p, dict(s)) for p, s in original.prefixes]
    assert list(again.plugins) == list(original.plugins)


def test_show_config_of_the_bundled_config() -> None:
    result = xtomp("--show-config", "-c", str(BUNDLED))
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(strip_comments(result.stdout))
    assert data["server"]["listen"] == ["127.0.0.1:61613"]
    assert set(data["destinations"]) == {"memtop", "/topic/*", "memq", "/queue/*"}
    assert data["destinations"]["memq"]["min_delivery"] == 1
    assert {"topics", "queues"} <= set(data["plugins"])


# -- --plugins and --directives ------------------------------------------------------------


def plugin_rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["plugin", "distribution", "version", "enabled", "module"]
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_plugins_lists_topics_enabled() -> None:
    result = xtomp("--plugins", "-c", str(BUNDLED))
    assert result.returncode == 0, result.stderr
    assert plugin_rows(result.stdout)["topics"] == ["topics", "xtomp-topics", __version__, "yes", "xtomp_topics.plugin"]


def test_plugins_lists_topics_disabled(tmp_path: Path) -> None:
    directory = write_config(tmp_path, base='[server]\nlisten = ["127.0.0.1:0"]\n')
    result = xtomp("--plugins", "-c", str(directory))
    assert result.returncode == 0, result.stderr
    assert plugin_rows(result.stdout)["topics"][3] == "no"


def test_plugins_lists_enabled_but_missing(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "[plugins.nosuchplugin]\n")
    result = xtomp("--plugins", "-c", str(directory))
    assert result.returncode == 0, result.stderr
    rows = plugin_rows(result.stdout)
    assert rows["nosuchplugin"] == ["nosuchplugin", "(not", "installed)", "-", "yes", "-"]
    assert rows["topics"][3] == "yes"


def test_directives_prints_markdown_tables() -> None:
    result = xtomp("--directives")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("#### `[server]`\n\n| directive | kind | default | provided by | meaning |\n| --- |")
    assert '#### `[destination_defaults]` and `[destinations."NAME"]`' in out
    assert re.search(r'^\| `max_frame_size` \| size \| `"4m"` \| core \| Largest frame ', out, re.M)
    assert re.search(r'^\| `timeout` \| duration \| `"30s"` \| core \| ', out, re.M)
    assert re.search(r'^\| `slow_consumer` \| `pause` \\\| `drop` \\\| `disconnect` \| `"pause"` \| topics \| Topics: ', out, re.M)
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert all(line.endswith(" |") and line.count(" | ") >= 4 for line in rows)


# -- running: pid file and signals ----------------------------------------------------------


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT], ids=["SIGTERM", "SIGINT", "SIGQUIT"]
)
def test_signal_stops_the_broker_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    pid_file = tmp_path / "xtomp.pid"
    directory = write_config(tmp_path / "conf", f'[server]\npid_file = "{pid_file}"\n')
    with BrokerProcess(directory) as broker:  # started by __enter__
        assert broker.addresses and broker.addresses[0][:2] == ("tcp", "127.0.0.1")
        assert pid_file.read_text() == f"{broker.pid}\n"
        with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as client:
            client.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00")
            reply = b""
            while b"\x00" not in reply:
                chunk = client.recv(4096)
                assert chunk, "the broker closed the connection before CONNECTED"
                reply += chunk
            assert reply.startswith(b"CONNECTED\n")
            assert b"version:1.2\n" in reply
            assert broker.process is not None
            broker.process.send_signal(signum)
            status = broker.process.wait(15)
            # The broker closed our session on the way out: end of file, nothing more.
            client.settimeout(5)
            assert client.recv(4096) == b""
    assert status == 0, "".join(broker.log)
    assert not pid_file.exists()
    log = "".join(broker.log)
    assert "INFO xtomp.server: shutting down" in log
    assert "reason=\"broker shutting down\"" in log
    assert "Traceback" not in log


def test_sighup_reloads_and_the_pid_file_stays_true(tmp_path: Path) -> None:
    # SIGHUP's default action kills a process: the broker must catch it, reload, keep its pid file.
    pid_file = tmp_path / "xtomp.pid"
    directory = write_config(tmp_path / "conf", f'[server]\npid_file = "{pid_file}"\n')
    with BrokerProcess(directory) as broker:
        assert broker.process is not None
        start = len(broker.log)
        broker.process.send_signal(signal.SIGHUP)
        wait_until(lambda: any("configuration reloaded from" in line for line in broker.log[start:]), what="reload")
        assert broker.process.poll() is None
        assert pid_file.read_text() == f"{broker.pid}\n"
        assert broker.stop() == 0
    assert not pid_file.exists()


def test_a_command_line_with_only_the_config_skips_argparse_with_the_same_options():
    """``xtomp -c PATH`` (how a broker starts) does not build the argparse parser (1.1 MB of a
    running broker): its options must then read as the parser's defaults, all unset."""
    from xtomp_core import cli

    defaults = vars(cli._parser().parse_args(["-c", "conf.d"]))
    assert {name: value for name, value in defaults.items() if value and name != "config"} == {}
    fast = cli._Unset(config=cli._config_only(["-c", "conf.d"]))
    assert {name: getattr(fast, name) for name in defaults} == {**{name: None for name in defaults}, "config": "conf.d"}
    assert cli._config_only(["--config=x"]) == "x" and cli._config_only(["--config", "x"]) == "x"
    assert cli._config_only([]) == cli.DEFAULT_CONFIG
    for other in (["-c", "x", "-t"], ["-c", "-t"], ["--config="], ["-t"], ["-cx"]):
        assert cli._config_only(other) is None  # argparse decides
