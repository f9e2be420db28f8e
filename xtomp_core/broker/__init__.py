"""The broker's internals, independent of any transport: sessions, the destination table, auth, figures.

Plugins never import from here: everything they may use is in :mod:`xtomp_core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .broker import Broker

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Broker", "Session"]


def __getattr__(name: str) -> Any:
    # The session's module (with acks, receipts, transactions) is imported by the first connection.
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
