"""sd_notify: a broker process under ``$NOTIFY_SOCKET`` reports READY, RELOADING/READY, STOPPING.

The test plays systemd: it binds a unix datagram socket (a path, then an abstract name) and
reads what the broker sends, each read bounded by a socket timeout (no sleeping).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from xtomp_core.server.notify import notify
from xtomp_testing import BrokerProcess, wait_until, write_config


@pytest.fixture(params=["path", "abstract"])
def systemd(request: pytest.FixtureRequest) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(15)
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # sun_path holds 108 bytes
        if request.param == "path":
            name = str(Path(short) / "notify")
            sock.bind(name)
        else:
            name = f"@xtomp-test-{os.getpid()}-{Path(short).name}"
            sock.bind("\0" + name[1:])
        try:
            yield sock, name
        finally:
            sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_reloading_stopping(systemd: tuple[socket.socket, str], tmp_path: Path) -> None:
    sock, name = systemd
    directory = write_config(tmp_path / "conf")
    with BrokerProcess(directory, env={"NOTIFY_SOCKET": name}) as broker:
        assert receive(sock) == "READY=1\nSTATUS=listening on 127.0.0.1:0"
        assert broker.process is not None
        broker.process.send_signal(signal.SIGHUP)
        assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", receive(sock))
        assert receive(sock) == "READY=1"
        (directory / "50-test.toml").write_text("[server]\nmax_headers = 'ten'\n")  # a failed reload too
        broker.process.send_signal(signal.SIGHUP)
        assert receive(sock).startswith("RELOADING=1\n")
        assert receive(sock) == "READY=1"
        broker.process.send_signal(signal.SIGTERM)
        assert receive(sock) == "STOPPING=1"
        assert broker.process.wait(15) == 0
    log = wait_until(lambda: (text if "shutting down" in (text := "".join(broker.log)) else None), what="the log")
    assert "reload failed, the running configuration stays" in log
    assert "Traceback" not in log


def test_nothing_is_sent_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_an_unreachable_socket_is_logged_not_fatal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody"))
    assert notify("READY=1") is False
    assert "cannot notify systemd" in caplog.text
