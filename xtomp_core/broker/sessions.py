"""The sessions of one broker and the connection counters that outlive them."""

from __future__ import annotations

from typing import Any

from ..destination import Session

__all__ = ["SessionRegistry"]


class SessionRegistry:
    """Open sessions, open connections per transport, and totals that never go back."""

    __slots__ = ("sessions", "total", "transport_counts", "connected", "_frames_in_closed", "_frames_out_closed")

    def __init__(self) -> None:
        self.sessions: set[Session] = set()
        #: Connections accepted since start (xtomp's ``Σ``).
        self.total = 0
        #: Open connections per transport name.
        self.transport_counts: dict[str, int] = {}
        #: Open connections that completed CONNECT.
        self.connected = 0
        self._frames_in_closed = 0
        self._frames_out_closed = 0

    def created(self, session: Session) -> None:
        self.sessions.add(session)
        self.total += 1
        transport = session.link.transport_name
        self.transport_counts[transport] = self.transport_counts.get(transport, 0) + 1

    def started(self) -> None:
        self.connected += 1

    def ended(self, session: Session, was_connected: bool) -> None:
        self.sessions.discard(session)
        transport = session.link.transport_name
        left = self.transport_counts.get(transport, 1) - 1
        if left > 0:
            self.transport_counts[transport] = left
        else:
            self.transport_counts.pop(transport, None)
        self._frames_in_closed += session.frames_in
        self._frames_out_closed += session.link.frames_out
        if was_connected:
            self.connected -= 1

    def figures(self) -> dict[str, Any]:
        """Connection figures for ``stats()``: counts, and frames in and out since start."""
        sessions = self.sessions
        return {
            "connections": len(sessions),
            "sessions": self.connected,
            "transports": dict(self.transport_counts),
            "connections_accepted": self.total,
            "frames_in": self._frames_in_closed + sum(session.frames_in for session in sessions),
            "frames_out": self._frames_out_closed + sum(session.link.frames_out for session in sessions),
        }
