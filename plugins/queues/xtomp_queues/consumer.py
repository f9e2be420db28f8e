"""What a queue keeps per held message and per consumer: delivery counts, deadlines, unacked windows."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from xtomp_core import FrameRejected, prefetch_window

if TYPE_CHECKING:
    from xtomp_core import Filter, Message, Session, Subscription

__all__ = [
    "Held", "Consumer", "Browser", "prefetch_of", "take_settled", "not_awaiting", "holds_unacked", "READY",
    "IN_FLIGHT", "GONE",
]

#: What a consumer keeps per unacknowledged delivery (Held here, the cluster plugin's stream entry).
D = TypeVar("D")

#: Where a held message is: waiting in the queue, delivered and awaiting an ACK, or done.
READY = 0
IN_FLIGHT = 1
GONE = 2


def take_settled(unacked: dict[int, D], message_id: int, cumulative: bool) -> list[D]:
    """Remove from ``unacked`` (message id to delivery, in delivery order) and return what an
    ACK or NACK of ``message_id`` settles: that delivery, and with ``cumulative`` (``client``
    mode) every earlier one too; nothing when it is not awaited."""
    if message_id not in unacked:
        return []
    if not cumulative:
        return [unacked.pop(message_id)]
    settled = []
    for key in list(unacked):
        settled.append(unacked.pop(key))
        if key == message_id:
            break
    return settled


def holds_unacked(session: Session) -> bool:
    """Whether ``session`` holds messages of a queue (this plugin's or a clustered one: their
    consumers both keep ``unacked``) it has not acknowledged yet. A full queue does not hold
    such a producer: held, it could not send the ACKs that would make room."""
    for subscription in session.subscriptions.values():
        if getattr(subscription.state, "unacked", None):
            return True
    return False


def not_awaiting(verb: str, message_id: int, subscription: Subscription) -> FrameRejected:
    """The ERROR for an ACK or NACK (``verb``) of a message the subscription is not awaiting."""
    return FrameRejected(
        f"{verb} of message {message_id}: subscription {subscription.id.decode('utf-8', 'replace')!r} "
        "is not awaiting it (already acknowledged, or never delivered to it)"
    )


class Held:
    """One message in a queue, with what the queue needs to know beyond the message itself."""

    __slots__ = ("message", "expires", "deliveries", "where")

    def __init__(self, message: Message, expires: float) -> None:
        self.message = message
        #: Wall-clock deadline (seconds since the epoch); 0.0 = never.
        self.expires = expires
        #: How many times the message has been delivered (a redelivery has 1 or more).
        self.deliveries = 0
        self.where = READY

    def __repr__(self) -> str:
        return f"Held({self.message.id}, deliveries={self.deliveries}, where={self.where})"


class Consumer:
    """A subscription to a queue: its ack mode, window and unacknowledged deliveries.

    ``unacked`` maps message id to the held message in delivery order, which is the order
    a cumulative (``client`` mode) ACK covers. In ``auto`` mode a delivery is final as soon
    as it is written, so nothing is kept and only the connection's write buffer (the
    ``paused`` flag of its link) limits what it is given.
    """

    __slots__ = ("subscription", "session", "link", "filter", "auto", "cumulative", "window", "unacked")

    def __init__(self, subscription: Subscription, window: int) -> None:
        self.subscription = subscription
        self.session = subscription.session
        self.link = subscription.link
        self.filter: Filter | None = subscription.filter
        self.auto = not subscription.client_ack
        #: ``client`` mode: an ACK or NACK covers every earlier delivery too.
        self.cumulative = subscription.cumulative
        #: Most unacknowledged messages at once (client modes); 0 = no limit.
        self.window = window
        self.unacked: dict[int, Held] = {}

    @property
    def has_room(self) -> bool:
        if self.link.paused or not self.session.connected:
            return False
        return self.auto or not self.window or len(self.unacked) < self.window

    def take(self, message_id: int, cumulative: bool) -> list[Held]:
        """Remove and return what an ACK or NACK of ``message_id`` settles (in delivery order)."""
        return take_settled(self.unacked, message_id, cumulative)

    def __repr__(self) -> str:
        return f"Consumer({self.subscription!r}, window={self.window}, unacked={len(self.unacked)})"


class Browser:
    """A ``browser:true`` subscription (ActiveMQ's queue browser): copies of what waited when
    it subscribed, in delivery order, then a ``browser:end`` MESSAGE, then nothing.

    ``pending`` is what it has yet to be shown; copies go out while its connection has room
    (and the rest when it drains). It takes nothing from the queue and acknowledges nothing.
    """

    __slots__ = ("subscription", "pending", "done")

    def __init__(self, subscription: Subscription, pending: Iterable[Held]) -> None:
        self.subscription = subscription
        self.pending: deque[Held] = deque(pending)
        #: The end marker went out: nothing more is sent.
        self.done = False

    def __repr__(self) -> str:
        return f"Browser({self.subscription!r}, pending={len(self.pending)}, done={self.done})"


def prefetch_of(headers: Mapping[bytes, bytes], default: int) -> int:
    """The window a SUBSCRIBE asks for, else the queue's ``prefetch`` (see ``xtomp_core.prefetch_window``)."""
    return prefetch_window(headers, default)
