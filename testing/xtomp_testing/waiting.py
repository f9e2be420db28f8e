"""Synchronisation for tests: poll a condition under a deadline instead of sleeping."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until", "reserved_port"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``.

    The deadline only bounds a failing test: a passing one returns as soon as the condition
    holds, so no duration is asserted.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.01)


def reserved_port(host: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A listening socket on a port the OS picked, and that port.

    Keep the socket open until the process under test is about to bind the port, and close
    it just before (the window in which another process could take it is then as small as it
    can be without passing the socket itself); a test that can pass the socket or use port 0
    should do that instead.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(1)
    return sock, int(sock.getsockname()[1])
