"""What an xtomp operator's command line brings: nginx's ``-g 'DIRECTIVES;'`` and the default
configuration search that finds the C broker's ``/etc/xtomp.conf``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from xtomp_core.config.loader import default_config_path
from xtomp_testing import BrokerProcess, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]


def xtomp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xtomp_core", *args], capture_output=True, text=True, cwd=cwd)


# -- -g -------------------------------------------------------------------------------------------------


def test_global_directives_apply_as_if_in_the_main_file(tmp_path):
    conf = write_config(tmp_path / "conf")
    pid = tmp_path / "xtomp.pid"
    directives = f"daemon on; master_process on; pid {pid}; error_log stderr warn;"
    result = xtomp("--show-config", "-c", str(conf), "-g", directives)
    assert result.returncode == 0, result.stderr
    assert re.search(rf'^pid_file = "{re.escape(str(pid))}" +# -g$', result.stdout, re.M), result.stdout
    assert re.search(r'^log_level = "warning" +# -g$', result.stdout, re.M)
    assert "[info] -g:1: daemon is ignored" in result.stderr  # the same notes as in an xtomp.conf
    result = xtomp("-t", "-c", str(conf), "-g", directives)
    assert result.returncode == 0 and "-g)" in result.stdout, result.stdout + result.stderr


def test_the_same_directives_in_an_xtomp_conf_and_in_g(tmp_path):
    conf = tmp_path / "xtomp.conf"
    conf.write_text("xtomp { server { listen 127.0.0.1:0; } }\n")
    result = xtomp("--show-config", "-c", str(conf), "-g", "pid /run/xtomp/xtomp.pid;")
    assert result.returncode == 0, result.stderr
    assert re.search(r'^pid_file = "/run/xtomp/xtomp.pid" +# -g$', result.stdout, re.M), result.stdout


@pytest.mark.parametrize(
    ("directives", "message"),
    [
        ("bogus on;", '-g:1: unknown directive "bogus" in the main context'),
        ("pid /x.pid", '-g:1: unexpected end of file, expecting ";"'),
        ("daemon maybe;", '-g:1: invalid value "maybe" in "daemon": expected on or off'),
        ("xtomp { server { listen 1; } }", '-g:1: "xtomp { }" belongs in the configuration file'),
        ("include /etc/xtomp.d/*.conf;", "-g: include: only directives of the main context"),
        ("worker_processes 2;", "-g: server.workers: 2 worker processes need a backplane plugin"),
        ("pid /x.pid;", "-g: server.pid_file is already set in "),
    ],
)
def test_g_errors_name_g_and_the_directive(tmp_path, directives, message):
    conf = write_config(tmp_path / "conf", '[server]\npid_file = "/run/a.pid"\n' if "pid " in directives else "")
    result = xtomp("-t", "-c", str(conf), "-g", directives)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_reload_applies_g_again(tmp_path):
    """SIGHUP reads the files again with the same -g: pid_file is unchanged, so nothing asks for a restart."""
    conf = write_config(tmp_path / "conf")
    pid = tmp_path / "xtomp.pid"
    with BrokerProcess(conf, args=["-g", f"pid {pid};"]) as broker:
        assert pid.read_text() == f"{broker.pid}\n"
        (conf / "60-more.toml").write_text('[destinations."/queue/later"]\ntype = "topic"\n')
        broker.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        wait_until(lambda: any("configuration reloaded" in line or "reload refused" in line for line in broker.log),
                   what="the reload's outcome")
        log = "".join(broker.log)
        assert "configuration reloaded" in log, log
    assert not pid.exists()


# -- the default configuration ---------------------------------------------------------------------------


def test_the_default_search_order(tmp_path, monkeypatch):
    monkeypatch.delenv("XTOMP_CONFIG", raising=False)
    installed, checkout, original = tmp_path / "etc-xtomp", tmp_path / "conf.d", tmp_path / "xtomp.conf"
    search = (str(installed), str(checkout), str(original))
    assert default_config_path(search) == "conf.d"  # nothing there: the error will name ./conf.d
    original.write_text("xtomp { server { listen 1; } }\n")
    assert default_config_path(search) == str(original)  # the C broker's file, when nothing else is
    checkout.mkdir()
    assert default_config_path(search) == str(checkout)
    installed.mkdir()
    assert default_config_path(search) == str(installed)
    monkeypatch.setenv("XTOMP_CONFIG", "/srv/xtomp")
    assert default_config_path(search) == "/srv/xtomp"


def test_the_default_search_looks_at_etc_xtomp_conf():
    from xtomp_core.config.loader import DEFAULT_SEARCH

    assert DEFAULT_SEARCH == ("/etc/xtomp", "conf.d", "/etc/xtomp.conf")
    result = xtomp("--help")
    assert "/etc/xtomp.conf" in " ".join(result.stdout.split())


def test_make_run_keeps_the_bundled_conf_d():
    makefile = (ROOT / "Makefile").read_text()
    assert "\n\t$(BIN)/xtomp -c conf.d\n" in makefile
