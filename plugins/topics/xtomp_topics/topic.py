"""Topic: every matching subscriber gets every message; nothing is kept when nobody listens
(unless the topic retains its last message: see below).

Slow consumers (theory of operation)
------------------------------------
A subscriber is slow while its connection holds more than ``write_buffer_high`` unsent
bytes (``link.paused``). What the topic does about it is its ``slow_consumer`` policy:

* ``pause`` (the default, lossless): the slow subscriber still gets every message, and the
  topic holds each producer that publishes to it meanwhile (it stops reading that
  producer's connection: per-destination credit, as RabbitMQ's flow control and ActiveMQ's
  producer flow control do). When the last slow subscriber drained below
  ``write_buffer_low`` (or left), the producers are released. A subscriber stuck longer than
  ``slow_consumer_timeout`` is disconnected with ERROR "slow consumer", so one dead reader
  cannot stall a topic for ever. The memory a slow subscriber can pile up is its write
  buffer plus what each producer had already read when it was held.
* ``drop``: the slow subscriber misses the message (counted in ``dropped``); producers and
  the other subscribers never wait (market data, telemetry).
* ``disconnect``: the slow subscriber gets ERROR "slow consumer" and is closed at once.

Prefetch windows
----------------
A subscription in a client ack mode (``client``, ``client-individual``) whose SUBSCRIBE
carries ``prefetch-count`` (RabbitMQ) or ``activemq.prefetchSize`` (ActiveMQ) above 0 is
*windowed*: it has at most that many unacknowledged deliveries. An ACK (``client``:
cumulative, up to and including the named message; ``client-individual``: that one) or a
NACK (a topic never redelivers) frees room. A subscriber whose window is full is slow, as
one over ``write_buffer_high`` is, and the same policy applies to each message published
meanwhile: ``pause`` keeps the message for it (in its ``pending`` list, in order) and holds
the producer until an ACK frees room and that list is empty again (lossless; the timeout
applies too; a producer is not held for its own subscription, whose ACKs would then never
be read); ``drop`` skips it (counted in ``dropped``); ``disconnect`` closes it.

Windowed subscriptions live in their own index (``windowed``), not in ``index``: the plain
``fan_out`` loop, the hot path of topics whose subscribers all acknowledge automatically,
never sees them. ``publish`` delivers to them one by one after ``fan_out`` (their filters
apply: only a matching message counts against a window), and only while there are some.

Retained messages
-----------------
With ``retain = "last"`` the topic keeps its newest message; with ``retain = "per-header"``
its newest message per value of the header ``retain_header`` (at most ``retain_max`` values;
the one published to least recently is evicted). A new subscriber gets them, oldest first,
right after the RECEIPT of its SUBSCRIBE (``started``), with a ``retained:true`` header, as
MQTT's retain flag does; its filter applies. As in MQTT, a message with an empty body
clears what is retained (for its header value) and is delivered as usual, and kept bodies
count against ``max_memory``.

Durable subscriptions
---------------------
A durable SUBSCRIBE (see durable.py for the headers) attaches to a ``DurableBacklog`` kept
per (topic name, durable name) in the broker's stash; its subscription's ``state`` is a
``Durable``. Attached durable subscriptions are in neither index: ``publish`` hands each
message, after ``fan_out`` and only while the topic has durable subscriptions (``extras``),
to each backlog whose filter matches: to one attached subscriber (round-robin) that can take
it when nothing waits before it, else to the backlog, bounded by ``max_messages`` (then
``pause`` keeps it and holds the producer, the backlog standing in ``stuck`` until it drains
below ``max_messages``; ``drop``/``disconnect`` drop it). ``started``, ``writable`` and ACKs
drain the backlog. A subscriber that leaves returns its unacknowledged messages to the head
of the backlog (``redelivered:true``); an UNSUBSCRIBE with ``durable:true`` or
``activemq.subscriptionName`` removes the backlog.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, FrameRejected, LimitExceeded, SubscriberIndex, prefetch_window

from .durable import DURABLES, REDELIVERED, Durable, DurableBacklog, Durables, durable_name, removes_durable
from .trie import GONE, wildcards_of

if TYPE_CHECKING:
    import asyncio

    from xtomp_core import DestinationContext, Message, Section, Session, Subscription

__all__ = ["Topic", "Window", "window_of"]

log = logging.getLogger("xtomp.topics")

PAUSE, DROP, DISCONNECT = "pause", "drop", "disconnect"
RETAIN_NONE, RETAIN_LAST, RETAIN_PER_HEADER = "none", "last", "per-header"

#: Added to the retained messages a new subscriber is given (MQTT's retain flag).
RETAINED = b"retained:true\n"


def settle(unacked: dict[int, Any], message_id: int, cumulative: bool) -> bool:
    """Forget what an ACK or NACK of ``message_id`` settles (``client`` mode: every earlier
    delivery too, in delivery order); False when it was not awaiting one."""
    if message_id not in unacked:
        return False
    if cumulative:
        for key in list(unacked):  # delivery order
            del unacked[key]
            if key == message_id:
                break
    else:
        del unacked[message_id]
    return True


def window_of(headers: Mapping[bytes, bytes]) -> int:
    """The window a SUBSCRIBE asks for (see ``xtomp_core.prefetch_window``); 0: none."""
    return prefetch_window(headers)


class Window:
    """The prefetch window of a client-ack topic subscription (its ``subscription.state``).

    ``unacked`` holds the ids of its unacknowledged deliveries in delivery order (the order
    a cumulative ACK covers); ``pending`` what waits for room (the pause policy, and retained
    messages beyond the window), each with the extra headers it goes out with.
    """

    __slots__ = ("limit", "unacked", "pending", "gone")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.unacked: dict[int, None] = {}
        self.pending: deque[tuple[Message, bytes]] = deque()
        #: Unsubscribed: nothing more is delivered to it.
        self.gone = False

    @property
    def full(self) -> bool:
        return bool(self.pending) or len(self.unacked) >= self.limit

    def __repr__(self) -> str:
        return f"Window(limit={self.limit}, unacked={len(self.unacked)}, pending={len(self.pending)})"


class Topic(Destination):
    """Synchronous fan-out with encode-once frames and a slow-consumer policy (see the module doc).

    ``publish`` never waits: ``fan_out`` appends the shared tail (and each subscription's
    prefix) to the subscribers' output lists, which the server flushes once per loop pass.
    """

    __slots__ = (
        "policy", "lossless", "stuck_timeout", "stuck", "held", "producer_pauses", "slow_disconnects", "_timer",
        "windowed", "extras", "retain_mode", "retain_header", "retain_max", "kept", "retain_evictions",
        "wildcards", "seen", "wild", "durables", "durable_attached",
    )

    type_name = "topic"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        self.policy: str = settings["slow_consumer"]
        self.lossless = self.policy == PAUSE
        self.stuck_timeout: float = settings["slow_consumer_timeout"]
        #: Slow subscribers (pause policy) and full durable backlogs (DurableBacklog) and since when
        #: (time.monotonic()).
        self.stuck: dict[Any, float] = {}
        #: Producers this topic holds until its slow subscribers drain.
        self.held: dict[Session, None] = {}
        self.producer_pauses = 0
        self.slow_disconnects = 0
        self._timer: asyncio.TimerHandle | None = None
        #: Subscriptions with a prefetch window (see the module doc); ``index`` has the others.
        self.windowed: SubscriberIndex[Subscription] = SubscriberIndex()
        self.retain_mode: str = settings["retain"]
        header: str | None = settings["retain_header"]
        #: Per-header retention: the header whose values are keys of ``kept``; None: one message.
        self.retain_header = header.encode("utf-8") if header and self.retain_mode == RETAIN_PER_HEADER else None
        self.retain_max: int = settings["retain_max"] if self.retain_header is not None else 1
        #: Retained messages by header value (b"" for ``retain = "last"``), least recently published first.
        self.kept: dict[bytes, Message] = {}
        self.retain_evictions = 0
        #: Anything beyond fan_out to do per publish (windowed subscribers, retention): one test on the hot path.
        self.extras = False
        #: The broker's wildcard patterns, and their generation when ``wild`` was last matched (see wildcard.py).
        self.wildcards = wildcards_of(context)
        self.seen = -1
        #: The subscriptions of the wildcard patterns matching this topic's name (memoized).
        self.wild: SubscriberIndex[Subscription] = SubscriberIndex()
        #: This topic's durable subscriptions by durable name (the broker's map is in the stash).
        self.durables: dict[tuple[bytes, bytes], DurableBacklog] = {}
        #: Subscriptions attached to them now.
        self.durable_attached = 0
        self._update_extras()

    def _update_extras(self) -> None:
        self.extras = (
            bool(self.windowed.count or self.wild.count or self.durables) or self.retain_mode != RETAIN_NONE
        )

    def publish(self, message: Message, sender: Session | None) -> None:
        self.enqueued += 1
        if self.lossless:
            slow = self.fan_out(message, False)
            if slow is not None:
                self._hold(slow, sender)
        else:
            slow = self.fan_out(message)
            if slow is not None:
                for subscription in slow:
                    self._lose(subscription, "more than write_buffer_high bytes unsent")
        if self.extras or self.wildcards.generation != self.seen:
            if self.wildcards.generation != self.seen:
                self._rematch()
            if self.wild.count:
                self._publish_wild(message, sender)
            if self.windowed.count:
                self._publish_windowed(message, sender)
            if self.durables:
                self._publish_durable(message, sender)
            if self.retain_mode != RETAIN_NONE:
                self._retain(message)

    # -- subscriptions ------------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return self.index.count + self.windowed.count + self.durable_attached

    @property
    def idle(self) -> bool:
        return self.subscriber_count == 0 and self.depth == 0 and not self.durables

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        durable = durable_name(self.name, headers, subscription.session)
        if self.subscriber_count >= self.max_connections:
            raise LimitExceeded(
                "dest flup",
                f"{self.name.decode('utf-8', 'replace')} already has max_connections "
                f"({self.max_connections}) subscriptions",
            )
        # In auto mode a delivery is never unacknowledged: a prefetch header means nothing.
        limit = window_of(headers) if subscription.client_ack else 0
        if durable is not None:
            self._attach(subscription, durable, limit)
            return
        if not limit:
            self.index.add(subscription)
            return
        subscription.state = Window(limit)
        self.windowed.add(subscription)
        self._update_extras()

    def started(self, subscription: Subscription) -> None:
        """Hand a new subscriber what the topic retains, oldest first (after its RECEIPT)."""
        kept = self.kept
        if not kept or type(subscription.state) is Durable:
            if type(subscription.state) is Durable:
                self._drain(subscription.state.backlog)
            return
        wanted = subscription.filter
        window = subscription.state
        for message in list(kept.values()):
            if wanted is not None and not wanted(message.headers):
                continue
            if type(window) is not Window:
                subscription.deliver(message, RETAINED)
                self.delivered += 1
            elif window.full:
                window.pending.append((message, RETAINED))  # goes out as ACKs free room
            else:
                self._give(subscription, window, message, RETAINED)

    def unsubscribe(self, subscription: Subscription) -> None:
        window = subscription.state
        if type(window) is Window:
            self.windowed.remove(subscription)
            window.gone = True
            window.pending.clear()
            self._update_extras()
        elif type(window) is Durable:
            self._detach(subscription, window)
        else:
            super().unsubscribe(subscription)
        self._unstuck(subscription)

    # -- wildcard subscribers (see wildcard.py) ---------------------------------------------------

    def _rematch(self) -> None:
        """Patterns or wildcard subscriptions changed since ``wild`` was built: match this name again."""
        wildcards = self.wildcards
        self.seen = wildcards.generation
        wild: SubscriberIndex[Subscription] = SubscriberIndex()
        for pattern in wildcards.match(self.name):
            if pattern is not self:
                for subscription in pattern.index.all():
                    wild.add(subscription)
        self.wild = wild
        self._update_extras()

    def _publish_wild(self, message: Message, sender: Session | None) -> None:
        """Deliver to the wildcard subscriptions whose filter matches, under this topic's
        slow-consumer policy (a paused wildcard subscriber is slow for this topic)."""
        wild = self.wild
        targets = wild.matching(message.headers) if wild.filtered else wild.plain
        slow: list[Subscription] | None = None
        for subscription in targets:
            if subscription.state is GONE:  # left during this publish (a disconnected slow consumer)
                continue
            if subscription.link.paused:
                if not self.lossless:
                    self._lose(subscription, "more than write_buffer_high bytes unsent")
                    continue
                if slow is None:
                    slow = []
                slow.append(subscription)
                # writable() goes to the pattern, which tells every topic it is stuck in.
                self.wildcards.stuck.setdefault(subscription, {})[self] = None
            subscription.deliver(message)
            self.delivered += 1
        if slow is not None:
            self._hold(slow, sender)

    # -- prefetch windows -----------------------------------------------------------------------

    def _publish_windowed(self, message: Message, sender: Session | None) -> None:
        """Deliver ``message`` to the windowed subscribers whose filter matches it, applying the
        slow-consumer policy to those whose window is full or whose connection is paused."""
        windowed = self.windowed
        targets = windowed.matching(message.headers) if windowed.filtered else windowed.plain
        lossless = self.lossless
        slow: list[Subscription] | None = None
        for subscription in targets:
            window: Window = subscription.state
            if window.gone:  # left during this loop (a disconnected slow consumer's other subscription)
                continue
            if window.full:
                if lossless:
                    window.pending.append((message, b""))
                    if subscription.session is not sender:  # held, it could not send the ACK it waits for
                        if slow is None:
                            slow = []
                        slow.append(subscription)
                else:
                    self._lose(subscription, f"{window.limit} messages unacknowledged (its prefetch-count)")
                continue
            if subscription.link.paused:
                if not lossless:
                    self._lose(subscription, "more than write_buffer_high bytes unsent")
                    continue
                if slow is None:
                    slow = []
                slow.append(subscription)
            self._give(subscription, window, message, b"")
        if slow is not None:
            self._hold(slow, sender)

    def _give(self, subscription: Subscription, window: Window, message: Message, extra: bytes) -> None:
        window.unacked[message.id] = None
        subscription.deliver(message, extra)
        self.delivered += 1

    def ack(self, subscription: Subscription, message_id: int) -> None:
        window = subscription.state
        if type(window) is Window:
            self._settle(subscription, window, message_id)
        elif type(window) is Durable:
            self._settle_durable(subscription, window, message_id)

    def nack(self, subscription: Subscription, message_id: int, headers: Mapping[bytes, bytes]) -> None:
        # A topic does not redeliver: a NACK only frees room in the window, as an ACK does.
        window = subscription.state
        if type(window) is Window:
            self._settle(subscription, window, message_id)
        elif type(window) is Durable:
            self._settle_durable(subscription, window, message_id)

    def _settle(self, subscription: Subscription, window: Window, message_id: int) -> None:
        if not settle(window.unacked, message_id, subscription.cumulative):
            return  # acknowledged already, or never delivered: accepted, as without a window
        unacked = window.unacked
        pending = window.pending
        while pending and len(unacked) < window.limit and not window.gone:
            message, extra = pending.popleft()
            self._give(subscription, window, message, extra)
        if not pending and not subscription.link.paused:
            self._unstuck(subscription)

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        # A 1.0 ACK naming only a message id. A topic keeps nothing to acknowledge, so ACKs in
        # client modes are accepted as no-ops, unless another subscription of the session awaits
        # that message (a window of this or another topic, or a queue's delivery).
        if not subscription.client_ack:
            return False
        window = subscription.state
        if (type(window) is Window or type(window) is Durable) and message_id in window.unacked:
            return True
        for other in subscription.session.subscriptions.values():
            if other is subscription or not other.client_ack:
                continue
            state = other.state
            if type(state) is Window or type(state) is Durable:
                if message_id in state.unacked:
                    return False
            elif not isinstance(other.destination, Topic) and other.destination.owns(other, message_id):
                return False
        return True

    # -- durable subscriptions (see durable.py) ---------------------------------------------------

    def _attach(self, subscription: Subscription, name: tuple[bytes, bytes], limit: int) -> None:
        """Attach a durable SUBSCRIBE to its backlog (made on the first one); what waits is
        delivered by ``started``, after the RECEIPT."""
        backlog = self.durables.get(name)
        if backlog is None:
            durables = self.context.stash.setdefault(DURABLES, Durables)
            if len(durables.backlogs) >= durables.limit:
                raise LimitExceeded(
                    "durable flup",
                    f"the broker already has max_durable_subscriptions ({durables.limit}) durable subscriptions "
                    f"(on {self.name[:80].decode('utf-8', 'replace')})",
                )
            backlog = durables.backlogs[(self.name, name)] = self.durables[name] = DurableBacklog(self.name, name)
        backlog.filter = subscription.filter  # a new selector replaces the old one (ActiveMQ)
        subscription.state = Durable(backlog, limit)
        backlog.attached.append(subscription)
        self.durable_attached += 1
        self._update_extras()

    def _detach(self, subscription: Subscription, state: Durable) -> None:
        """A durable subscriber left: its unacknowledged messages go back to the head of the
        backlog (in order, marked redelivered); an UNSUBSCRIBE with ``durable:true`` (or
        ``activemq.subscriptionName``) by the last one attached removes the subscription."""
        backlog = state.backlog
        state.gone = True
        backlog.attached.remove(subscription)
        self.durable_attached -= 1
        unacked, state.unacked = state.unacked, {}
        if unacked:
            backlog.messages.extendleft((message, True) for message in reversed(unacked.values()))
            self.context.memory.add(sum(len(message.body) for message in unacked.values()))
        if removes_durable(subscription.unsubscribe_headers) and not backlog.attached:
            self._remove_durable(backlog)
        elif backlog.attached:
            self._drain(backlog)  # what it returned goes to the others
        self._update_extras()

    def _remove_durable(self, backlog: DurableBacklog) -> None:
        held = backlog.held_bytes
        backlog.messages.clear()
        if held:
            self.context.memory.add(-held)
        self.durables.pop(backlog.name, None)
        durables = self.context.stash.get(DURABLES)
        if durables is not None:
            durables.backlogs.pop((self.name, backlog.name), None)
        self._unstuck_backlog(backlog)

    def _taker(self, backlog: DurableBacklog) -> Subscription | None:
        """The next attached subscription (round-robin) that can take a message now, or None."""
        attached = backlog.attached
        count = len(attached)
        turn = backlog.turn
        for step in range(count):
            subscription = attached[(turn + step) % count]
            state: Durable = subscription.state
            if subscription.link.paused or (state.limit and len(state.unacked) >= state.limit):
                continue
            backlog.turn = (turn + step + 1) % count
            return subscription
        return None

    def _give_durable(self, subscription: Subscription, message: Message, redelivered: bool) -> None:
        if subscription.client_ack:
            subscription.state.unacked[message.id] = message
        subscription.deliver(message, REDELIVERED if redelivered else b"")
        self.delivered += 1

    def _publish_durable(self, message: Message, sender: Session | None) -> None:
        """Each durable subscription whose filter matches gets ``message``: one of its attached
        subscribers (round-robin) if one can take it and nothing waits before it, else its backlog
        (bounded by max_messages; when full, the slow-consumer policy: pause holds the producer)."""
        slow: list[Any] | None = None
        kept = 0
        for backlog in self.durables.values():  # only an UNSUBSCRIBE frame removes one
            wanted = backlog.filter
            if wanted is not None and not wanted(message.headers):
                continue
            messages = backlog.messages
            if backlog.attached and not messages:
                taker = self._taker(backlog)
                if taker is not None:
                    self._give_durable(taker, message, False)
                    continue
            if len(messages) >= self.max_messages:
                if not self.lossless:
                    self.dropped += 1
                    continue
                if not any(subscription.session is sender for subscription in backlog.attached):
                    if slow is None:  # (a producer attached to it is not held: it could not ACK)
                        slow = []
                    slow.append(backlog)
            messages.append((message, False))
            kept += 1
        if kept:
            self.context.memory.add(kept * len(message.body))
        if slow is not None:
            self._hold(slow, sender)

    def _drain(self, backlog: DurableBacklog) -> None:
        """Deliver what waits to the attached subscribers that can take it, in order; the rest
        goes out on ``writable`` or an ACK."""
        messages = backlog.messages
        freed = 0
        while messages:
            taker = self._taker(backlog)
            if taker is None:
                break
            message, redelivered = messages.popleft()
            freed += len(message.body)
            self._give_durable(taker, message, redelivered)
        if freed:
            self.context.memory.add(-freed)
        if len(messages) < self.max_messages:
            self._unstuck_backlog(backlog)

    def _unstuck_backlog(self, backlog: DurableBacklog) -> None:
        stuck = self.stuck
        if stuck and stuck.pop(backlog, None) is not None and not stuck:
            self._release()

    def _settle_durable(self, subscription: Subscription, state: Durable, message_id: int) -> None:
        if not settle(state.unacked, message_id, subscription.cumulative):
            return
        if not state.gone:
            self._drain(state.backlog)

    # -- retained messages ------------------------------------------------------------------------

    def _retain(self, message: Message) -> None:
        header = self.retain_header
        if header is None:
            key = b""
        else:
            value = message.headers.get(header)
            if value is None:
                return  # nothing to file it under: delivered, not retained
            key = value
        kept = self.kept
        old = kept.pop(key, None)
        delta = -len(old.body) if old is not None else 0
        if message.body:  # an empty body clears (MQTT)
            kept[key] = message
            delta += len(message.body)
            if len(kept) > self.retain_max:
                evicted = kept.pop(next(iter(kept)))
                delta -= len(evicted.body)
                self.retain_evictions += 1
        if delta:
            self.context.memory.add(delta)

    @property
    def depth(self) -> int:
        # Retained messages are held for later delivery: they show as "q", and keep a topic
        # made by a prefix rule from being removed as idle (with them).
        return len(self.kept)

    # -- the pause policy ---------------------------------------------------------------------

    def _hold(self, slow: list[Subscription], sender: Session | None) -> None:
        now = time.monotonic()
        stuck = self.stuck
        for subscription in slow:
            if subscription not in stuck:
                stuck[subscription] = now
        if sender is not None and sender not in self.held and sender.connected:
            self.held[sender] = None
            self.producer_pauses += 1
            sender.hold(self)
        if self._timer is None and self.stuck_timeout > 0:
            loop = self.context.loop
            if loop is not None:
                self._timer = loop.call_later(self.stuck_timeout, self._check_stuck)

    def writable(self, subscription: Subscription) -> None:
        window = subscription.state
        if type(window) is Window and window.pending:
            return  # still slow: its window is full until an ACK
        if type(window) is Durable:
            self._drain(window.backlog)
        self._unstuck(subscription)

    def _unstuck(self, subscription: Subscription) -> None:
        stuck = self.stuck
        if stuck and stuck.pop(subscription, None) is not None and not stuck:
            self._release()

    def _release(self) -> None:
        """No subscriber is slow any more: let every held producer go (on the next loop pass,
        not from inside the drained connection's callback)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self.held = self.held, {}
        for session in held:
            self.context.call_soon(partial(session.release, self))

    def _check_stuck(self) -> None:
        """Disconnect the subscribers slow for longer than slow_consumer_timeout; re-arm for the rest."""
        self._timer = None
        now = time.monotonic()
        timeout = self.stuck_timeout
        for subscription, since in list(self.stuck.items()):
            if type(subscription) is DurableBacklog:
                continue  # nobody to disconnect: held until it drains, or is removed
            if now - since >= timeout:
                window = subscription.state
                what = "with a full prefetch window" if type(window) is Window and window.pending else "over write_buffer_high"
                self._disconnect(subscription, f"stuck {what} for {timeout:g}s (slow_consumer_timeout)")
        if self.stuck:
            loop = self.context.loop
            if loop is not None:
                earliest = min(self.stuck.values())
                self._timer = loop.call_later(max(earliest + timeout - now, 0.01), self._check_stuck)

    def _lose(self, subscription: Subscription, why: str) -> None:
        """``drop`` and ``disconnect``: the subscriber misses the message (counted); with
        ``disconnect`` it is closed too."""
        self.dropped += 1
        if self.policy == DISCONNECT:
            self._disconnect(subscription, why)

    def _disconnect(self, subscription: Subscription, why: str) -> None:
        session = subscription.session
        self.slow_disconnects += 1
        if session.connected:
            name = self.name.decode("utf-8", "replace")
            log.info("session %s: slow consumer on %s, disconnecting: %s", session.describe(), name, why)
            session.fail(LimitExceeded("slow consumer", f"{why} on {name}"))
        self._unstuck(subscription)  # its session's end unsubscribed it already, unless it had ended

    # -- the rest ---------------------------------------------------------------------------------

    def close(self) -> None:
        super().close()
        self.stuck.clear()
        self._release()
        for subscription in self.windowed.all():
            subscription.state.pending.clear()
        kept, self.kept = self.kept, {}
        held = sum(len(message.body) for message in kept.values())
        durables = self.context.stash.get(DURABLES)
        for backlog in self.durables.values():
            held += backlog.held_bytes
            backlog.messages.clear()
            if durables is not None and durables.backlogs.get((self.name, backlog.name)) is backlog:
                del durables.backlogs[(self.name, backlog.name)]
        self.durables.clear()
        if held:
            self.context.memory.add(-held)

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures.update(
            sz=self.subscriber_count,
            slow_consumer=self.policy,
            slow_subscribers=len(self.stuck),
            held_producers=len(self.held),
            producer_pauses=self.producer_pauses,
            slow_disconnects=self.slow_disconnects,
            windowed=self.windowed.count,
            retained=len(self.kept),
            retain_evictions=self.retain_evictions,
            wildcard_subscribers=self.wild.count,
            durable_subscriptions=len(self.durables),
            durable_backlog=sum(len(backlog.messages) for backlog in self.durables.values()),
        )
        return figures
