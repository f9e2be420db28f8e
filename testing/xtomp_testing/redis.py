"""A throwaway ``redis-server`` on a free loopback port, for backplane tests (the cluster plugin's)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from .waiting import reserved_port, wait_until

__all__ = ["REDIS_SERVER", "RedisServer", "redis_available"]

#: Debian's redis-server (``make test`` installs it when missing); never run as a system service.
REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` without persistence in a temporary directory, on a port kept across
    :meth:`stop` and :meth:`start` (so that a test can take Redis away and bring it back at
    the same address, as an outage would). ``url`` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, executable: str = REDIS_SERVER, port: int | None = None) -> None:
        self.executable = executable
        if port is None:
            sock, port = reserved_port()
            sock.close()  # redis-server binds it a moment later
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="xtomp-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.running:
            return self
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            [
                self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "no",
            ],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
        )
        log.close()
        self.starts += 1
        wait_until(self.ping, timeout, f"redis-server on port {self.port} answering PING")
        return self

    def ping(self) -> bool:
        """True when the server answers PING (one short connection)."""
        if not self.running:
            return False
        return self.command("PING") == b"+PONG"

    def command(self, *args: str | bytes) -> bytes:
        """Send one command (RESP) and return the first line of the reply, raw (``+OK``,
        ``:3``, ``-ERR ...``); enough for tests to poke the server without a client library."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
                sock.sendall(b"".join(parts))
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return b""
        return reply.split(b"\r\n", 1)[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Kill the server (SIGKILL: an outage, not a goodbye) and wait for it to exit."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def redis_available(executable: str = REDIS_SERVER) -> bool:
    return os.access(executable, os.X_OK)
