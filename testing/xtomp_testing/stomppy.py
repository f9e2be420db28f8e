"""A thin stomp.py wrapper for tests: a connection whose listener records everything it hears."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Recorder", "stomp_py_connection"]


class Recorder:
    """A stomp.py listener keeping MESSAGE, ERROR and RECEIPT frames, with waits that time out."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.errors: list[Any] = []
        self.receipts: list[str] = []
        self.disconnected = threading.Event()
        self.heartbeat_timeouts = 0
        #: Heart-beats received from the broker.
        self.heartbeats = 0
        self._changed = threading.Condition()

    def _record(self, bucket: list[Any], item: Any) -> None:
        with self._changed:
            bucket.append(item)
            self._changed.notify_all()

    # stomp.ConnectionListener interface
    def on_message(self, frame: Any) -> None:
        self._record(self.messages, frame)

    def on_error(self, frame: Any) -> None:
        self._record(self.errors, frame)

    def on_receipt(self, frame: Any) -> None:
        self._record(self.receipts, frame.headers.get("receipt-id"))

    def on_disconnected(self) -> None:
        self.disconnected.set()
        with self._changed:
            self._changed.notify_all()

    def on_heartbeat_timeout(self) -> None:
        self.heartbeat_timeouts += 1

    def on_heartbeat(self) -> None:
        with self._changed:
            self.heartbeats += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("condition not reached in time")
                self._changed.wait(remaining)

    def wait_messages(self, count: int, timeout: float = 5.0) -> list[Any]:
        self.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages[:count]


def stomp_py_connection(host: str, port: int, version: str = "1.2", **kwargs: Any) -> tuple[Any, Recorder]:
    """A stomp.py connection (not yet connected) with a :class:`Recorder` attached."""
    import stomp

    factory = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
    connection = factory([(host, port)], **kwargs)
    recorder = Recorder()
    connection.set_listener("recorder", recorder)
    return connection, recorder
