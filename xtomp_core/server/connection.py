"""The asyncio side of one STOMP connection: write coalescing, flow control, timers, closing.

Theory of operation
-------------------
* **Writes** never go straight to the transport. ``push``/``write`` append to the
  connection's ``out`` list and, on the first append, register the connection with the
  loop's :class:`~.flusher.Flusher`, which writes every pending connection once per event-loop
  pass (``call_soon``). A publisher's burst of SENDs fanned out to a subscriber becomes one
  ``write`` of many frames: one system call instead of one per message.
* **Flow control**: ``paused`` is True while the connection holds more than
  ``write_buffer_high`` unsent bytes, and destinations treat it as a slow consumer (topics
  hold their producers, or drop or disconnect per policy; queues stop dispatching). Bytes
  are counted as they are queued (``queued``), so a burst within one loop pass pauses the
  connection before it is written, not after; the transport's own marks
  (``write_buffer_high`` / ``write_buffer_low``) take over once the bytes are in its buffer.
  When the connection can take more again (the flush left the transport under its high mark,
  or the transport drained below low), the session is told it is writable.
* **Timers** exist only when needed: one for the connect timeout (cancelled by CONNECT),
  and heart-beat timers only for connections that negotiated them, so a broker whose
  clients negotiated ``0,0`` has no timer at all when idle. Heart-beat timers tick every
  half interval and look at a flag set by ``data_received`` / ``flush`` instead of being
  re-armed for every byte.
* **Closing** after an ERROR or a DISCONNECT receipt half-closes (``write_eof``) and
  lingers until the client closes or ``linger`` passes, so the last frame is delivered
  rather than lost to a reset (STOMP 1.2 "Connection Lingering").
* **Framing**: a transport plugin (WebSocket) gives the connection a
  :class:`~xtomp_core.Framing` (see :mod:`.framed`): the framing unwraps input and puts a
  header before each outgoing frame; everything above stays here.
* **Faults**: one connection's failing flush is logged and aborts that connection only;
  the others of the same loop pass are still written.
* **Hostile clients**: a connection over the broker's connection caps is closed in
  ``connection_made``, before a session exists. A client whose unsent output passes
  ``write_buffer_max`` (it stopped reading but keeps asking for receipts) is aborted: only
  checked while the connection is paused, so a reader pays nothing. A partial frame must
  complete within ``frame_timeout`` (slowloris): the timer exists only while the parser
  (or, over WebSocket, the WebSocket framing) holds part of a frame, and is armed once per
  frame, not per read.
"""

from __future__ import annotations

import asyncio
import logging
import math
from sys import intern
from typing import TYPE_CHECKING, Any, cast

from ..broker.session import Session
from ..errors import XtompError
from .flusher import Flusher

if TYPE_CHECKING:
    from ..broker.broker import Broker

__all__ = ["Flusher", "Kind", "StompConnection", "format_peer"]

log = logging.getLogger("xtomp.connection")

EOL = b"\n"


def format_peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "?"


class Kind:
    """What every connection of one listener shares (its broker, the loop's flusher, its
    transport's name...): referenced once per connection rather than copied into each."""

    __slots__ = ("broker", "flusher", "memory", "transport_name", "web")

    def __init__(self, broker: Broker, transport_name: str = "tcp", web: bool = False) -> None:
        self.broker = broker
        self.flusher: Flusher = broker.flusher
        self.memory = broker.memory
        self.transport_name = transport_name
        self.web = web


class _Beats:
    """Heart-beat state, for the connections that negotiated heart-beats only."""

    __slots__ = ("write_timer", "send_interval", "receive_interval", "silent", "silent_limit")

    def __init__(self) -> None:
        self.write_timer: asyncio.TimerHandle | None = None
        self.send_interval = 0.0
        self.receive_interval = 0.0
        self.silent = 0
        self.silent_limit = 0


class _FrameClock:
    """Times the partial frame a client is sending (slowloris); exists only while there is one."""

    __slots__ = ("timer", "mark", "started")

    def __init__(self, mark: int, started: float) -> None:
        self.timer: asyncio.TimerHandle | None = None
        #: ``frames_in`` when the timed frame began: a higher count means a newer frame.
        self.mark = mark
        self.started = started


