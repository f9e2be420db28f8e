"""The whole-process memory ceiling: the message bytes the broker holds, and the producers paused above it.

Theory of operation
-------------------
What grows without bound under overload is message data held for clients: bytes waiting in
connections' write buffers (slow readers) and messages waiting in queues. Both are counted
as they change (a connection reports its transport's backlog after each flush and when it
drains or closes; a destination reports the bytes it starts or stops holding), so checking
the ceiling costs one comparison, and an idle broker does nothing at all.

Above ``max_memory`` every producer is paused: a SEND is accepted, then its connection is
no longer read until the ceiling is cleared; consumers keep draining (ACKs still flow, since
only a connection that SENDs is held), and new connections are still served. Below
``resume_fraction`` of the ceiling, the held producers are released. While over, the
connections' backlogs are re-read every ``RECOUNT_INTERVAL`` (a backlog that drained
without a write after it is only seen then), so a stale count never holds producers for ever.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

    from ..destination import Session

__all__ = ["MemoryGuard", "default_max_memory", "RECOUNT_INTERVAL"]

log = logging.getLogger("xtomp.memory")

#: How often the connections' backlogs are re-read while over the ceiling (seconds).
RECOUNT_INTERVAL = 0.1
#: A default ceiling takes this share of the machine's (or cgroup's) memory, as RabbitMQ's watermark.
DEFAULT_SHARE = 0.4


class Backlogged(Protocol):
    """A connection with bytes in its transport's write buffer."""

    def refresh_backlog(self) -> None: ...


def default_max_memory() -> int:
    """40 % of the machine's memory, or of the cgroup's limit when that is smaller."""
    total = 0
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and (not total or int(text) < total):
            total = int(text)
    return int((total or 1 << 30) * DEFAULT_SHARE)


class MemoryGuard:
    """Counts held message bytes against ``max_memory``; pauses producers above it."""

    __slots__ = ("limit", "resume_below", "held", "over", "paused", "pauses", "peak", "backlogged", "_loop",
                 "_timer", "_call_soon")

    def __init__(self, limit: int, resume_fraction: float = 0.8) -> None:
        self.limit = limit
        self.resume_below = int(limit * resume_fraction)
        #: Message bytes held now (write buffers and queues).
        self.held = 0
        self.peak = 0
        #: Over the ceiling: every SEND pauses its producer.
        self.over = False
        #: The producers paused by the ceiling.
        self.paused: dict[Session, None] = {}
        #: How many times a producer was paused by the ceiling.
        self.pauses = 0
        #: Connections whose transport holds unsent bytes (re-read while over).
        self.backlogged: set[Backlogged] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._call_soon: Callable[[Callable[[], None]], Any] = lambda callback: callback()

    def set_limit(self, limit: int, resume_fraction: float = 0.8) -> None:
        """A new ``max_memory`` (a reload): over or back below it from the next byte counted."""
        self.limit = limit
        self.resume_below = int(limit * resume_fraction)
        self.add(0)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._call_soon = loop.call_soon

    # -- counting ---------------------------------------------------------------------------------

    def add(self, delta: int) -> None:
        """``delta`` more (or fewer) message bytes held."""
        held = self.held = self.held + delta
        if held > self.peak:
            self.peak = held
        if held > self.limit:
            if not self.over:
                self._overflowing()
        elif self.over and held < self.resume_below:
            self._cleared()

    # -- over and back ----------------------------------------------------------------------------

    def pause(self, session: Session) -> None:
        """A SEND arrived while over the ceiling: hold its producer until the ceiling clears."""
        if session not in self.paused and session.connected:
            self.paused[session] = None
            self.pauses += 1
            session.hold(self)

    def _overflowing(self) -> None:
        self.over = True
        log.warning(
            "memory: %d bytes of messages held, over max_memory (%d): producers are paused until it falls "
            "below %d; consumers keep draining", self.held, self.limit, self.resume_below,
        )
        self._arm()

    def _cleared(self) -> None:
        self.over = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        paused, self.paused = self.paused, {}
        log.warning("memory: %d bytes of messages held, below %d again: %d producers resume",
                    self.held, self.resume_below, len(paused))
        for session in paused:
            self._call_soon(partial(session.release, self))

    def _arm(self) -> None:
        if self._loop is not None and self._timer is None:
            self._timer = self._loop.call_later(RECOUNT_INTERVAL, self._recount)

    def _recount(self) -> None:
        """While over: re-read every backlog (each corrects ``held`` by what it drained unseen)."""
        self._timer = None
        for connection in list(self.backlogged):
            connection.refresh_backlog()
        if self.over:
            self._arm()

    def figures(self) -> dict[str, Any]:
        return {
            "max": self.limit,
            "held": self.held,
            "peak": self.peak,
            "over": self.over,
            "paused_producers": len(self.paused),
            "producer_pauses": self.pauses,
        }
