"""Queue: each message to exactly one consumer, kept in order until a consumer has taken it.

Theory of operation
-------------------
Waiting messages sit in ``ready`` (a deque, oldest first) until the first message with a
``priority`` other than the default (4) arrives; ``ready`` then becomes per-priority deques
(``Levels``: highest priority first, oldest first within one), with the same operations, so
a queue that never sees a priority pays one header lookup per SEND. Consumers take turns
(round-robin from ``cursor``); a consumer is skipped while its connection is a slow
consumer (``link.paused``), while its window of unacknowledged messages is full (client
modes), or when its filter does not match the message.

Invariant: after every change, no waiting message matches a consumer that has room. So
``publish`` may hand a new message straight to a consumer, and with no filtered consumer
a non-empty ``ready`` means nobody has room: the message is appended without a search.
Whatever frees room (ACK, NACK, a new consumer, a drained connection) calls ``_drain``.

In client modes a delivery stays in the consumer's ``unacked`` until ACK. NACK, and the
unacked messages of a consumer that unsubscribes or disconnects, go back to the head of
the queue (of their priority) in their original order, to be delivered again with ``redelivered:true`` and
``x-delivery-count``; past ``max_redeliveries`` they go to ``dead_letter`` (or are
dropped and counted). Expired messages are never delivered.

A ``browser:true`` subscription (ActiveMQ's queue browser) is not a consumer: it gets
copies of what waits when it subscribes, then a ``browser:end`` MESSAGE, and nothing more.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, DestinationFull, FrameRejected, Message, XtompError

from .consumer import GONE, IN_FLIGHT, READY, Browser, Consumer, Held, holds_unacked, not_awaiting, prefetch_of
from .headers import DEFAULT_VALUE, EXPIRATION, EXPIRES, PRIORITY

# .priority and .expiry are imported by the first message with a priority or a deadline
# (a queue without either, and an idle broker, do without them); the queue then reaches
# them through its Levels and its ExpiryTimer, never by an import per message.
if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Section, Session, Subscription

    from .expiry import ExpiryTimer
    from .priority import Levels

__all__ = ["Queue"]

log = logging.getLogger("xtomp.queues")

#: Headers a dead-lettered copy gets (ActiveMQ's DLQ keeps the original destination too).
ORIGINAL_DESTINATION = b"x-original-destination"
DEAD_LETTER_REASON = b"x-dead-letter-reason"
#: SUBSCRIBE ``browser:true`` (ActiveMQ): browse the queue; the MESSAGE that ends a browse has ``browser:end``.
BROWSER = b"browser"
BROWSER_END = b"end"


class Queue(Destination):
    """Competing consumers with acknowledgements, redelivery, expiry and dead letters."""

    __slots__ = (
        "ready",
        "consumers",
        "cursor",
        "filtered",
        "in_flight",
        "acked",
        "nacked",
        "redelivered",
        "expired",
        "dead_lettered",
        "browsed",
        "prefetch",
        "max_redeliveries",
        "dead_letter",
        "pause_when_full",
        "ttl",
        "owner",
        "ready_bytes",
        "memory",
        "_timer",
        "_paused",
    )

    type_name = "queue"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        #: Waiting messages in delivery order: one deque, or ``Levels`` once priorities are used.
        self.ready: deque[Held] | Levels = deque()
        self.consumers: list[Consumer] = []
        self.cursor = 0
        self.filtered = 0  # consumers with a filter
        self.in_flight = 0
        self.acked = 0
        self.nacked = 0
        self.redelivered = 0
        self.expired = 0
        self.dead_lettered = 0
        self.browsed = 0  # copies shown to browsers
        self.prefetch: int = settings["prefetch"]
        self.max_redeliveries: int = settings["max_redeliveries"]
        dead_letter: str | None = settings["dead_letter"]
        self.dead_letter = dead_letter.encode() if dead_letter else None
        self.pause_when_full = settings["when_full"] == "pause"
        self.ttl: float = settings["expiry"]
        #: The session a temporary queue belongs to (only it may consume); None for shared queues.
        self.owner: Session | None = None
        #: The deadlines of waiting messages; made for the first message that has one.
        self._timer: ExpiryTimer | None = None
        #: Bytes of the bodies waiting in ``ready``, counted in the broker's max_memory.
        self.ready_bytes = 0
        self.memory = context.memory
        #: Producers on hold until the queue has room again (``when_full = "pause"``).
        self._paused: dict[Session, None] = {}

    # -- publishing -------------------------------------------------------------------------

    def publish(self, message: Message, sender: Session | None) -> None:
        headers = message.headers
        priority = headers.get(PRIORITY)
        if priority is not None and priority != DEFAULT_VALUE:
            ready = self.ready
            if isinstance(ready, deque):
                self._prioritize(priority)
            else:
                ready.priority_of(priority)  # a bad value: ERROR, before anything changed
        ready = self.ready
        if len(ready) >= self.max_messages:
            self._full(sender)
        expires = 0.0
        if self.ttl or EXPIRES in headers or EXPIRATION in headers:
            expires = (self._timer or self._new_timer()).deadline(headers, self.ttl, time.time())
        held = Held(message, expires)
        self.enqueued += 1
        if expires and expires <= time.time():
            self._expire(held)
            return
        if (not ready or self.filtered) and self._give(held):
            return
        ready.append(held)
        self._waiting(len(message.body))
        if expires:
            (self._timer or self._new_timer()).watch(held)

    def _prioritize(self, value: bytes) -> None:
        """A priority while ``ready`` is one deque: a bad value is refused (before anything
        changed); the first other than the default makes ``ready`` one deque per level."""
        from .priority import DEFAULT_PRIORITY, Levels

        if Levels.priority_of(value) != DEFAULT_PRIORITY:
            self.ready = Levels(self.ready)

    def _new_timer(self) -> ExpiryTimer:
        from .expiry import ExpiryTimer

        self._timer = timer = ExpiryTimer(self._expire_due, self.context.loop)
        return timer

    def room(self, sender: Session) -> int | None:
        """What a COMMIT may send here before ``q flup``: the free places below max_messages
        and, when nothing waits, what unfiltered consumers take at once (all, for one
        in ``auto`` mode or without a window). None: a full queue pauses this producer."""
        if self.pause_when_full and sender.connected and not holds_unacked(sender):
            return None
        ready = self.ready
        room = max(self.max_messages - len(ready), 0)
        if ready or self.filtered:
            return room  # new messages queue behind the waiting ones (filters: counted as taking none)
        for consumer in self.consumers:
            if consumer.has_room:
                if consumer.auto or not consumer.window:
                    return None
                room += consumer.window - len(consumer.unacked)
        return room

    def _full(self, sender: Session | None) -> None:
        """The queue holds max_messages: refuse (``q flup``), or stop reading from the producer.

        A producer that itself holds unacknowledged messages is never paused: its ACKs
        travel on the connection that would stop being read, so pausing it could wait forever.
        """
        if self.pause_when_full and sender is not None and sender.connected and not holds_unacked(sender):
            # This SEND is accepted (one over the limit); the producer's next frames wait,
            # unread or unhandled, until the queue has room (each full queue holds it for
            # itself: the producer resumes when the last one lets go).
            self._paused[sender] = None
            sender.hold(self)
            return
        raise DestinationFull(
            f"{self.name.decode('utf-8', 'replace')} already holds max_messages ({self.max_messages}) messages"
        )

    # -- delivering -------------------------------------------------------------------------

    def _give(self, held: Held) -> bool:
        """Deliver to the next consumer (round-robin) with room whose filter matches; False if none."""
        consumers = self.consumers
        count = len(consumers)
        if not count:
            return False
        start = self.cursor
        headers = held.message.headers
        for step in range(count):
            index = start + step
            if index >= count:
                index -= count
            consumer = consumers[index]
            if consumer.link.paused or not consumer.session.connected:
                # A closing session's other subscriptions must not take back what its
                # first unsubscribe returned: that would go to a dead connection.
                continue
            if not consumer.auto and consumer.window and len(consumer.unacked) >= consumer.window:
                continue
            flt = consumer.filter
            if flt is not None and not flt(headers):
                continue
            self.cursor = index + 1
            self._deliver(consumer, held)
            return True
        return False

    def _deliver(self, consumer: Consumer, held: Held) -> None:
        message = held.message
        if held.deliveries:
            # A redelivery: RabbitMQ's flag, and how many times it was delivered before.
            consumer.subscription.deliver(message, b"redelivered:true\nx-delivery-count:%d\n" % held.deliveries)
            self.redelivered += 1
        else:
            # RabbitMQ's and Artemis's first-delivery flag: the constant costs one bytes concatenation.
            consumer.subscription.deliver(message, b"redelivered:false\n")
        held.deliveries += 1
        self.delivered += 1
        if consumer.auto:
            held.where = GONE
        else:
            held.where = IN_FLIGHT
            consumer.unacked[message.id] = held
            self.in_flight += 1

    def _drain(self) -> None:
        """Deliver waiting messages while some consumer has room (restores the invariant)."""
        ready = self.ready
        if ready and self.consumers:
            now = time.time()
            if not self.filtered:
                taken = 0
                while ready:
                    held = ready[0]
                    if held.expires and held.expires <= now:
                        ready.popleft()
                        self._expire(held)
                    elif self._give(held):
                        ready.popleft()
                    else:
                        break  # nobody has room
                    taken += len(held.message.body)
                if taken:
                    self._waiting(-taken)
            else:
                kept = self._empty()
                taken = 0
                while ready:
                    held = ready.popleft()
                    if held.expires and held.expires <= now:
                        self._expire(held)
                    elif not self._give(held):
                        kept.append(held)
                        if not self._anyone_has_room():
                            break
                        continue
                    taken += len(held.message.body)
                kept.extend(ready)
                self.ready = ready = kept
                if taken:
                    self._waiting(-taken)
        if not ready and self._timer is not None:
            self._timer.cancel()  # nothing waits, so nothing can expire while waiting
        if self._paused and len(ready) < self.max_messages:
            self._resume_producers()

    def _empty(self) -> deque[Held] | Levels:
        """An empty ``ready`` of the kind this queue uses (to rebuild it without some messages)."""
        return deque() if type(self.ready) is deque else type(self.ready)()

    def _waiting(self, delta: int) -> None:
        """Bodies of ``delta`` bytes started (or, negative, stopped) waiting in ``ready``."""
        self.ready_bytes += delta
        self.memory.add(delta)

    def _anyone_has_room(self) -> bool:
        return any(consumer.has_room for consumer in self.consumers)

    def _resume_producers(self) -> None:
        paused, self._paused = self._paused, {}
        for session in paused:
            # Not from inside this queue's own bookkeeping: the producer's waiting
            # frames publish here again, so they run on the next loop pass.
            self.context.call_soon(partial(session.release, self))

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        owner = self.owner
        if owner is not None and subscription.session is not owner:
            raise FrameRejected(
                f"{self.name.decode('utf-8', 'replace')} is a temporary queue of another connection: "
                "only its owner may subscribe"
            )
        browse = headers.get(BROWSER)
        if browse is not None and browse.lower() == b"true":
            super().subscribe(subscription, headers)
            subscription.state = Browser(subscription, ())  # filled in by ``started``, after the RECEIPT
            return
        window = prefetch_of(headers, self.prefetch)
        super().subscribe(subscription, headers)
        consumer = Consumer(subscription, window)
        subscription.state = consumer
        self.consumers = self.consumers + [consumer]
        if consumer.filter is not None:
            self.filtered += 1

    def started(self, subscription: Subscription) -> None:
        browser = subscription.state
        if type(browser) is Browser:
            # What waits now, in delivery order, that its filter matches (a snapshot of references).
            flt = subscription.filter
            browser.pending.extend(
                held for held in self.ready if flt is None or flt(held.message.headers)
            )
            self._browse(browser)
            return
        self._drain()  # what waited goes out after the SUBSCRIBE's RECEIPT

    def _browse(self, browser: Browser) -> None:
        """Show a browser copies of its snapshot while its connection has room; then the end marker.

        A message of the snapshot taken, expired or dropped meanwhile is skipped. Copies are
        not deliveries: no delivery count, no ``delivered``, nothing to acknowledge.
        """
        subscription = browser.subscription
        if browser.done or self.closed or not subscription.session.connected:
            return
        pending = browser.pending
        link = subscription.link
        now = time.time()
        shown = 0
        while pending and not link.paused:
            held = pending.popleft()
            if held.where != READY or (held.expires and held.expires <= now):
                continue
            if held.deliveries:
                subscription.deliver(
                    held.message, b"redelivered:true\nx-delivery-count:%d\n" % held.deliveries
                )
            else:
                subscription.deliver(held.message, b"redelivered:false\n")  # as a first delivery says
            shown += 1
        self.browsed += shown
        if not pending:
            browser.done = True
            end = Message(self.context.next_message_id(), self.name, {BROWSER: BROWSER_END}, b"")
            subscription.deliver(end)

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        consumer = subscription.state
        if not isinstance(consumer, Consumer) or consumer not in self.consumers:
            if type(consumer) is Browser:
                consumer.pending.clear()
                subscription.state = None
            return
        subscription.state = None
        index = self.consumers.index(consumer)
        self.consumers = self.consumers[:index] + self.consumers[index + 1 :]
        if index < self.cursor:
            self.cursor -= 1
        if consumer.filter is not None:
            self.filtered -= 1
        unacked = list(consumer.unacked.values())
        consumer.unacked.clear()
        if unacked:
            self.in_flight -= len(unacked)
            self._requeue(unacked, "delivery-failed")
        if not self.closed:
            self._drain()

    def writable(self, subscription: Subscription) -> None:
        browser = subscription.state
        if type(browser) is Browser:
            self._browse(browser)
            return
        self._drain()

    # -- acknowledgements ---------------------------------------------------------------------

    def _consumer(self, subscription: Subscription) -> Consumer | None:
        consumer = subscription.state
        return consumer if isinstance(consumer, Consumer) and not consumer.auto else None

    def _settle(self, subscription: Subscription, message_id: int, verb: str) -> list[Held]:
        consumer = self._consumer(subscription)
        if consumer is None:
            return []  # auto mode: every delivery is already final, so there is nothing to settle
        settled = consumer.take(message_id, subscription.cumulative)
        if not settled:
            raise not_awaiting(verb, message_id, subscription)
        self.in_flight -= len(settled)
        return settled

    def ack(self, subscription: Subscription, message_id: int) -> None:
        consumer = subscription.state
        if type(consumer) is Consumer and not consumer.cumulative:
            # The common case (client-individual) without building lists: one dict pop.
            held = consumer.unacked.pop(message_id, None)
            if held is not None:
                held.where = GONE
                self.in_flight -= 1
                self.acked += 1
                if self.ready or self._paused:
                    self._drain()
                return
        settled = self._settle(subscription, message_id, "ACK")
        if settled:
            for held in settled:
                held.where = GONE
            self.acked += len(settled)
            self._drain()

    def nack(self, subscription: Subscription, message_id: int, headers: Mapping[bytes, bytes]) -> None:
        settled = self._settle(subscription, message_id, "NACK")
        if settled:
            self.nacked += len(settled)
            if headers.get(b"requeue", b"").lower() == b"false":  # stomp.py's nack(requeue=False) sends "False"
                # RabbitMQ's NACK requeue:false: reject for good (dead letter, or drop).
                for held in settled:
                    self._dead_letter(held, "rejected")
            else:
                self._requeue(settled, "rejected")
            self._drain()

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        consumer = self._consumer(subscription)
        return consumer is not None and message_id in consumer.unacked

    def _requeue(self, returned: Iterable[Held], reason: str) -> None:
        """Put messages back at the head of the queue, oldest first; the over-delivered go to dead letters."""
        again = []
        for held in sorted(returned, key=lambda h: h.message.id):
            if held.deliveries > self.max_redeliveries:
                self._dead_letter(held, reason)
            else:
                held.where = READY
                again.append(held)
                if held.expires:
                    (self._timer or self._new_timer()).watch(held)
        self.ready.extendleft(reversed(again))
        if again:
            self._waiting(sum(len(held.message.body) for held in again))

    # -- expiry and dead letters ----------------------------------------------------------------

    def _expire_due(self, due: list[Held]) -> None:
        """Timer callback: drop the waiting messages whose deadline passed."""
        gone = {id(held) for held in due if held.where == READY}
        if not gone:
            return
        kept = self._empty()
        expired = 0
        for held in self.ready:
            if id(held) in gone:
                self._expire(held)
                expired += len(held.message.body)
            else:
                kept.append(held)
        self.ready = kept
        if expired:
            self._waiting(-expired)
        if self._paused and len(kept) < self.max_messages:
            self._resume_producers()

    def _expire(self, held: Held) -> None:
        self.expired += 1
        self._dead_letter(held, "expired", counted=True)

    def _dead_letter(self, held: Held, reason: str, counted: bool = False) -> None:
        """Send a message that cannot be delivered to ``dead_letter``, or drop it (counted)."""
        held.where = GONE
        target_name = self.dead_letter
        if target_name is None or target_name == self.name:  # the dead-letter queue's own dead letters
            if not counted:
                self.dropped += 1
            return
        message = held.message
        headers = {
            name: value for name, value in message.headers.items() if name != EXPIRES and name != EXPIRATION
        }
        headers[ORIGINAL_DESTINATION] = self.name
        headers[DEAD_LETTER_REASON] = reason.encode()
        try:
            self.context.publish(target_name, headers, message.body)
        except XtompError as error:
            self.dropped += 1
            log.warning(
                "%s: dead letter to %s lost: %s",
                self.name.decode("utf-8", "replace"), target_name.decode("utf-8", "replace"), error,
            )
            return
        self.dead_lettered += 1

    # -- lifecycle and figures ------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self.ready)

    def close(self) -> None:
        super().close()
        if self._timer is not None:
            self._timer.cancel()
        self.dropped += len(self.ready)
        self.ready.clear()
        self._waiting(-self.ready_bytes)
        if self._paused:
            self._resume_producers()

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures.update(
            bytes=self.ready_bytes,
            in_flight=self.in_flight,
            acked=self.acked,
            nacked=self.nacked,
            redelivered=self.redelivered,
            expired=self.expired,
            dead_lettered=self.dead_lettered,
            browsed=self.browsed,
            consumers=len(self.consumers),
        )
        return figures