class StompConnection(asyncio.Protocol):
    """One TCP (or TLS) connection speaking STOMP; the :class:`~xtomp_core.interfaces.Link`
    its :class:`~xtomp_core.broker.session.Session` writes to."""

    # Per-connection memory counts (issue 16): what every connection of a listener shares is
    # in ``kind``; heart-beat and partial-frame state live in objects created when needed.
    __slots__ = (
        "kind",
        "session",
        "transport",
        "out",
        "paused",
        "queued",
        "backlog",
        "_high",
        "_tx_paused",
        "frames_out",
        "_closing",
        "_rx",
        "_tx",
        "_read_timer",
        "_beats",
        "peer_host",
        "_admitted",
        "_frame_clock",
    )

    session: Session

    def __init__(self, kind: Kind) -> None:
        # TCP and TLS connections; a transport with its own framing gets a FramedConnection.
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.paused = False
        #: Bytes queued in ``out`` since the last flush (counted against write_buffer_high).
        self.queued = 0
        self._high = kind.broker.limits.write_buffer_high  # here, not in kind: read per push
        #: The transport's unsent bytes when last looked at (counted in the broker's memory).
        self.backlog = 0
        #: The transport said pause_writing (its buffer is over the high mark).
        self._tx_paused = False
        self.frames_out = 0
        self._closing = False
        self._rx = False
        self._tx = False
        #: The connect timeout, then the heart-beat read check, or the linger after closing.
        self._read_timer: asyncio.TimerHandle | None = None
        self._beats: _Beats | None = None
        #: The client's IP address (for the connection caps, login rate limits and logs).
        self.peer_host = "?"
        self._admitted = False
        self._frame_clock: _FrameClock | None = None

    @property
    def broker(self) -> Broker:
        return self.kind.broker

    @property
    def flusher(self) -> Flusher:
        return self.kind.flusher

    @property
    def transport_name(self) -> str:
        return self.kind.transport_name

    @property
    def web(self) -> bool:
        return self.kind.web

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        # Interned: the connections from one address (all of them, behind a proxy) share one
        # string rather than holding 58 bytes each.
        self.peer_host = intern(str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "?"))
        if not self.kind.broker.admission.admit(self.peer_host):
            self._closing = True
            self.paused = True
            transport.abort()  # over a connection cap: no session, no byte read
            return
        self._admitted = True
        limits = self.kind.broker.limits
        transport.set_write_buffer_limits(high=limits.write_buffer_high, low=limits.write_buffer_low)
        self.session = Session(self.kind.broker, self)
        self.kind.broker.session_created(self.session)
        self._read_timer = self.kind.flusher.loop.call_later(limits.timeout, self._connect_timeout)

    def data_received(self, data: bytes) -> None:
        self._rx = True
        session = self.session
        session.receive(data)
        self._time_partial_frame(session.parser.in_frame)

    def _time_partial_frame(self, partial: bool) -> None:
        """Slowloris: time the partial frame the client is sending, if any (see _frame_check)."""
        if partial:
            frames_in = self.session.frames_in
            clock = self._frame_clock
            if clock is None:
                timeout = self.kind.broker.limits.frame_timeout
                if timeout > 0 and not self._closing:
                    loop = self.kind.flusher.loop
                    clock = self._frame_clock = _FrameClock(frames_in, loop.time())
                    clock.timer = loop.call_later(timeout, self._frame_check)
            elif frames_in != clock.mark:
                # A newer frame: its time starts now (the running timer re-arms for it)
                clock.mark = frames_in
                clock.started = self.kind.flusher.loop.time()
        elif self._frame_clock is not None:
            self._cancel_frame_timer()

    def eof_received(self) -> bool:
        self.flush()
        return False  # close our side too; what was queued is still written first

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.paused = True  # nobody delivers to a dead connection
        self.out.clear()
        if self.backlog:
            self._count_backlog(0)
        self._cancel_timers()
        self._cancel_frame_timer()
        if not self._admitted:
            return  # refused at accept: there is no session
        self._admitted = False
        self.kind.broker.admission.release(self.peer_host)
        reason = "connection closed by client" if exc is None else f"connection lost: {exc}"
        self.session.connection_lost(reason)

    def pause_writing(self) -> None:
        self._tx_paused = True
        self.paused = True

    def resume_writing(self) -> None:
        self._tx_paused = False
        self.refresh_backlog()
        if self._closing:
            return
        self.paused = False
        self.session.writable()

    # -- Link: output ---------------------------------------------------------------------

    def push(self, prefix: bytes, tail: bytes) -> None:
        self.frames_out += 1
        out = self.out
        if not out:
            self.kind.flusher.add(self)
        out.append(prefix)
        out.append(tail)
        queued = self.queued + len(prefix) + len(tail)
        self.queued = queued
        if queued > self._high:
            self.paused = True  # now, not after the flush: the rest of this pass goes elsewhere

    def write(self, data: bytes) -> None:
        self.frames_out += 1
        out = self.out
        if not out:
            self.kind.flusher.add(self)
        out.append(data)
        queued = self.queued + len(data)
        self.queued = queued
        if queued > self._high:
            self.paused = True

    def flush(self) -> bool:
        """Write what is queued; False when the connection is closing (or this aborted it)."""
        out = self.out
        if not out:
            return not self._closing
        if self._closing:
            out.clear()
            return False
        data = b"".join(out)
        out.clear()
        self.queued = 0
        self._tx = True
        transport = self.transport
        assert transport is not None
        transport.write(data)
        backlog = transport.get_write_buffer_size()
        if backlog != self.backlog:
            self._count_backlog(backlog)
        if self.paused:
            if backlog > self.kind.broker.limits.write_buffer_max:
                self._overflow(transport)
                return False
            if not self._tx_paused:
                # Paused by the count alone, and the transport took it all without pausing:
                # this client keeps up, so deliveries go on.
                self.paused = False
                self.session.writable()
        return True

    def _count_backlog(self, backlog: int) -> None:
        """Tell the broker's memory count how the transport's unsent bytes changed."""
        memory = self.kind.memory
        memory.add(backlog - self.backlog)
        if backlog and not self.backlog:
            memory.backlogged.add(self)
        elif not backlog:
            memory.backlogged.discard(self)
        self.backlog = backlog

    def refresh_backlog(self) -> None:
        """Re-read the transport's unsent bytes (they drain without telling us, unless paused)."""
        transport = self.transport
        backlog = transport.get_write_buffer_size() if transport is not None and not self._closing else 0
        if backlog != self.backlog:
            self._count_backlog(backlog)

    def _overflow(self, transport: asyncio.Transport) -> None:
        """The client let more than ``write_buffer_max`` bytes pile up: abort, do not wait for it."""
        limit = self.kind.broker.limits.write_buffer_max
        log.warning(
            "session %s: closed: more than write_buffer_max (%d bytes) unsent", self.session.describe(), limit
        )
        self._closing = True
        self.paused = True
        self._cancel_timers()
        self._cancel_frame_timer()
        self.session.close(f"write buffer over write_buffer_max ({limit} bytes)")
        transport.abort()  # close() would wait for a client that does not read

    # -- Link: lifecycle ------------------------------------------------------------------

    def connected(self, send_interval: float, receive_interval: float) -> None:
        self._cancel_timers()
        if send_interval <= 0 and receive_interval <= 0:
            return  # no heart-beats: no timer, and no heart-beat state either
        loop = self.kind.flusher.loop
        beats = self._beats = _Beats()
        if send_interval > 0:
            beats.send_interval = send_interval
            beats.write_timer = loop.call_later(send_interval / 2, self._beat)
        if receive_interval > 0:
            beats.receive_interval = receive_interval
            beats.silent_limit = math.ceil(2 * self.kind.broker.limits.heart_beat_grace)
            self._read_timer = loop.call_later(receive_interval / 2, self._check_alive)

    def close(self, linger: bool) -> None:
        if self._closing:
            return
        if not self.flush():
            return  # flush() found the write buffer over write_buffer_max and aborted
        self._closing = True
        self.paused = True
        self._cancel_timers()
        self._cancel_frame_timer()
        self._shutdown(linger)

    def _shutdown(self, linger: bool) -> None:
        """End the transport once the last frames are queued: plain STOMP half-closes and
        waits up to ``linger`` for the client to close (a framed connection sends its
        framing's goodbye instead)."""
        transport = self.transport
        assert transport is not None
        wait = self.kind.broker.limits.linger
        if linger and wait > 0 and transport.can_write_eof():
            transport.write_eof()
            self._read_timer = self.kind.flusher.loop.call_later(wait, transport.abort)
        else:
            transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    @property
    def peer(self) -> str:
        transport = self.transport
        return format_peer(transport.get_extra_info("peername")) if transport is not None else "?"

    def peer_certificate(self) -> dict[str, Any] | None:
        """The client's verified TLS certificate as ``SSLSocket.getpeercert()`` gives it; else None."""
        transport = self.transport
        if transport is None:
            return None
        certificate = transport.get_extra_info("peercert")
        return certificate if certificate else None

    def fault(self, doing: str) -> None:
        """An unexpected exception while ``doing`` something for this connection: log it and
        abort this connection alone (its session releases what it held)."""
        log.exception("connection %s: internal error %s; closing it", self.peer, doing)
        self._closing = True
        self.paused = True
        self.out.clear()
        transport = self.transport
        if transport is not None:
            transport.abort()  # connection_lost ends the session

    # -- timers ---------------------------------------------------------------------------

    def _cancel_timers(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        beats = self._beats
        if beats is not None and beats.write_timer is not None:
            beats.write_timer.cancel()
            beats.write_timer = None

    def _cancel_frame_timer(self) -> None:
        clock = self._frame_clock
        if clock is not None:
            self._frame_clock = None
            if clock.timer is not None:
                clock.timer.cancel()

    def _frame_check(self) -> None:
        """Close a client still sending the same frame ``frame_timeout`` after its first byte.

        Armed when a partial frame first appears; if that frame completed and a newer one
        is now partial, the timer is re-armed for what is left of the newer one's time.
        """
        clock = self._frame_clock
        if clock is None:
            return
        clock.timer = None
        if self._closing or not self._holds_partial_frame():
            self._frame_clock = None
            return
        loop = self.kind.flusher.loop
        timeout = self.kind.broker.limits.frame_timeout
        remaining = clock.started + timeout - loop.time()
        if remaining > 0:
            clock.timer = loop.call_later(remaining, self._frame_check)
            return
        log.info("session %s: a frame took longer than frame_timeout (%gs)", self.session.describe(), timeout)
        self.session.fail(XtompError(f"timeout - frame not completed within frame_timeout ({timeout:g}s)"))

    def _holds_partial_frame(self) -> bool:
        """Part of a frame is buffered (a framed connection adds its framing's partial frames)."""
        return self.session.parser.in_frame

    def _connect_timeout(self) -> None:
        self._read_timer = None
        timeout = self.kind.broker.limits.timeout
        self.session.fail(XtompError(f"timeout - no CONNECT within {timeout:g}s"))

    def _beat(self) -> None:
        """Send an EOL if nothing else was written during the last half interval."""
        beats = self._beats
        assert beats is not None
        if self._tx:
            self._tx = False
        else:
            self.write(EOL)  # through write(): a framing transport (WebSocket) wraps it too
            self.frames_out -= 1  # a heart-beat is not a frame
        beats.write_timer = self.kind.flusher.loop.call_later(beats.send_interval / 2, self._beat)

    def _check_alive(self) -> None:
        """Close a client silent for ``heart_beat_grace`` read intervals."""
        beats = self._beats
        assert beats is not None
        if self._rx or self.session.held:
            # Held (flow control, a pending receipt): the connection is not read, so its
            # beats wait in the socket; silence is ours, not the client's.
            self._rx = False
            beats.silent = 0
        else:
            beats.silent += 1
            if beats.silent >= beats.silent_limit:
                self._read_timer = None
                silence = beats.silent * beats.receive_interval / 2
                log.info("session %s: no heart-beat for %.1fs", self.session.describe(), silence)
                self.session.close(f"heart-beat timeout ({silence:g}s without data)")
                return
        self._read_timer = self.kind.flusher.loop.call_later(beats.receive_interval / 2, self._check_alive)
