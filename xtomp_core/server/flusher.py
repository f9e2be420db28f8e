"""The loop's write coalescer: each connection's queued frames written once per event-loop pass."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Flusher"]


class Flusher:
    """Writes each connection's queued frames once per event-loop pass."""

    __slots__ = ("loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[Any] = []
        self.scheduled = False

    def add(self, connection: Any) -> None:
        self.pending.append(connection)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        pending = self.pending
        self.pending = []
        self.scheduled = False
        for connection in pending:
            try:
                connection.flush()
            except Exception:  # one connection's fault must not strand the others of this pass
                connection.fault("flushing its output")
