"""Failed logins per client address: a bounded table with lazy expiry (no timer, ever).

Theory of operation
-------------------
Each address that failed a login has one entry: how many failures, and when the current
window began. A failure more than ``window`` seconds after the window began starts a new
window. An address is locked while its window is open and holds ``max_failures`` failures:
every CONNECT from it is refused (after the usual delay) without asking any authenticator,
so a password-guessing client gets ``max_failures`` guesses per window and costs no hashing.

The table is an ``OrderedDict`` kept in order of last failure and capped at ``size``
entries: when it is full the address that failed least recently is forgotten. Entries
expire only when looked at, so an idle broker does no work for it. A successful login does
not clear its address (an attacker with one valid account could otherwise reset the count
between guesses); the window does.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..primitives import Link

__all__ = ["FailureTable", "client_address"]

log = logging.getLogger("xtomp.auth")


def client_address(link: Link) -> str:
    """The client's IP address (the key of the failure table): the link's ``peer_host``."""
    return link.peer_host or "?"


class FailureTable:
    """Counts failed logins per address; see the module docstring."""

    __slots__ = ("max_failures", "window", "size", "clock", "_entries")

    def __init__(
        self, max_failures: int, window: float, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.size = size
        self.clock = clock
        #: address -> [failures, start of the window]
        self._entries: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def locked(self, address: str) -> bool:
        """True while ``address`` has used up its failures in the current window."""
        entry = self._entries.get(address)
        if entry is None:
            return False
        if self.clock() - entry[1] > self.window:
            del self._entries[address]
            return False
        return entry[0] >= self.max_failures

    def failed(self, address: str) -> None:
        """Record one failed login from ``address``."""
        now = self.clock()
        entries = self._entries
        entry = entries.get(address)
        if entry is None or now - entry[1] > self.window:
            entry = [0, now]
            entries[address] = entry
            if len(entries) > self.size:
                entries.popitem(last=False)
        else:
            entries.move_to_end(address)
        entry[0] += 1
        if entry[0] == self.max_failures:
            remaining = self.window - (now - entry[1])
            log.warning(
                "client %s locked out for %.0fs after %d failed logins", address, remaining, self.max_failures
            )
