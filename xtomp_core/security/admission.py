"""Connection caps: how many clients at once, overall and per client address.

The transport asks :meth:`Admission.admit` as soon as a connection is accepted (before any
byte is read or any session exists) and closes a refused one at once. Each refusal is
counted; the first one of a streak is logged, and the next only after the address (or the
broker) got back below 90% of its cap, so a flood writes one log line, not one per
connection. The table holds only addresses with open connections: bounded by the cap.
"""

from __future__ import annotations

import logging
import os

__all__ = ["Admission", "default_connection_limit"]

log = logging.getLogger("xtomp.server")

#: File descriptors kept for listeners, log files, the event loop and the hashing threads.
RESERVED_FDS = 64


def default_connection_limit() -> int:
    """The open-file limit less a reserve: beyond it accept() would fail anyway, less politely."""
    # sysconf reads the soft RLIMIT_NOFILE (-1: unlimited) without importing the resource module.
    try:
        soft = os.sysconf("SC_OPEN_MAX")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not Unix
        return 10_000
    if soft < 0:
        return 1_000_000
    return max(1, soft - RESERVED_FDS)


class Admission:
    """Counts open connections per address; refuses beyond ``limit`` and ``per_address``."""

    __slots__ = ("limit", "per_address", "total", "by_address", "refused", "_warned", "_warned_total")

    def __init__(self, limit: int | None, per_address: int) -> None:
        self.limit = limit if limit is not None else default_connection_limit()
        self.per_address = per_address  # 0: no per-address limit
        self.total = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0
        self._warned: set[str] = set()
        self._warned_total = False

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (and nothing counted) when over a cap."""
        if self.total >= self.limit:
            self.refused += 1
            if not self._warned_total:
                self._warned_total = True
                log.warning("refusing connections: connection_limit (%d) reached", self.limit)
            return False
        count = self.by_address.get(address, 0)
        if self.per_address and count >= self.per_address:
            self.refused += 1
            if address not in self._warned:
                self._warned.add(address)
                log.warning(
                    "refusing connections from %s: connection_limit_per_address (%d) reached",
                    address, self.per_address,
                )
            return False
        self.total += 1
        self.by_address[address] = count + 1
        return True

    def release(self, address: str) -> None:
        """A connection admitted from ``address`` closed."""
        self.total -= 1
        count = self.by_address.get(address, 0) - 1
        if count > 0:
            self.by_address[address] = count
        else:
            self.by_address.pop(address, None)
        # Log again only once well below the cap, so churn at the cap does not flood the log.
        if self._warned_total and self.total <= self.limit * 9 // 10:
            self._warned_total = False
        if address in self._warned and count <= self.per_address * 9 // 10:
            self._warned.discard(address)
