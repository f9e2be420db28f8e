"""Per-connection STOMP state: CONNECT, frame dispatch, receipts, errors, subscriptions, transactions.

Theory of operation (STOMP 1.2 "Client Frames", "Server Frames", "Connection Lingering")
----------------------------------------------------------------------------------------
The transport hands received bytes to :meth:`Session.receive`; the session feeds its
:class:`~xtomp_core.protocol.FrameParser` and dispatches each frame through a dict of
handlers. Before CONNECT only CONNECT/STOMP is valid; afterwards the connected table is
used, so the state costs no per-frame check. Every handler is synchronous. The one
exception is an asynchronous authenticator: then reading pauses, the half-consumed frame
iterator is kept, and dispatch resumes where it stopped once the answer arrives, so
frames pipelined behind CONNECT are neither lost nor reordered.

Until CONNECT succeeds the parser accepts frames up to ``max_frame_size_unauthenticated``
only; ``_connected`` raises the limit to ``max_frame_size``. Access rules are checked at
SUBSCRIBE and at the first SEND to each destination; the SEND memo then remembers the
destination, so later SENDs cost one dict lookup and no check.

Errors: any ``XtompError`` raised while handling a frame (or by the parser) becomes one
ERROR frame whose ``message`` is the error text and whose ``receipt-id`` echoes the failing
frame's ``receipt``; then the session closes gracefully (the transport half-closes and
lingers so the ERROR arrives). An unexpected exception is logged with its traceback and
the client only sees ``general - internal error``.

Transactions buffer SEND, ACK and NACK frames and replay them in order on COMMIT, so
destinations see them exactly as if they had arrived then; ABORT drops them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..errors import (
    AuthRejected,
    Blocked,
    DestinationFull,
    FrameRejected,
    LimitExceeded,
    ProtocolError,
    XtompError,
)
from ..interfaces import Principal
from ..protocol import constants as c
from ..protocol.encoder import connected_frame, error_frame, receipt_frame
from ..protocol.frame import Frame
from ..protocol.negotiation import negotiate_heart_beat, negotiate_version, parse_heart_beat
from ..protocol.parser import FrameParser
from .message import Message
from .subscription import Subscription

if TYPE_CHECKING:
    from ..interfaces import Filter, Link
    from .broker import Broker
    from .destination import Destination

__all__ = ["Session"]

log = logging.getLogger("xtomp.session")

AWAITING_CONNECT = 0
AUTHENTICATING = 1
CONNECTED = 2
CLOSED = 3
_STATE_NAMES = ("awaiting CONNECT", "authenticating", "connected", "closed")

Handler = Callable[["Session", Frame], None]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def _show(raw: bytes, limit: int = 60) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("..." if len(raw) > limit else "")


class Session:
    """The protocol state of one client connection, independent of the transport."""

    __slots__ = (
        "broker",
        "link",
        "parser",
        "state",
        "version",
        "max_version",
        "id",
        "principal",
        "host",
        "subscriptions",
        "transactions",
        "frames_in",
        "opened_at",
        "close_reason",
        "_handlers",
        "_frames",
        "_stash",
        "_held",
        "_send_memo",
    )

    def __init__(self, broker: Broker, link: Link) -> None:
        self.broker = broker
        self.link = link
        limits = broker.limits
        self.parser = FrameParser(
            # RabbitMQ-style: a smaller limit until CONNECT succeeds (raised in _connected)
            max_frame_size=limits.max_frame_size_unauthenticated,
            max_headers=limits.max_headers,
            max_header_length=limits.max_header_length,
        )
        self.state = AWAITING_CONNECT
        self.version = c.V1_0
        #: The highest version CONNECT may negotiate; a transport lowers it before CONNECT
        #: when its own handshake agreed on less (WebSocket subprotocol ``v11.stomp``).
        self.max_version = c.V1_2
        self.id = b""
        self.principal: Principal | None = None
        self.host: bytes | None = None
        self.subscriptions: dict[bytes, Subscription] = {}
        self.transactions: dict[bytes, list[Frame]] | None = None
        self.frames_in = 0
        self.opened_at = time.monotonic()
        self.close_reason = ""
        self._handlers: dict[bytes, Handler] = _BEFORE_CONNECT
        self._frames: Iterator[Frame] | None = None
        self._stash: list[bytes] | None = None
        #: Frame handling is on hold (flow control: a full queue with ``when_full = "pause"``).
        self._held = False
        self._send_memo: dict[bytes, Destination] | None = None

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the transport, in order."""
        state = self.state
        if (state == CONNECTED and not self._held) or state == AWAITING_CONNECT:
            self._frames = self.parser.feed(data)
            self._dispatch()
        elif state == AUTHENTICATING or state == CONNECTED:
            # Reading is paused, but bytes already read may still arrive: keep them in order.
            if self._stash is None:
                self._stash = []
            self._stash.append(data)
        # CLOSED: the connection is lingering after an ERROR; input is discarded.

    def _dispatch(self) -> None:
        frames = self._frames
        assert frames is not None
        frame: Frame | None = None
        handlers = self._handlers
        try:
            for frame in frames:
                self.frames_in += 1
                handlers[frame.command](self, frame)
                frame = None
                if self._held:
                    return  # resumed by release(), with the rest of this read
                if self.state != CONNECTED:
                    if self.state == AWAITING_CONNECT:
                        continue
                    if self.state == AUTHENTICATING:
                        return  # resumed by _connected_after_auth
                    break
                handlers = self._handlers
        except XtompError as error:
            self._fail(error, frame)
        except Exception:
            log.exception("session %s: internal error handling %r", self.describe(), frame)
            self._fail(XtompError("general - internal error"), frame)
        self._frames = None

    # -- output helpers -------------------------------------------------------------------

    def _receipt(self, frame: Frame) -> None:
        receipt = frame.headers.get(c.H_RECEIPT)
        if receipt is not None:
            self.link.write(receipt_frame(receipt, self.version))

    def fail(self, error: XtompError) -> None:
        """Send an ERROR not caused by one frame (a timeout, a policy) and close gracefully."""
        self._fail(error, None)

    def _fail(self, error: XtompError, frame: Frame | None) -> None:
        """Send one ERROR for ``error`` (echoing the frame's receipt) and close gracefully."""
        if self.state == CLOSED:
            return
        receipt = frame.headers.get(c.H_RECEIPT) if frame is not None else None
        text = str(error)
        if isinstance(error, (ProtocolError, AuthRejected)) or frame is None:
            log.info("session %s: %s", self.describe(), text)
        else:
            log.info("session %s: %s frame refused: %s", self.describe(), frame.command.decode(), text)
        self.link.write(error_frame(text, self.version, receipt))
        self.close(text, linger=True)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self, reason: str, linger: bool = False) -> None:
        """End the session from the broker side (ERROR, DISCONNECT, shutdown, slow consumer)."""
        if self.state == CLOSED:
            return
        self._end(reason)
        self.link.close(linger)

    def connection_lost(self, reason: str) -> None:
        """The transport closed (EOF, reset, timeout); release everything the session held."""
        if self.state != CLOSED:
            self._end(reason)

    def _end(self, reason: str) -> None:
        was_connected = self.state == CONNECTED
        self.state = CLOSED
        self.close_reason = reason
        self._frames = None
        self._stash = None
        self.transactions = None
        subscriptions = list(self.subscriptions.values())
        self.subscriptions.clear()
        for subscription in subscriptions:
            try:
                subscription.destination.unsubscribe(subscription)
            except Exception:  # one destination's failure must not keep the others' state
                log.exception("session %s: unsubscribe from %r failed", self.describe(), subscription.destination)
        self.broker.session_ended(self, reason, was_connected)

    def hold(self) -> None:
        """Stop handling this client's frames after the current one, and stop reading, until
        :meth:`release`: flow control for a producer (frames already read wait, in order)."""
        if self.state == CONNECTED and not self._held:
            self._held = True
            self.link.pause_reading()

    def release(self) -> None:
        """Handle the frames that waited since :meth:`hold`, then read again."""
        if not self._held:
            return
        self._held = False
        if self.state != CONNECTED:
            return
        self.link.resume_reading()
        if self._frames is not None:
            self._dispatch()
        stash, self._stash = self._stash, None
        for data in stash or ():
            self.receive(data)

    @property
    def held(self) -> bool:
        return self._held

    def writable(self) -> None:
        """The transport drained below ``write_buffer_low``: destinations may deliver again."""
        for subscription in list(self.subscriptions.values()):
            subscription.destination.writable(subscription)

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED

    @property
    def login(self) -> str | None:
        return self.principal.login if self.principal is not None else None

    def describe(self) -> str:
        name = self.id.decode() if self.id else "-"
        return f"{name} ({self.link.peer}, {self.link.transport_name}, {_STATE_NAMES[self.state]})"

    # -- CONNECT --------------------------------------------------------------------------

    def _on_connect(self, frame: Frame) -> None:
        headers = frame.headers
        version = negotiate_version(headers.get(c.H_ACCEPT_VERSION), self.max_version)
        if version is None:
            offered = _show(headers.get(c.H_ACCEPT_VERSION, b""))
            usable = [v for v in c.SUPPORTED_VERSIONS if v <= self.max_version]
            supported = b",".join(c.VERSION_TEXT[v] for v in usable)
            names = [c.VERSION_TEXT[v].decode() for v in usable]
            spoken = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            text = f"unsupported STOMP version {offered}: this broker speaks {spoken}"
            if self.max_version != c.SUPPORTED_VERSIONS[-1]:
                text += " on this connection"
            body = b"Supported protocol versions are " + b" ".join(c.VERSION_TEXT[v] for v in usable) + b"\n"
            self.link.write(error_frame(text, c.V1_0, extra=[(c.H_VERSION, supported)], body=body))
            self.close(text, linger=True)
            return
        self.version = version
        host = headers.get(c.H_HOST)
        allowed_hosts = self.broker.virtual_hosts
        if allowed_hosts and host is not None and host not in allowed_hosts:
            raise FrameRejected(f"unknown virtual host {_show(host)!r}")
        self.host = host
        client_beats = parse_heart_beat(headers.get(c.H_HEART_BEAT))
        login = _text(headers.get(c.H_LOGIN))
        passcode = _text(headers.get(c.H_PASSCODE))
        result = self.broker.auth.authenticate(login, passcode, self)
        if isinstance(result, Principal):
            self._connected(result, client_beats)
            return
        self.state = AUTHENTICATING
        self.link.pause_reading()
        self.broker.run_async(result, lambda outcome: self._authenticated(outcome, frame, client_beats))

    def _authenticated(self, outcome: Principal | BaseException, frame: Frame, beats: tuple[int, int]) -> None:
        """Completion of an asynchronous authentication: continue where dispatch stopped."""
        if self.state != AUTHENTICATING:
            return  # the connection went away meanwhile
        self.state = AWAITING_CONNECT
        if isinstance(outcome, BaseException):
            error = outcome if isinstance(outcome, XtompError) else AuthRejected("authentication failed")
            if not isinstance(outcome, XtompError):
                log.error("authenticator failed", exc_info=outcome)
            self._fail(error, frame)
            return
        try:
            self._connected(outcome, beats)
        except XtompError as error:
            self._fail(error, frame)
            return
        self.link.resume_reading()
        if self._frames is not None:
            self._dispatch()
        stash, self._stash = self._stash, None
        for data in stash or ():
            self.receive(data)

    def _connected(self, principal: Principal, client_beats: tuple[int, int]) -> None:
        broker = self.broker
        self.principal = principal
        self.id = broker.new_session_id()
        limits = broker.limits
        send_ms, receive_ms = negotiate_heart_beat(
            client_beats, limits.heart_beat_read_ms, limits.heart_beat_write_min_ms, limits.heart_beat_write_max_ms
        )
        self.parser.version = self.version
        self.parser.max_frame_size = limits.max_frame_size
        self.state = CONNECTED
        self._handlers = _CONNECTED
        self.link.write(connected_frame(self.version, broker.server_header, self.id, (send_ms, receive_ms)))
        self.link.connected(send_ms / 1000.0, receive_ms / 1000.0)
        broker.session_started(self)

    def _on_connect_again(self, frame: Frame) -> None:
        raise FrameRejected("already connected: a second CONNECT is not allowed")

    def _on_not_connected(self, frame: Frame) -> None:
        raise FrameRejected(f"not connected: send CONNECT (or STOMP) before {frame.command.decode()}")

    # -- SEND -----------------------------------------------------------------------------

    def _on_send(self, frame: Frame) -> None:
        headers = frame.headers
        transaction = headers.get(c.H_TRANSACTION)
        if transaction is not None:
            # Refused now rather than at COMMIT, where the frames before it would already be
            # out: what stays for COMMIT to fail on is only a destination's state (a full queue).
            self._checked_destination(frame)
            self._buffer(transaction, frame)
        else:
            self._publish(frame)
        receipt = headers.get(c.H_RECEIPT)
        if receipt is not None:
            self.link.write(receipt_frame(receipt, self.version))

    def _publish(self, frame: Frame) -> None:
        destination = self._checked_destination(frame)
        headers = frame.headers
        rewrites = self.broker.send_header_rewrites
        if rewrites:
            for header, rewrite in rewrites.items():
                value = headers.get(header)
                if value is not None:
                    replaced = rewrite(self, value)
                    if replaced is not None:
                        headers[header] = replaced
        destination.publish(Message(next(self.broker.message_ids), destination.name, headers, frame.body), self)

    def _checked_destination(self, frame: Frame) -> Destination:
        """A SEND's destination, once every check that does not depend on its state has passed:
        the header, web block, access rules (memoized per destination) and the body's size."""
        name = frame.headers.get(c.H_DESTINATION)
        if name is None:
            raise FrameRejected("destination unknown - SEND needs a destination header")
        memo = self._send_memo
        destination = memo.get(name) if memo is not None else None
        if destination is None or destination.closed:
            destination = self._writable_destination(name)
        size = len(frame.body)
        if size > destination.max_message_size:
            raise LimitExceeded(
                "msg flup",
                f"body of {size} bytes is larger than max_message_size "
                f"({destination.max_message_size}) of {_show(name)}",
            )
        return destination

    def _writable_destination(self, name: bytes) -> Destination:
        """Resolve a SEND destination and check it once (web block, access rules); later SENDs hit the memo."""
        broker = self.broker
        destination = broker.destination_for(self, name)
        if destination.web_write_block and self.link.web:
            raise Blocked(f"web sessions may not send to {_show(name)}")
        if broker.access is not None:
            broker.access.check_send(destination, self.principal)
        if self._send_memo is None:
            self._send_memo = {}
        elif len(self._send_memo) >= self.broker.limits.max_subscriptions:
            self._send_memo.clear()  # bounded: a client cycling through names cannot grow it
        self._send_memo[name] = destination
        return destination

    # -- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------

    def _on_subscribe(self, frame: Frame) -> None:
        headers = frame.headers
        name = headers.get(c.H_DESTINATION)
        if name is None:
            raise FrameRejected("destination unknown - SUBSCRIBE needs a destination header")
        subscription_id = headers.get(c.H_ID)
        if subscription_id is None:
            if self.version != c.V1_0:
                raise FrameRejected("SUBSCRIBE needs an id header")
            subscription_id = name  # STOMP 1.0: the id is optional; ActiveMQ uses the destination
        if subscription_id in self.subscriptions:
            raise FrameRejected(f"duplicate subscription id {_show(subscription_id)!r} on this connection")
        if len(self.subscriptions) >= self.broker.limits.max_subscriptions:
            raise LimitExceeded(
                "subs flup", f"this connection already holds max_subscriptions ({self.broker.limits.max_subscriptions})"
            )
        ack = headers.get(c.H_ACK, c.ACK_AUTO)
        if ack not in c.ACK_MODES:
            raise FrameRejected(f"invalid ack mode {_show(ack)!r}: use auto, client or client-individual")
        destination = self.broker.destination_for(self, name)
        if destination.web_read_block and self.link.web:
            raise Blocked(f"web sessions may not subscribe to {_show(name)}")
        if self.broker.access is not None:
            self.broker.access.check_subscribe(destination, self.principal)
        subscription_filter = None
        engines = self.broker.filter_engines
        if engines:
            for header, engine in engines.items():
                value = headers.get(header)
                if value is not None:
                    if subscription_filter is not None:
                        raise FrameRejected("a subscription takes one filter: use either filter or selector")
                    subscription_filter = engine.compile(value, destination)
            if subscription_filter is None:
                for check in self.broker.unfiltered_checks:
                    check(destination)
        for header in c.FILTER_HEADERS:
            if header in headers and header not in engines:
                # Delivering everything to a subscriber that asked for a subset (RabbitMQ
                # ignores selectors) is a silent bug for that client: refuse instead.
                raise FrameRejected(
                    f"{header.decode()} headers are not supported here: the filters plugin "
                    "(xtomp-filters) is not enabled"
                )
        subscription = self.add_subscription(subscription_id, destination, headers, ack, subscription_filter, start=False)
        self._receipt(frame)
        destination.started(subscription)

    def add_subscription(
        self,
        subscription_id: bytes,
        destination: Destination,
        headers: Mapping[bytes, bytes],
        ack: bytes = c.ACK_AUTO,
        subscription_filter: Filter | None = None,
        start: bool = True,
    ) -> Subscription:
        """Subscribe this session (SUBSCRIBE, or a plugin subscribing on the client's behalf,
        as the queues plugin does for a ``reply-to:/temp-queue/NAME``).

        With ``start`` False the caller calls ``destination.started`` itself: SUBSCRIBE does
        so after its RECEIPT, so the RECEIPT comes before any message already waiting.
        """
        subscription = Subscription(self, subscription_id, destination, ack, subscription_filter)
        destination.subscribe(subscription, headers)
        self.subscriptions[subscription_id] = subscription
        if start:
            destination.started(subscription)
        return subscription

    def _on_unsubscribe(self, frame: Frame) -> None:
        headers = frame.headers
        subscription_id = headers.get(c.H_ID)
        if subscription_id is None:
            name = headers.get(c.H_DESTINATION)
            if self.version != c.V1_0 or name is None:
                raise FrameRejected("UNSUBSCRIBE needs an id header")
            subscription_id = next((s.id for s in self.subscriptions.values() if s.destination.name == name), name)
        subscription = self.subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise FrameRejected(f"no subscription with id {_show(subscription_id)!r} on this connection")
        subscription.destination.unsubscribe(subscription)
        self._receipt(frame)

    # -- ACK / NACK -----------------------------------------------------------------------

    def _on_ack(self, frame: Frame) -> None:
        self._acknowledge_or_buffer(frame)

    def _on_nack(self, frame: Frame) -> None:
        self._acknowledge_or_buffer(frame)

    def _acknowledge_or_buffer(self, frame: Frame) -> None:
        transaction = frame.headers.get(c.H_TRANSACTION)
        if transaction is not None:
            self._buffer(transaction, frame)
        else:
            self._acknowledge(frame)
        self._receipt(frame)

    def _acknowledge(self, frame: Frame) -> None:
        subscription, message_id = self._find_delivery(frame)
        if frame.command == c.ACK:
            subscription.destination.ack(subscription, message_id)
        else:
            subscription.destination.nack(subscription, message_id, frame.headers)

    def _find_delivery(self, frame: Frame) -> tuple[Subscription, int]:
        """Which subscription and message an ACK/NACK names, in any version's style.

        1.2 sends ``id`` = the MESSAGE's ``ack`` header (``SUBSCRIPTION-ID.MESSAGE-ID``);
        1.1 sends ``message-id`` and ``subscription``; 1.0 may send ``message-id`` alone.
        """
        headers = frame.headers
        command = frame.command.decode()
        ack_id = headers.get(c.H_ID)
        if ack_id is not None:
            subscription_id, dot, message_text = ack_id.rpartition(b".")
            if dot and message_text.isdigit():
                subscription = self.subscriptions.get(subscription_id)
                if subscription is None:
                    raise FrameRejected(f"{command} for {_show(ack_id)!r}: no such subscription on this connection")
                return subscription, int(message_text)
            message_text = ack_id
        else:
            message_text = headers.get(c.H_MESSAGE_ID, b"")
            if not message_text:
                raise FrameRejected(f"{command} needs an id header (the MESSAGE's ack header)")
        if not message_text.isdigit():
            raise FrameRejected(f"{command} names {_show(message_text)!r}, which is not a message this broker sent")
        message_id = int(message_text)
        named = headers.get(c.H_SUBSCRIPTION)
        if named is not None:
            subscription = self.subscriptions.get(named)
            if subscription is None:
                raise FrameRejected(f"{command}: no subscription {_show(named)!r} on this connection")
            return subscription, message_id
        for subscription in self.subscriptions.values():
            if subscription.client_ack and subscription.destination.owns(subscription, message_id):
                return subscription, message_id
        raise FrameRejected(f"{command}: no subscription of this connection awaits message {message_id}")

    # -- transactions ---------------------------------------------------------------------

    def _transaction_id(self, frame: Frame) -> bytes:
        transaction = frame.headers.get(c.H_TRANSACTION)
        if transaction is None:
            raise FrameRejected(f"{frame.command.decode()} needs a transaction header")
        return transaction

    def _on_begin(self, frame: Frame) -> None:
        transaction = self._transaction_id(frame)
        if self.transactions is None:
            self.transactions = {}
        if transaction in self.transactions:
            raise FrameRejected(f"transaction {_show(transaction)!r} has already begun")
        if len(self.transactions) >= self.broker.limits.max_transactions:
            raise LimitExceeded(
                "tx flup", f"this connection already has max_transactions ({self.broker.limits.max_transactions}) open"
            )
        self.transactions[transaction] = []
        self._receipt(frame)

    def _take_transaction(self, frame: Frame) -> list[Frame]:
        transaction = self._transaction_id(frame)
        frames = self.transactions.pop(transaction, None) if self.transactions else None
        if frames is None:
            raise FrameRejected(f"no open transaction {_show(transaction)!r}")
        return frames

    def _buffer(self, transaction: bytes, frame: Frame) -> None:
        frames = self.transactions.get(transaction) if self.transactions else None
        if frames is None:
            raise FrameRejected(f"no open transaction {_show(transaction)!r}: send BEGIN first")
        if len(frames) >= self.broker.limits.max_transaction_frames:
            raise LimitExceeded(
                "tx flup",
                f"transaction {_show(transaction)!r} holds max_transaction_frames "
                f"({self.broker.limits.max_transaction_frames})",
            )
        frames.append(frame)

    def _on_commit(self, frame: Frame) -> None:
        frames = self._take_transaction(frame)
        self._check_room(frames)
        for buffered in frames:
            if buffered.command == c.SEND:
                self._publish(buffered)
            else:
                self._acknowledge(buffered)
        self._receipt(frame)

    def _check_room(self, frames: list[Frame]) -> None:
        """Refuse a COMMIT whose SENDs a destination could not all take, before any is delivered."""
        counts: dict[Destination, int] = {}
        for buffered in frames:
            if buffered.command == c.SEND:
                destination = self._checked_destination(buffered)
                counts[destination] = counts.get(destination, 0) + 1
        for destination, count in counts.items():
            room = destination.room(self)
            if room is not None and count > room:
                raise DestinationFull(
                    f"{_show(destination.name)} has room for {room} more messages and the transaction "
                    f"sends it {count}: nothing of the transaction was delivered"
                )

    def _on_abort(self, frame: Frame) -> None:
        self._take_transaction(frame)
        self._receipt(frame)

    # -- DISCONNECT -----------------------------------------------------------------------

    def _on_disconnect(self, frame: Frame) -> None:
        self._receipt(frame)
        self.close("DISCONNECT", linger=True)

    def _on_disconnect_early(self, frame: Frame) -> None:
        self.close("DISCONNECT before CONNECT")


def _table(entries: dict[bytes, Handler]) -> dict[bytes, Handler]:
    """Complete a handler table: every client command has an entry."""
    for command in c.CLIENT_COMMANDS:
        entries.setdefault(command, Session._on_not_connected)
    return entries


_BEFORE_CONNECT = _table(
    {
        c.CONNECT: Session._on_connect,
        c.STOMP: Session._on_connect,
        c.DISCONNECT: Session._on_disconnect_early,
    }
)

_CONNECTED = _table(
    {
        c.CONNECT: Session._on_connect_again,
        c.STOMP: Session._on_connect_again,
        c.SEND: Session._on_send,
        c.SUBSCRIBE: Session._on_subscribe,
        c.UNSUBSCRIBE: Session._on_unsubscribe,
        c.ACK: Session._on_ack,
        c.NACK: Session._on_nack,
        c.BEGIN: Session._on_begin,
        c.COMMIT: Session._on_commit,
        c.ABORT: Session._on_abort,
        c.DISCONNECT: Session._on_disconnect,
    }
)

