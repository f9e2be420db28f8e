"""A STOMP connection whose bytes travel inside another framing (WebSocket): the core side of a Framing.

The transport plugin owns the framing (handshake, unwrapping, close frames); this class
keeps everything STOMP (parser, session, write coalescing, heart-beats, timeouts, flow
control) and is the :class:`~xtomp_core.FramedStream` the framing talks back to.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .connection import Kind, StompConnection

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..interfaces import Framing
    from ..limits import Limits

__all__ = ["FramedConnection"]

log = logging.getLogger("xtomp.connection")


class FramedConnection(StompConnection):
    """One connection carrying STOMP inside ``framing``; each outgoing frame gets its header.

    The header comes from ``framing.header(length)``, or from ``framing.header_for(prefix,
    tail)`` when that is not None (a header that depends on the bytes: WebSocket's text or
    binary frame type).
    """

    __slots__ = ("framing", "_header", "_header_for")

    def __init__(self, kind: Kind, framing: Framing) -> None:
        super().__init__(kind)
        self.framing = framing
        self._header = framing.header
        self._header_for: Callable[[bytes, bytes], bytes] | None = framing.header_for

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._admitted:
            self.framing.attach(self)

    # -- input ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._rx = True
        framing = self.framing
        framing.data_received(data)
        if not self._closing:
            self._time_partial_frame(framing.holds_partial_frame() or self.session.parser.in_frame)

    def _holds_partial_frame(self) -> bool:
        return self.framing.holds_partial_frame() or self.session.parser.in_frame

    # -- FramedStream -------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self.kind.broker.limits

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def close_reason(self) -> str:
        return self.session.close_reason

    def receive(self, data: bytes) -> None:
        if not self._closing:
            self.session.receive(data)

    def write_raw(self, data: bytes) -> None:
        if self.out:
            self.flush()  # the STOMP frames queued before it go first
        transport = self.transport
        assert transport is not None
        transport.write(data)

    def limit_version(self, version: int) -> None:
        self.session.max_version = version

    def end(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self.paused = True
            self._cancel_timers()
            self._cancel_frame_timer()
        self.out.clear()
        self.session.connection_lost(reason)
        transport = self.transport
        assert transport is not None
        transport.close()

    # -- output: a header before each STOMP frame ----------------------------------------------

    def push(self, prefix: bytes, tail: bytes) -> None:
        self.frames_out += 1
        out = self.out
        if not out:
            self.kind.flusher.add(self)
        length = len(prefix) + len(tail)
        header_for = self._header_for
        out += (self._header(length) if header_for is None else header_for(prefix, tail), prefix, tail)
        queued = self.queued + length
        self.queued = queued
        if queued > self._high:
            self.paused = True

    def write(self, data: bytes) -> None:
        self.frames_out += 1
        out = self.out
        if not out:
            self.kind.flusher.add(self)
        header_for = self._header_for
        out += (self._header(len(data)) if header_for is None else header_for(data, b""), data)
        queued = self.queued + len(data)
        self.queued = queued
        if queued > self._high:
            self.paused = True

    # -- closing and timeouts -------------------------------------------------------------------

    def _shutdown(self, linger: bool) -> None:
        transport = self.transport
        assert transport is not None
        goodbye = self.framing.goodbye(self.session.close_reason)
        if goodbye is None:
            transport.close()
            return
        transport.write(goodbye)
        wait = self.kind.broker.limits.linger
        if linger and wait > 0:
            self._read_timer = self.kind.flusher.loop.call_later(wait, transport.abort)
        else:
            transport.close()

    def _connect_timeout(self) -> None:
        if self.framing.timed_out():
            self._read_timer = None
            return
        super()._connect_timeout()
