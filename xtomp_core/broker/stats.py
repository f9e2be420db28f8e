"""Process figures (resident memory, CPU time) and xtomp's ``/xtomp/stat`` publisher.

Theory of operation
-------------------
xtomp published its statistics as JSON messages on a destination literally named
``/xtomp/stat`` (xtomp-console subscribes to it). Here the publisher exists only when that
name is declared in the configuration (``[destinations."/xtomp/stat"]``): then one timer
ticks every ``stats_interval`` and publishes, through the destination's normal ``publish``
(so its type and limits apply, and a topic drops the figures when nobody listens):

* one ``cc`` message: ``{"cc": {"sz", "up", "Σ", "Σµ", "m"}, "broker": {...}, ...}`` --
  xtomp's connection figures, then the broader broker figures and whatever plugins add
  through ``xtomp_collect_stats``;
* one message per destination whose ``stats`` directive is on:
  ``{"dest", "sz", "q", "Δ", "Σ", ...}`` -- xtomp's keys first (``Δ`` = messages accepted
  since the previous tick), then the rest of ``Destination.stats()`` (delivered, dropped, and
  what each type adds: depth, in-flight, redeliveries...).

Bodies are pretty-printed as xtomp printed them (two-space indent, no space after the
colon, non-ASCII keys as UTF-8, a trailing LF). Without the declaration nothing is
scheduled: an idle broker makes no wakeups.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from ..destination import Destination, DestinationContext
    from ..interfaces import BrokerView

__all__ = ["STAT_DESTINATION", "StatPublisher", "resident_memory", "cpu_times", "xtomp_json"]

log = logging.getLogger("xtomp.stats")

#: The destination name xtomp published its statistics to.
STAT_DESTINATION = b"/xtomp/stat"

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory() -> int:
    """Resident set size of this process in bytes (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):  # pragma: no cover - not Linux
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def cpu_times() -> tuple[float, float]:
    """(user, system) CPU seconds used by this process so far."""
    times = os.times()
    return times.user, times.system


def xtomp_json(figures: dict[str, Any]) -> bytes:
    """A body as xtomp wrote it: ``{\\n  "dest":"memtop",\\n  "sz":0\\n}\\n``."""
    import json  # only with a stats destination (130 KB of idle memory otherwise)

    return (json.dumps(figures, indent=2, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


_HEADERS = {b"content-type": b"application/json;charset=utf-8"}


class StatPublisher:
    """Publishes the broker's figures to ``/xtomp/stat`` every ``interval`` seconds."""

    __slots__ = ("broker", "context", "destination", "interval", "_timer", "_last")

    def __init__(self, broker: BrokerView, destination: Destination, interval: float) -> None:
        self.broker = broker
        self.context: DestinationContext = broker.context
        self.destination = destination
        self.interval = interval
        self._timer: asyncio.TimerHandle | None = None
        #: Messages accepted per destination at the previous tick (for Δ), by name.
        self._last: dict[bytes, tuple[Destination, int]] = {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for name, destination in self.broker.destinations.items():
            self._last[name] = (destination, destination.enqueued)
        self._timer = loop.call_later(self.interval, self._tick, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(self.interval, self._tick, loop)
        try:
            self.publish()
        except Exception:  # a plugin's collect_stats or a destination failed: keep ticking
            log.exception("publishing statistics to %s failed", STAT_DESTINATION.decode())

    def bodies(self) -> list[bytes]:
        """The JSON bodies of one tick: the ``cc`` message, then one per ``stats`` destination."""
        figures = self.broker.stats(destinations=False)
        bodies = [xtomp_json(figures)]
        last = self._last
        seen: dict[bytes, tuple[Destination, int]] = {}
        for name, destination in self.broker.destinations.items():
            total = destination.enqueued
            seen[name] = (destination, total)
            if not destination.settings.get("stats"):  # a plugin's own settings may lack it
                continue
            previous = last.get(name)
            since = total - previous[1] if previous is not None and previous[0] is destination else total
            own = destination.stats()
            figures = {"dest": own.pop("dest"), "sz": own.pop("sz"), "q": own.pop("q"), "Δ": since}
            figures["Σ"] = own.pop("Σ", total)
            figures.update(own)
            bodies.append(xtomp_json(figures))
        self._last = seen  # forgets removed destinations
        return bodies

    def publish(self) -> None:
        destination = self.destination
        if destination.closed:
            return
        for body in self.bodies():
            self.context.publish(destination.name, dict(_HEADERS), body)
