"""Per-connection STOMP state: the protocol state machine, CONNECT negotiation, frame dispatch, receipts, errors.

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

Suspension: an asynchronous authenticator and a producer held by flow control both stop
the session the same way (:meth:`Session._suspend`): reading pauses, the frames already
parsed wait in their iterator and bytes already read wait in the stash, and
:meth:`Session._resume` handles them in order before reading again.

Beside it: ``acks.py`` (which delivery an ACK names, per version), ``transactions.py``
(buffering for COMMIT, which replays SEND, ACK and NACK frames in order so destinations see
them exactly as if they had arrived then), ``filtering.py`` (a SUBSCRIBE's filter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..destination import Destination, Subscription
from ..errors import AuthRejected, Blocked, FrameRejected, LimitExceeded, ProtocolError, XtompError
from ..message import Message
from ..primitives import Principal
from ..protocol import constants as c
from ..protocol.encoder import connected_frame, error_frame, receipt_frame
from ..protocol.frame import Frame
from ..protocol.negotiation import negotiate_heart_beat, negotiate_version, parse_heart_beat
from ..protocol.parser import FrameParser
from .acks import find_delivery
from .acks import show as _show
from .filtering import subscription_filter
from .receipts import Confirmation, PendingReceipt
from .transactions import Transactions, check_room

if TYPE_CHECKING:
    from ..primitives import Filter, Link
    from .broker import Broker

__all__ = ["Session"]

log = logging.getLogger("xtomp.session")

AWAITING_CONNECT = 0
AUTHENTICATING = 1
CONNECTED = 2
CLOSED = 3
_STATE_NAMES = ("awaiting CONNECT", "authenticating", "connected", "closed")

Handler = Callable[["Session", Frame], None]
#: A handler whose frame's RECEIPT :func:`_receipted` writes; it returns what must follow
#: the RECEIPT (SUBSCRIBE: the destination's ``started``), or None.
Body = Callable[["Session", Frame], "Callable[[], None] | None"]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


class _Occasional:
    """What only some sessions need (transactions, suspension, flow-control holds): created
    at first use, so an idle connection carries one empty slot instead of three."""

    __slots__ = ("transactions", "stash", "holders")

    def __init__(self) -> None:
        self.transactions: Transactions | None = None
        #: Bytes read while suspended, handled in order by Session._resume.
        self.stash: list[bytes] | None = None
        #: Who holds the session (each destination that paused this producer; released when
        #: none is left), created at the first hold: an empty set is 216 bytes.
        self.holders: set[object] | None = None


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
        "client_id",
        "subscriptions",
        "frames_in",
        "opened_at",
        "close_reason",
        "_handlers",
        "_frames",
        "_held",
        "_occasional",
        "_memory",
        "_send_memo",
        "_receipt_now",
        "_prev",
        "_next",
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
        #: CONNECT's ``client-id`` (ActiveMQ: names durable subscriptions), or None.
        self.client_id: bytes | None = None
        self.subscriptions: dict[bytes, Subscription] = {}
        self.frames_in = 0
        self.opened_at = time.monotonic()
        self.close_reason = ""
        self._handlers: dict[bytes, Handler] = _BEFORE_CONNECT
        self._frames: Iterator[Frame] | None = None
        #: Frame handling is on hold (flow control: a full queue with ``when_full = "pause"``).
        self._held = False
        self._occasional: _Occasional | None = None
        self._memory = broker.memory
        self._send_memo: dict[bytes, Destination] | None = None
        #: While a frame with a ``receipt`` header is handled: its receipt, or once
        #: defer_receipt was called, the PendingReceipt; None otherwise.
        self._receipt_now: bytes | PendingReceipt | None = None
        #: The broker's list of open sessions is linked through these (sessions.SessionList).
        self._prev: object = None
        self._next: object = None

    def _more(self) -> _Occasional:
        """The state only some sessions need, created at first use."""
        occasional = self._occasional
        if occasional is None:
            occasional = self._occasional = _Occasional()
        return occasional

    @property
    def transactions(self) -> Transactions | None:
        """The open transactions (None before the first BEGIN)."""
        occasional = self._occasional
        return occasional.transactions if occasional is not None else None

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the transport, in order."""
        state = self.state
        if (state == CONNECTED and not self._held) or state == AWAITING_CONNECT:
            self._frames = self.parser.feed(data)
            self._dispatch()
        elif state == AUTHENTICATING or state == CONNECTED:
            # Reading is paused, but bytes already read may still arrive: keep them in order.
            occasional = self._more()
            if occasional.stash is None:
                occasional.stash = []
            occasional.stash.append(data)
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

    # -- deferred receipts (receipts.py) ------------------------------------------------

    def defer_receipt(self) -> Confirmation | None:
        """Make the RECEIPT of the frame being handled wait until the returned confirmation is
        called (with an ``XtompError`` instead: one ERROR echoing the receipt, then close);
        until then this client's later frames wait too, as with :meth:`hold`. None when the
        frame asked for no receipt (or no frame is being handled): nothing to wait for."""
        current = self._receipt_now
        if current is None:
            return None
        if type(current) is bytes:
            current = self._receipt_now = PendingReceipt(self, current)
        assert isinstance(current, PendingReceipt)
        return current.confirmation()

    def _with_receipt(self, body: Body, frame: Frame, receipt: bytes) -> None:
        """Handle a frame that asked for a receipt: write it after ``body``, or once every
        confirmation ``body`` deferred it for has come."""
        self._receipt_now = receipt
        try:
            after = body(self, frame)
        except BaseException:
            pending = self._take_receipt_state()
            if isinstance(pending, PendingReceipt):
                pending.abandon()
            raise
        pending = self._take_receipt_state()
        if isinstance(pending, PendingReceipt):
            pending.handler_returned(after)
            return
        self.link.write(receipt_frame(receipt, self.version))
        if after is not None:
            after()

    def _take_receipt_state(self) -> bytes | PendingReceipt | None:
        """What became of the handled frame's receipt (a PendingReceipt once deferred)."""
        state, self._receipt_now = self._receipt_now, None
        return state

    def receipt_confirmed(self, receipt: bytes, after: Callable[[], None] | None) -> None:
        """A deferred RECEIPT's last confirmation came (receipts.py): write it, then what follows it."""
        if self.state != CONNECTED:
            return  # closed meanwhile: nothing is written
        self.link.write(receipt_frame(receipt, self.version))
        if after is not None:
            try:
                after()
            except XtompError as error:
                self._fail_receipt(error, None)
            except Exception:
                log.exception("session %s: internal error after a deferred receipt", self.describe())
                self._fail_receipt(XtompError("general - internal error"), None)

    def receipt_failed(self, receipt: bytes, error: XtompError) -> None:
        """A confirmation came with an error: ERROR echoing the receipt, then close."""
        self._fail_receipt(error, receipt)

    def _fail_receipt(self, error: XtompError, receipt: bytes | None) -> None:
        if self.state == CLOSED:
            return
        text = str(error)
        log.info("session %s: %s", self.describe(), text)
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
        occasional = self._occasional
        if occasional is not None:
            occasional.stash = None
            occasional.transactions = None
        subscriptions = list(self.subscriptions.values())
        self.subscriptions.clear()
        for subscription in subscriptions:
            try:
                subscription.destination.unsubscribe(subscription)
            except Exception:  # one destination's failure must not keep the others' state
                log.exception("session %s: unsubscribe from %r failed", self.describe(), subscription.destination)
        self.broker.session_ended(self, reason, was_connected)

    def hold(self, holder: object) -> None:
        """Stop handling this client's frames after the current one, and stop reading, until
        every holder has called :meth:`release`: flow control for a producer (frames already
        read wait, in order). Each destination holds for its own reason (a full queue, a
        stuck subscriber, the memory ceiling); holding twice by the same holder counts once."""
        if self.state != CONNECTED:
            return
        occasional = self._more()
        holders = occasional.holders
        if holders is None:
            holders = occasional.holders = set()
        holders.add(holder)
        if not self._held:
            self._held = True
            self._suspend()

    def release(self, holder: object) -> None:
        """``holder`` no longer holds this producer; the last one to let go resumes it:
        the frames that waited are handled, then reading starts again."""
        occasional = self._occasional
        holders = occasional.holders if occasional is not None else None
        if holders is None:
            return  # never held
        holders.discard(holder)
        if holders or not self._held:
            return
        self._held = False
        if self.state == CONNECTED:
            self._resume()

    def _suspend(self) -> None:
        """Stop reading; frames already parsed and bytes already read wait (see receive)."""
        self.link.pause_reading()

    def _resume(self) -> None:
        """Handle what waited since _suspend, in order, then read again."""
        self.link.resume_reading()
        if self._frames is not None:
            self._dispatch()
        occasional = self._occasional
        stash = None
        if occasional is not None:
            stash, occasional.stash = occasional.stash, None
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
        self.client_id = headers.get(b"client-id")
        client_beats = parse_heart_beat(headers.get(c.H_HEART_BEAT))
        login = _text(headers.get(c.H_LOGIN))
        passcode = _text(headers.get(c.H_PASSCODE))
        result = self.broker.auth.authenticate(login, passcode, self)
        if isinstance(result, Principal):
            self._connected(result, client_beats)
            return
        self.state = AUTHENTICATING
        self._suspend()
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
        self._resume()

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
        receipt = headers.get(c.H_RECEIPT)
        if receipt is not None and self._receipt_now is None:
            # Handled again inside _with_receipt, which sets _receipt_now: then this branch is
            # skipped and the RECEIPT is written there (or deferred). A SEND without a receipt
            # costs no extra call.
            self._with_receipt(Session._on_send, frame, receipt)
            return
        transaction = headers.get(c.H_TRANSACTION)
        if transaction is not None:
            # Refused now rather than at COMMIT, where the frames before it would already be
            # out: what stays for COMMIT to fail on is only a destination's state (a full queue).
            self._checked_destination(frame)
            self._buffer(transaction, frame)
        else:
            self._publish(frame)
            if self._memory.over:
                self._memory.pause(self)  # max_memory: this one was accepted, the next frames wait

    def _publish(self, frame: Frame) -> None:
        destination = self._checked_destination(frame)
        headers = frame.headers
        rewrites = self.broker.send_header_rewrites
        if rewrites:
            for header, rewrite in rewrites.items():
                value = headers.get(header)
                if value is not None:
                    replaced = rewrite(self.broker.table, self, value)
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
        destination = broker.table.for_session(self, name)
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

    def forget_send_checks(self) -> None:
        """Check the next SEND to each destination again (a reload changed the access rules)."""
        self._send_memo = None

    # -- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------

    def _subscribe(self, frame: Frame) -> Callable[[], None]:
        headers = frame.headers
        name = headers.get(c.H_DESTINATION)
        if name is None:
            raise FrameRejected("destination unknown - SUBSCRIBE needs a destination header")
        subscription_id = headers.get(c.H_ID)
        if subscription_id is None:
            if self.version != c.V1_0:
                raise FrameRejected("SUBSCRIBE needs an id header (STOMP 1.1 and 1.2)")
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
        broker = self.broker
        destination = broker.table.for_session(self, name)
        if destination.web_read_block and self.link.web:
            raise Blocked(f"web sessions may not subscribe to {_show(name)}")
        if broker.access is not None:
            broker.access.check_subscribe(destination, self.principal)
        chosen = subscription_filter(broker.filter_engines, broker.unfiltered_checks, destination, headers)
        subscription = self.add_subscription(subscription_id, destination, headers, ack, chosen, start=False)
        # After the RECEIPT, so that it comes before any message already waiting.
        return lambda: destination.started(subscription)

    def subscribe(
        self, subscription_id: bytes, destination: Destination, headers: Mapping[bytes, bytes]
    ) -> Subscription:
        """Subscribe on the client's behalf (auto ack, no filter), started at once: the
        :class:`~xtomp_core.Session` protocol's call for plugins (``reply-to`` temporary queues)."""
        return self.add_subscription(subscription_id, destination, headers)

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

    def _unsubscribe(self, frame: Frame) -> None:
        headers = frame.headers
        subscription_id = headers.get(c.H_ID)
        if subscription_id is None:
            name = headers.get(c.H_DESTINATION)
            if self.version != c.V1_0:
                raise FrameRejected("UNSUBSCRIBE needs an id header (the SUBSCRIBE's id)")
            if name is None:
                raise FrameRejected("UNSUBSCRIBE needs an id or a destination header")
            subscription_id = next((s.id for s in self.subscriptions.values() if s.destination.name == name), name)
        subscription = self.subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise FrameRejected(f"no subscription with id {_show(subscription_id)!r} on this connection")
        subscription.unsubscribe_headers = headers  # the destination may read them (durable:true...)
        subscription.destination.unsubscribe(subscription)

    # -- ACK / NACK -----------------------------------------------------------------------

    def _acknowledge_or_buffer(self, frame: Frame) -> None:
        transaction = frame.headers.get(c.H_TRANSACTION)
        if transaction is not None:
            self._buffer(transaction, frame)
        else:
            self._acknowledge(frame)

    def _acknowledge(self, frame: Frame) -> None:
        subscription, message_id = find_delivery(self.subscriptions, frame, self.version)
        if frame.command == c.ACK:
            subscription.destination.ack(subscription, message_id)
        else:
            subscription.destination.nack(subscription, message_id, frame.headers)

    # -- transactions ---------------------------------------------------------------------

    def _transaction_id(self, frame: Frame) -> bytes:
        transaction = frame.headers.get(c.H_TRANSACTION)
        if transaction is None:
            raise FrameRejected(f"{frame.command.decode()} needs a transaction header")
        return transaction

    def _on_begin(self, frame: Frame) -> None:
        occasional = self._more()
        transactions = occasional.transactions
        if transactions is None:
            limits = self.broker.limits
            transactions = occasional.transactions = Transactions(limits.max_transactions, limits.max_transaction_frames)
        transactions.begin(self._transaction_id(frame))
        self._receipt(frame)

    def _take_transaction(self, frame: Frame) -> list[Frame]:
        transaction = self._transaction_id(frame)
        transactions = self.transactions
        if transactions is None:
            raise FrameRejected(f"no open transaction {_show(transaction)!r}")
        return transactions.take(transaction)

    def _buffer(self, transaction: bytes, frame: Frame) -> None:
        transactions = self.transactions
        if transactions is None:
            raise FrameRejected(f"no open transaction {_show(transaction)!r}: send BEGIN first")
        transactions.buffer(transaction, frame)

    def _commit(self, frame: Frame) -> None:
        frames = self._take_transaction(frame)
        check_room(frames, self._checked_destination, self)
        for buffered in frames:
            if buffered.command == c.SEND:
                self._publish(buffered)
            else:
                self._acknowledge(buffered)
        if self._memory.over:
            self._memory.pause(self)

    def _on_abort(self, frame: Frame) -> None:
        self._take_transaction(frame)
        self._receipt(frame)

    # -- DISCONNECT -----------------------------------------------------------------------

    def _on_disconnect(self, frame: Frame) -> None:
        self._receipt(frame)
        self.close("DISCONNECT", linger=True)

    def _on_disconnect_early(self, frame: Frame) -> None:
        self.close("DISCONNECT before CONNECT")


def _receipted(body: Body) -> Handler:
    """A handler for a frame whose RECEIPT may be deferred (``Session.defer_receipt``)."""

    def handle(session: Session, frame: Frame) -> None:
        receipt = frame.headers.get(c.H_RECEIPT)
        if receipt is not None:
            session._with_receipt(body, frame, receipt)
            return
        after = body(session, frame)
        if after is not None:
            after()

    handle.__name__ = handle.__qualname__ = f"receipted({body.__name__})"
    return handle


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
        c.SUBSCRIBE: _receipted(Session._subscribe),
        c.UNSUBSCRIBE: _receipted(Session._unsubscribe),
        c.ACK: _receipted(Session._acknowledge_or_buffer),
        c.NACK: _receipted(Session._acknowledge_or_buffer),
        c.BEGIN: Session._on_begin,
        c.COMMIT: _receipted(Session._commit),
        c.ABORT: Session._on_abort,
        c.DISCONNECT: Session._on_disconnect,
    }
)

