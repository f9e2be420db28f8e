"""The destination contract: the Destination base class, its Subscriptions, and what each may use.

A destination type (a plugin) subclasses :class:`Destination` and implements ``publish``;
the core hands it each SUBSCRIBE as a :class:`Subscription` and each SEND as a
:class:`~xtomp_core.message.Message`. Delivering is one call: :meth:`Destination.fan_out`
(every matching subscriber) or :meth:`Subscription.deliver` (one), which pick the
per-subscription prefix, the ``ack`` header of client ack modes and the tail encoded for
the subscriber's STOMP version, so no destination writes frames by hand.

A destination sees the broker only through a :class:`DestinationContext` and a session
only through the :class:`Session` protocol: both are narrow on purpose, and what they
offer is the whole of what a destination may rely on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .errors import FrameRejected, LimitExceeded, XtompError
from .limits import Limits
from .message import Message
from .primitives import Filter, Link, Principal, Stash
from .protocol.constants import ACK_AUTO, ACK_CLIENT, V1_2
from .protocol.encoder import message_prefix
from .protocol.escape import escape
from .routing import SubscriberIndex

if TYPE_CHECKING:
    import asyncio

    from .config.model import Section

__all__ = [
    "DeferredReceipt", "Destination", "DestinationContext", "MemoryAccount", "Session", "Subscription", "prefetch_window",
]

#: SUBSCRIBE headers that set a client-ack subscription's window: RabbitMQ's, then ActiveMQ's.
PREFETCH_HEADERS = (b"prefetch-count", b"activemq.prefetchSize")

log = logging.getLogger("xtomp.destination")


class DeferredReceipt(Protocol):
    """What :meth:`Session.defer_receipt` returns: call it once what the frame asked for is
    done (the RECEIPT is written when every deferral of the frame was called), or with an
    error when it failed (one ERROR echoing the receipt, then the session closes). Calling
    it again, or after the session ended, does nothing."""

    def __call__(self, error: XtompError | None = None) -> None: ...


class Session(Protocol):
    """What plugins see of a client session (the core's session object implements it)."""

    @property
    def id(self) -> bytes:
        """The session id given in CONNECTED (``b""`` before CONNECT)."""

    @property
    def version(self) -> int:
        """The negotiated STOMP version: 10, 11 or 12."""

    @property
    def principal(self) -> Principal | None:
        """Who it authenticated as (None before CONNECT)."""

    @property
    def client_id(self) -> bytes | None:
        """CONNECT's ``client-id`` header (ActiveMQ names durable subscriptions with it), or None."""

    @property
    def link(self) -> Link:
        """Its connection."""

    @property
    def subscriptions(self) -> Mapping[bytes, Subscription]:
        """Its subscriptions by id."""

    @property
    def close_reason(self) -> str:
        """Why it ended ("" while open)."""

    @property
    def frames_in(self) -> int:
        """Frames received so far."""

    @property
    def opened_at(self) -> float:
        """When the connection opened (``time.monotonic()``)."""

    @property
    def connected(self) -> bool:
        """CONNECT completed and the session has not ended."""

    @property
    def login(self) -> str | None: ...

    @property
    def held(self) -> bool:
        """Frame handling is on hold (see :meth:`hold`)."""

    def describe(self) -> str:
        """``ID (PEER, TRANSPORT, STATE)``, for log lines."""

    def fail(self, error: XtompError) -> None:
        """Send one ERROR (the error's text) and close gracefully."""

    def close(self, reason: str, linger: bool = False) -> None:
        """End the session from the broker side."""

    def hold(self, holder: object) -> None:
        """Flow control for a producer: stop handling its frames after the current one, and
        stop reading, until every holder released it (frames already read wait, in order).
        ``holder`` is whoever holds it (the destination itself, usually)."""

    def release(self, holder: object) -> None:
        """``holder`` lets go; when no holder is left, the frames that waited are handled and
        reading starts again."""

    def defer_receipt(self) -> DeferredReceipt | None:
        """Make the RECEIPT of the frame being handled wait until the returned callable is
        called: for a destination whose ``publish`` (or ``subscribe``) only *starts* what the
        receipt promises (a write to another system). Until then this client's later frames
        wait too (as with :meth:`hold`), so its receipts stay in order. Each call returns
        one more deferral; a COMMIT's RECEIPT waits for those of all its SENDs. None when
        the frame asked for no receipt, or outside frame handling: nothing to wait for, and
        no cost."""

    def subscribe(
        self, subscription_id: bytes, destination: Destination, headers: Mapping[bytes, bytes]
    ) -> Subscription:
        """Subscribe this session on its behalf (auto ack, no filter), as if it had sent
        SUBSCRIBE (a ``reply-to`` temporary queue); ``destination.started`` follows at once."""


class Subscription:
    """A subscription of one session to one destination.

    ``prefix`` is ``MESSAGE\\nsubscription:ID\\n`` in the session's escaping; in client ack
    modes ``ack_prefix`` (``ack:ID.``) is followed per delivery by the message id, so an
    ACK names both the subscription and the message without any per-delivery bookkeeping
    in the session. ``state`` belongs to the destination (a queue keeps its unacked
    messages and prefetch window there). ``unsubscribe_headers`` are the UNSUBSCRIBE frame's
    headers when ``Destination.unsubscribe`` is called because the client unsubscribed, None
    when its session ended (a destination may tell the two apart: RabbitMQ's
    ``durable:true`` on UNSUBSCRIBE removes a durable subscription).
    """

    __slots__ = (
        "session", "link", "id", "destination", "ack", "filter", "prefix", "ack_prefix", "version", "state",
        "unsubscribe_headers",
    )

    def __init__(
        self,
        session: Session,
        subscription_id: bytes,
        destination: Destination,
        ack: bytes = ACK_AUTO,
        filter: Filter | None = None,
    ) -> None:
        self.session = session
        self.link: Link = session.link
        self.id = subscription_id
        self.destination = destination
        self.ack = ack
        self.filter = filter
        self.version = session.version
        self.prefix = message_prefix(subscription_id, session.version)
        self.ack_prefix = b"ack:" + escape(subscription_id, session.version) + b"." if ack != ACK_AUTO else b""
        self.state: Any = None
        self.unsubscribe_headers: Mapping[bytes, bytes] | None = None

    @property
    def client_ack(self) -> bool:
        """True in ``client`` and ``client-individual`` modes."""
        return self.ack != ACK_AUTO

    @property
    def cumulative(self) -> bool:
        """True in ``client`` mode: an ACK covers every earlier message of the subscription."""
        return self.ack == ACK_CLIENT

    @property
    def paused(self) -> bool:
        """The subscriber's connection holds more than ``write_buffer_high`` unsent bytes."""
        return self.link.paused

    def deliver(self, message: Message, extra_headers: bytes = b"") -> None:
        """Queue ``message`` to this subscriber as one MESSAGE frame.

        Picks the prefix (with the ``ack`` header in client modes), the tail encoded for
        the subscriber's STOMP version (shared by every subscriber of that version), and
        adds ``extra_headers`` (``b"name:value\\n"`` lines, already escaped, such as a
        queue's ``redelivered:true``). Does not look at the filter or at ``paused``.
        """
        prefix = self.prefix
        if self.ack_prefix:
            prefix = b"%s%s%d\n" % (prefix, self.ack_prefix, message.id)
        if extra_headers:
            prefix += extra_headers
        tail = message.tail()
        if not message.uniform and self.version != V1_2:
            tail = message.tail_for(self.version)
        try:
            self.link.push(prefix, tail)
        except Exception:
            delivery_failed(self)

    def __repr__(self) -> str:
        return f"Subscription({self.id!r} on {self.destination.name!r}, ack={self.ack.decode()})"


def prefetch_window(headers: Mapping[bytes, bytes], default: int = 0) -> int:
    """The window of unacknowledged messages a SUBSCRIBE asks for: ``prefetch-count``
    (RabbitMQ), else ``activemq.prefetchSize`` (ActiveMQ), else ``default``; 0 means no limit
    (ActiveMQ's 0, pull one at a time, has no STOMP equivalent and is read the same way).
    Raises ``FrameRejected`` for a value that is not a whole number."""
    for name in PREFETCH_HEADERS:
        value = headers.get(name)
        if value is not None:
            if not value.isdigit() or len(value) > 9:
                shown = value[:20].decode("utf-8", "replace")
                raise FrameRejected(
                    f"{name.decode()} must be a whole number of messages (0 = no limit), not {shown!r}"
                )
            return int(value)
    return default


def delivery_failed(subscription: Subscription) -> None:
    """A subscriber's connection raised while a message was queued to it: log it, and close
    that session alone (the publisher and the other subscribers go on)."""
    session = subscription.session
    destination = subscription.destination
    log.exception(
        "delivery to session %s on %s (%s, type %s) failed; closing that session",
        session.describe(), destination.name.decode("utf-8", "replace"), type(destination).__module__,
        destination.type_name,
    )
    try:
        session.close("internal error delivering a message")
    except Exception:
        log.exception("closing session %s after a failed delivery failed too", session.describe())


class MemoryAccount(Protocol):
    """The broker's count of held message bytes, against ``max_memory`` (see ``DestinationContext.memory``)."""

    @property
    def held(self) -> int:
        """Message bytes held now, by every destination and connection."""

    @property
    def limit(self) -> int:
        """``max_memory``."""

    @property
    def over(self) -> bool:
        """Above the ceiling: producers are being paused."""

    def add(self, delta: int) -> None:
        """The caller holds ``delta`` more bytes (negative: fewer). A destination that keeps
        messages for later (a queue) reports each body it starts and stops keeping."""


class DestinationContext(Protocol):
    """What a destination (and a destination plugin's hooks) may use of the broker.

    Given to every destination factory: ``factory(name, settings, context)``.
    """

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running event loop; None while the configuration is being checked."""

    @property
    def limits(self) -> Limits:
        """The server's limits (frame sizes, subscriptions per connection, buffers...)."""

    @property
    def stash(self) -> Stash:
        """Per-broker plugin state (see :class:`~xtomp_core.Stash`)."""

    @property
    def memory(self) -> MemoryAccount:
        """The process-wide count of held message bytes (``max_memory``)."""

    @property
    def destination_defaults(self) -> Section:
        """``[destination_defaults]``: the settings of a destination no rule names."""

    def settings_for(self, name: bytes) -> Section:
        """The settings a destination called ``name`` gets: its ``[destinations."NAME"]``
        table, else the longest matching prefix rule, else ``[destination_defaults]``."""

    def next_message_id(self) -> int:
        """A new broker-wide message id (what ``message-id`` shows)."""

    def get(self, name: bytes) -> Destination | None:
        """The live destination called ``name``, if any (never creates one)."""

    def destination(self, name: bytes) -> Destination:
        """The destination called ``name``, created on first use when a rule allows it;
        raises ``DestinationUnknown`` or ``LimitExceeded`` (``max_destinations``)."""

    def build(self, type_name: str, name: bytes, settings: Section | None = None) -> Destination:
        """A new destination of a registered type (``"topic"``), not yet reachable by name
        (return it from ``xtomp_resolve_destination``, or ``add`` it); ``settings`` default
        to :meth:`settings_for`. Raises ``ConfigError`` for an unknown type."""

    def add(self, destination: Destination) -> None:
        """Make a destination the plugin built itself reachable by its name (replacing and
        closing any other of that name); counts against ``max_destinations``."""

    def remove(self, destination: Destination) -> None:
        """Forget a destination and close it (a temporary queue whose owner left)."""

    def publish(self, name: bytes, headers: dict[bytes, bytes], body: bytes) -> Destination:
        """Publish a new message from the broker itself (no sender) to ``name``, e.g. a dead
        letter; returns the destination. Raises ``XtompError`` when it cannot."""

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the next event-loop pass (at once when no loop runs)."""


class Destination:
    """A named destination. Plugins subclass it and implement ``publish`` (and, for types
    with acknowledgements, ``ack``/``nack``); everything else has a working default.

    The hot-path methods are plain methods called directly by the session: ``publish``
    once per SEND, ``subscribe``/``unsubscribe`` once per SUBSCRIBE/UNSUBSCRIBE.
    """

    __slots__ = (
        "name",
        "settings",
        "context",
        "index",
        "max_connections",
        "max_messages",
        "max_message_size",
        "web_read_block",
        "web_write_block",
        "auto_created",
        "closed",
        "enqueued",
        "delivered",
        "dropped",
    )

    #: The ``type`` name, shown in stats.
    type_name = "destination"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.index: SubscriberIndex[Subscription] = SubscriberIndex()
        self.max_connections: int = settings["max_connections"]
        self.max_messages: int = settings["max_messages"]
        self.max_message_size: int = settings["max_message_size"]
        self.web_read_block: bool = settings["web_read_block"]
        self.web_write_block: bool = settings["web_write_block"]
        #: Created on first use by a prefix rule or a resolve hook (may be removed when idle).
        self.auto_created = False
        self.closed = False
        self.enqueued = 0  # messages accepted (xtomp's Σ)
        self.delivered = 0  # MESSAGE frames handed to subscribers
        self.dropped = 0  # messages lost to slow consumers or no subscriber

    # -- hot path -------------------------------------------------------------------------

    def publish(self, message: Message, sender: Session | None) -> None:
        """Accept one message; ``sender`` is None for what the broker itself publishes
        (the ``/xtomp/stat`` figures, dead letters)."""
        raise NotImplementedError

    def fan_out(self, message: Message, skip_paused: bool = True) -> list[Subscription] | None:
        """Deliver ``message`` to every subscriber whose filter matches it, and return those
        whose connection is paused (over ``write_buffer_high``; None when there are none),
        for the type's slow-consumer policy. With ``skip_paused`` (the default) the paused
        ones do not get the message (it is theirs to count as dropped); without, they get it
        too, and the caller slows its producers (lossless). Counts ``delivered``.

        The same as :meth:`Subscription.deliver` per subscriber, with the loop's lookups
        hoisted: this is the broker's hottest loop.
        """
        index = self.index
        targets = index.matching(message.headers) if (index.keyed or index.residual) else index.plain
        if not targets:
            return None
        tail = message.tail()
        uniform = message.uniform
        message_id = message.id
        paused: list[Subscription] | None = None
        failed = 0
        for subscription in targets:
            link = subscription.link
            if link.paused:
                if paused is None:
                    paused = [subscription]
                else:
                    paused.append(subscription)
                if skip_paused:
                    continue
            try:  # free in CPython 3.11 unless it raises
                link.push(
                    b"%s%s%d\n" % (subscription.prefix, subscription.ack_prefix, message_id)
                    if subscription.ack_prefix else subscription.prefix,
                    tail if uniform or subscription.version == V1_2 else message.tail_for(subscription.version),
                )
            except Exception:
                delivery_failed(subscription)
                failed += 1
        self.delivered += len(targets) - (len(paused) if paused and skip_paused else 0) - failed
        return paused

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        """Add a subscription; ``headers`` are the SUBSCRIBE's (for type-specific options)."""
        if self.index.count >= self.max_connections:
            raise LimitExceeded(
                "dest flup",
                f"{self.name.decode('utf-8', 'replace')} already has max_connections "
                f"({self.max_connections}) subscriptions",
            )
        self.index.add(subscription)

    def started(self, subscription: Subscription) -> None:
        """The SUBSCRIBE is complete and its RECEIPT written: deliver what was waiting
        (queues, retained messages). Called right after ``subscribe``, before any other
        frame is handled."""

    def unsubscribe(self, subscription: Subscription) -> None:
        self.index.remove(subscription)

    def ack(self, subscription: Subscription, message_id: int) -> None:
        """ACK of a delivery in client modes; types without acknowledgements accept any."""

    def nack(self, subscription: Subscription, message_id: int, headers: Mapping[bytes, bytes]) -> None:
        """NACK of a delivery (``headers`` are the NACK's: ``requeue:false``...); types
        without acknowledgements accept any."""

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        """True when the message is awaiting an ACK from this subscription (1.0 ACKs)."""
        return False

    def writable(self, subscription: Subscription) -> None:
        """The subscriber's connection drained below ``write_buffer_low`` (queues resume here)."""

    def room(self, sender: Session) -> int | None:
        """How many more messages from ``sender`` ``publish`` would take before refusing one
        (``q flup``); None when it never refuses (a topic, a queue that pauses producers).
        COMMIT asks every destination of a transaction first, so that it delivers all of
        the transaction's SENDs or none."""
        return None

    # -- lifecycle and figures ------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return self.index.count

    @property
    def depth(self) -> int:
        """Messages held for later delivery."""
        return 0

    @property
    def idle(self) -> bool:
        """Nothing would be lost by removing this destination now."""
        return self.index.count == 0 and self.depth == 0

    def close(self) -> None:
        self.closed = True

    def stats(self) -> dict[str, Any]:
        """xtomp's per-destination figures plus the broader ones (see ``/xtomp/stat``)."""
        return {
            "dest": self.name.decode("utf-8", "replace"),
            "type": self.type_name,
            "sz": self.index.count,
            "q": self.depth,
            "Σ": self.enqueued,
            "delivered": self.delivered,
            "dropped": self.dropped,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
