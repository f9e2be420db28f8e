"""A throwaway ``redis-server`` on a free loopback port, for backplane tests (the cluster plugin's)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .waiting import reserved_port, wait_until

__all__ = ["REDIS_SERVER", "REDIS_TOOLS_BINARY", "RedisReplyError", "RedisServer", "redis_available", "redis_executable"]

#: Debian's redis-server (package redis-server, which also installs and starts a system service).
REDIS_SERVER = "/usr/bin/redis-server"
#: The same program in Debian's redis-tools (no service): Redis is one multi-call binary that
#: serves when its argv[0] is ``redis-server``. ``make test`` installs redis-tools when neither exists.
REDIS_TOOLS_BINARY = "/usr/bin/redis-check-rdb"


def redis_executable() -> str | None:
    """The program to run as ``redis-server``: /usr/bin/redis-server, else redis-tools' binary."""
    for candidate in (REDIS_SERVER, REDIS_TOOLS_BINARY):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class RedisServer:
    """``redis-server`` without persistence in a temporary directory, on a port kept across
    :meth:`stop` and :meth:`start` (so that a test can take Redis away and bring it back at
    the same address, as an outage would). ``url`` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, executable: str | None = None, port: int | None = None) -> None:
        self.executable = executable or redis_executable() or REDIS_SERVER
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
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "no",
            ],
            executable=self.executable,  # argv[0] stays "redis-server": the multi-call binary serves
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
        return bool(self.command("PING") == b"PONG")

    def command(self, *args: str | bytes) -> Any:
        """Send one command and return its reply, parsed: ``b"OK"`` for a status, an int, bytes
        (None for a null), a list, or a ``RedisReplyError`` (returned, not raised) for an error;
        None when the server cannot be reached. Enough for tests to poke the server (``PUBSUB
        NUMSUB``, ``CLIENT KILL``) without a client library."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as sock:
                sock.sendall(b"".join(parts))
                return _Reply(sock).read()
        except OSError:
            return None

    def subscribers(self, channel: str | bytes) -> int:
        """How many connections are subscribed to ``channel`` (PUBSUB NUMSUB); -1 when down."""
        reply = self.command("PUBSUB", "NUMSUB", channel)
        return int(reply[1]) if isinstance(reply, list) else -1

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


def redis_available() -> bool:
    return redis_executable() is not None


class RedisReplyError(Exception):
    """An error reply (``-ERR ...``) of :meth:`RedisServer.command`."""


class _Reply:
    """A blocking RESP2 reader over one socket (tests only)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            while len(self.buffer) < length + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                self.buffer += chunk
            data, self.buffer = self.buffer[:length], self.buffer[length + 2:]
            return data
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.read() for _ in range(count)]
        raise OSError(f"unexpected reply {line[:40]!r}")
