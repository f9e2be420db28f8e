"""The base every destination type builds on: settings, limits, counters, the subscriber index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import LimitExceeded
from .routing import SubscriberIndex

if TYPE_CHECKING:
    from ..config import Section
    from .broker import Broker
    from .message import Message
    from .session import Session
    from .subscription import Subscription

__all__ = ["Destination"]


class Destination:
    """A named destination. Plugins subclass it and implement ``publish`` (and, for types
    with acknowledgements, ``ack``/``nack``); everything else has a working default.

    The hot-path methods are plain methods called directly by the session: ``publish``
    once per SEND, ``subscribe``/``unsubscribe`` once per SUBSCRIBE/UNSUBSCRIBE.
    """

    __slots__ = (
        "name",
        "settings",
        "broker",
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

    def __init__(self, name: bytes, settings: Section, broker: Broker) -> None:
        self.name = name
        self.settings = settings
        self.broker = broker
        self.index = SubscriberIndex()
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
        (the ``/xtomp/stat`` figures)."""
        raise NotImplementedError

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
        (queues). Called right after ``subscribe``, before any other frame is handled."""

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
