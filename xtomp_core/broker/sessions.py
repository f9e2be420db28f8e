"""The sessions of one broker and the connection counters that outlive them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..destination import Session

__all__ = ["SessionList", "SessionRegistry"]


class _Anchor:
    """The list's head and tail: a circular list needs no end checks."""

    __slots__ = ("_prev", "_next")

    def __init__(self) -> None:
        self._prev: Any = self
        self._next: Any = self


class SessionList:
    """The open sessions, linked through their own ``_prev`` / ``_next`` slots.

    16 bytes a session, whatever the count: a set of sessions cost 27 to 107 bytes per
    entry depending on where its table was between resizes (105 at 5,000 connections), a
    dict keyed by session 29 to 59. Adding and removing are O(1). Iterate over a copy
    (``list(sessions)``) to close or end sessions while walking them.
    """

    __slots__ = ("_anchor", "_count")

    def __init__(self) -> None:
        self._anchor = _Anchor()
        self._count = 0

    def add(self, session: Session) -> None:
        node: Any = session
        if node._next is not None:
            return  # already in
        anchor = self._anchor
        last = anchor._prev
        node._prev = last
        node._next = anchor
        last._next = node
        anchor._prev = node
        self._count += 1

    def discard(self, session: Session) -> None:
        node: Any = session
        after = node._next
        if after is None:
            return  # not in
        before = node._prev
        before._next = after
        after._prev = before
        node._prev = node._next = None
        self._count -= 1

    def __len__(self) -> int:
        return self._count

    def __contains__(self, session: object) -> bool:
        return getattr(session, "_next", None) is not None

    def __iter__(self) -> Iterator[Session]:
        anchor = self._anchor
        node = anchor._next
        while node is not anchor:
            after = node._next  # read first: the caller may end this session meanwhile
            yield node
            node = after


class SessionRegistry:
    """Open sessions, open connections per transport, and totals that never go back."""

    __slots__ = ("sessions", "total", "transport_counts", "connected", "_frames_in_closed", "_frames_out_closed")

    def __init__(self) -> None:
        self.sessions = SessionList()
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
