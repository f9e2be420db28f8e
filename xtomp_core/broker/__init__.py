"""The broker's internals, independent of any transport: sessions, the destination table, auth, figures.

Plugins never import from here: everything they may use is in :mod:`xtomp_core`.
"""

from .broker import Broker
from .session import Session

__all__ = ["Broker", "Session"]
