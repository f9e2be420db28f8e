"""Message expiry: deadlines from SEND headers and the ``expiry`` directive, and one timer per queue that runs only while something can expire."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Mapping

from xtomp_core import FrameRejected

from .consumer import Held
from .headers import EXPIRATION, EXPIRES

__all__ = ["deadline", "ExpiryTimer", "EXPIRES", "EXPIRATION"]



def _milliseconds(name: bytes, value: bytes) -> int:
    if not value.isdigit() or len(value) > 15:
        shown = value[:20].decode("utf-8", "replace")
        raise FrameRejected(f"{name.decode()} must be a whole number of milliseconds, not {shown!r}")
    return int(value)


def deadline(headers: Mapping[bytes, bytes], ttl: float, now: float) -> float:
    """When a message sent now expires (seconds since the epoch), 0.0 for never.

    The earliest of ``expires`` (absolute, ActiveMQ), ``expiration`` (relative, RabbitMQ)
    and the destination's ``expiry`` directive (``ttl`` seconds, 0 = none) wins.
    """
    found = now + ttl if ttl else 0.0
    value = headers.get(EXPIRES)
    if value is not None:
        absolute = _milliseconds(EXPIRES, value)
        if absolute and (not found or absolute / 1000.0 < found):
            found = absolute / 1000.0
    value = headers.get(EXPIRATION)
    if value is not None:
        relative = now + _milliseconds(EXPIRATION, value) / 1000.0
        if not found or relative < found:
            found = relative
    return found


class ExpiryTimer:
    """The deadlines of a queue's waiting messages, in a heap, with one loop timer armed for the earliest.

    Nothing is scheduled while no waiting message has a deadline, so a queue without
    expiring messages costs no wake-up. Entries are not removed when their message is
    delivered: the callback skips what is no longer waiting (``Held.where``).
    """

    __slots__ = ("_heap", "_order", "_handle", "_armed_for", "_expire", "_loop")

    #: The deadline of a message, for the queue that holds this timer.
    deadline = staticmethod(deadline)

    def __init__(self, expire: Callable[[list[Held]], None], loop: asyncio.AbstractEventLoop | None) -> None:
        self._heap: list[tuple[float, int, Held]] = []
        self._order = itertools.count()  # ties: first in, first out; never compares Held
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        self._expire = expire
        self._loop = loop

    def watch(self, held: Held) -> None:
        heapq.heappush(self._heap, (held.expires, next(self._order), held))
        if self._handle is None or held.expires < self._armed_for:
            self._arm(held.expires)

    def _arm(self, when: float) -> None:
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (unit use): expiry is still enforced at delivery
        if self._handle is not None:
            self._handle.cancel()
        self._armed_for = when
        self._handle = loop.call_later(max(0.0, when - time.time()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        now = time.time()
        due = []
        while heap and heap[0][0] <= now:
            held = heapq.heappop(heap)[2]
            if held.expires and held.expires <= now:
                due.append(held)
        if due:
            self._expire(due)
        if heap:
            self._arm(heap[0][0])

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def __len__(self) -> int:
        return len(self._heap)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
