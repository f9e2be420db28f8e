"""ClusterQueue: a queue whose messages live in the backplane's log, shared by the consumers of every node.

Theory of operation
-------------------
SEND appends to the queue's log (``streams.py``); nothing is kept locally. A node reads
only what its consumers have room for: the free places of their prefetch windows (client
and client-individual modes; ``prefetch``, or the SUBSCRIBE's prefetch-count), a small
window (``AUTO_WINDOW``) for each auto-ack consumer whose connection is not over its
high-water mark. Read entries wait in ``ready`` for the next consumer with room (round
robin), so the backlog stays in the log where every node can reach it. When a read comes
back short the queue joins the node's one blocking read; it never polls.

Every entry a node read stays *pending* on that node until it is settled: ACK (client
modes) or the write (auto mode) acknowledges and deletes it; NACK and the departure of a
consumer put a copy back at the end of the log with the delivery count (RabbitMQ 4's
quorum queues requeue to the back too), delivered next time with ``redelivered:true`` and
``x-delivery-count``; past ``max_redeliveries`` the message goes to ``dead_letter`` or, if
that is unset, to the dead-letter stream ``xtomp:dead:<queue>`` (kept for inspection).

A live node touches its pending entries every ``claim_after / 3`` so that they never look
idle; a node with consumers sweeps (``claim``) every ``claim_after / 2`` while the group
has pending entries it does not hold, taking over those idle for ``claim_after`` (a dead
node's), redelivered with ``redelivered:true``. Neither timer runs at idle.

A SEND with a ``receipt`` gets it once Redis answered its XADD (``Session.defer_receipt``):
an error reply is an ERROR instead, and so is a connection lost before the reply unless
``when_unavailable = "hold"`` keeps the message (its RECEIPT then waits for the resend).

``max_messages`` bounds the log (waiting and unacknowledged messages): a SEND to a full
queue gets ERROR ``q flup``, as on one node, or with ``when_full = "pause"`` is accepted
and holds its producer until the log is below max_messages again, which the node learns
from its own ACKs and, while anyone is held, from an XLEN every ``FULL_POLL`` (no timer
otherwise). The log's length is learnt from one XLEN per loop pass with SENDs, counting
this node's appends queued after it, so only bursts from several nodes at once may
overshoot. With the backplane unreachable a SEND gets an ERROR (``when_unavailable =
"error"``) or is kept and its producer held until the backplane is back (``"hold"``).

Expiry (``expiry``, ``expires``, ``expiration``) is a deadline stored with the entry; an
entry read after it is dead-lettered (reason ``expired``) instead of delivered: found when
read, not at the deadline (no timer per message in a cluster).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from xtomp_core import (
    DeferredReceipt,
    Destination,
    DestinationFull,
    FrameRejected,
    Message,
    XtompError,
    prefetch_window,
)
from xtomp_queues import EXPIRATION, EXPIRES, deadline, holds_unacked, not_awaiting, take_settled

from .streams import Entry, QueueStreams, decode_entry, encode_entry

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping

    from xtomp_core import DestinationContext, Section, Session, Subscription

__all__ = ["ClusterQueue", "ClusterRefused", "ClusterUnavailable", "QueueOptions", "AUTO_WINDOW", "MAX_READ",
           "FULL_POLL"]

log = logging.getLogger("xtomp.cluster")

#: Entries read ahead for each auto-ack consumer (its delivery is final on write).
AUTO_WINDOW = 32
#: Most entries one read asks for (a consumer without a window counts as this many).
MAX_READ = 1000
#: While a producer is held by a full queue (``when_full = "pause"``), how often the node
#: reads the stream's length again (other nodes' consumers drain it without telling us).
FULL_POLL = 0.2

ORIGINAL_DESTINATION = b"x-original-destination"
DEAD_LETTER_REASON = b"x-dead-letter-reason"


class ClusterUnavailable(XtompError):
    """The backplane (Redis) cannot be reached, so a clustered queue cannot accept a SEND."""

    code = "cluster down"


class ClusterRefused(XtompError):
    """Redis answered a queue SEND's XADD with an error (``maxmemory`` reached, ...)."""

    code = "cluster refused"


class QueueOptions:
    """What every clustered queue of a node shares: the backplane, the node's options, its queues."""

    __slots__ = (
        "streams", "claim_after", "hold", "loop", "queues", "reads", "claims", "dead_lettered", "wakeups", "run",
    )

    def __init__(self, streams: QueueStreams, claim_after: float, hold: bool) -> None:
        self.streams = streams
        self.claim_after = claim_after
        #: when_unavailable = "hold": keep SENDs and hold their producers while Redis is away.
        self.hold = hold
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queues: dict[bytes, ClusterQueue] = {}
        self.reads = 0
        self.claims = 0
        self.dead_lettered = 0
        self.wakeups = 0
        #: Random per process: a restarted node (same node id, session ids from 1 again) never
        #: reuses a temporary queue name a late reply could still be addressed to.
        self.run = os.urandom(3).hex().encode()
        streams.on_available(self.restore)

    def restore(self) -> None:
        """The backplane is back: every queue recreates its group, resends, and reads again."""
        for queue in list(self.queues.values()):
            try:
                queue.restore()
            except Exception:
                log.exception("cluster: restoring queue %r failed", queue.name)


class ClusterConsumer:
    """A subscription to a clustered queue: ack mode, window, unacknowledged entries by message id."""

    __slots__ = ("subscription", "session", "link", "auto", "cumulative", "window", "unacked")

    def __init__(self, subscription: Subscription, window: int) -> None:
        self.subscription = subscription
        self.session = subscription.session
        self.link = subscription.link
        self.auto = not subscription.client_ack
        self.cumulative = subscription.cumulative
        self.window = window
        self.unacked: dict[int, Entry] = {}

    def room(self) -> int:
        """How many more entries it takes now."""
        if self.link.paused or not self.session.connected:
            return 0
        if self.auto:
            return AUTO_WINDOW
        if not self.window:
            return MAX_READ
        return self.window - len(self.unacked)

    def take(self, message_id: int) -> list[Entry]:
        """What an ACK or NACK of ``message_id`` settles, in delivery order."""
        return take_settled(self.unacked, message_id, self.cumulative)


class ClusterQueue(Destination):
    """A queue on the backplane: competing consumers on every node, at-least-once delivery."""

    __slots__ = (
        "options", "streams", "key", "owner", "remote", "ready", "consumers", "cursor", "reading", "waiting",
        "length", "measuring", "max_redeliveries", "dead_letter", "acked", "nacked", "redelivered",
        "dead_lettered", "claimed", "read_count", "unsent", "held_producers", "lag", "ttl", "expired", "_settling",
        "_sweep", "_touch", "pause_when_full", "paused", "_poll", "unmeasured",
    )

    type_name = "queue"

    def __init__(
        self, name: bytes, settings: Section, context: DestinationContext, options: QueueOptions,
        owner: Session | None = None, remote: bool = False,
    ) -> None:
        super().__init__(name, settings, context)
        self.options = options
        self.streams = options.streams
        self.key = self.streams.key(name)
        #: A temporary queue's session (only it consumes); None for shared queues.
        self.owner = owner
        #: Another node's temporary queue: SENDs go to its log if it still exists, nothing is read.
        self.remote = remote
        self.ready: deque[Entry] = deque()
        self.consumers: list[ClusterConsumer] = []
        self.cursor = 0
        self.reading = 0  # entries asked for by the read in flight
        self.waiting = False  # in the node's blocking read
        self.length = 0  # the log's length at the last XLEN
        self.measuring = False
        #: This node's appends queued after the XLEN in flight (its answer does not count them).
        self.unmeasured = 0
        self.max_redeliveries: int = settings["max_redeliveries"] if "max_redeliveries" in settings else 6
        dead_letter = settings["dead_letter"] if "dead_letter" in settings else None
        self.dead_letter: bytes | None = dead_letter.encode() if dead_letter else None
        #: ``expiry`` (seconds; 0 = none), and messages found expired when read.
        self.ttl: float = settings["expiry"] if "expiry" in settings else 0.0
        self.expired = 0
        self.acked = 0
        self.nacked = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.claimed = 0
        self.read_count = 0
        #: SENDs accepted while the backplane was away (``hold``), or whose append failed,
        #: with the RECEIPT each one's producer waits for (None: it asked for none).
        self.unsent: list[tuple[bytes, float, DeferredReceipt | None]] = []
        self.held_producers: dict[Session, None] = {}
        #: Entries no node has read yet, at the last stats collection (XINFO GROUPS).
        self.lag = 0
        self._settling: list[bytes] = []
        self._sweep: asyncio.TimerHandle | None = None
        self._touch: asyncio.TimerHandle | None = None
        #: ``when_full = "pause"``: producers held while the stream holds max_messages, and the
        #: timer that reads its length again while any is held (none otherwise).
        self.pause_when_full = "when_full" in settings and settings["when_full"] == "pause"
        self.paused: dict[Session, None] = {}
        self._poll: asyncio.TimerHandle | None = None
        if not remote:
            options.queues[name] = self
            if self.streams.available:
                self.streams.open(self.key)

    # -- publishing -------------------------------------------------------------------------

    def publish(self, message: Message, sender: Session | None) -> None:
        streams = self.streams
        if not streams.available:
            self._unavailable(message, sender)
            return
        full = self.length >= self.max_messages and not self.remote
        if full and not self._may_pause(sender):
            self._measure()  # it may have room again by the next SEND
            raise DestinationFull(
                f"{self.name.decode('utf-8', 'replace')} already holds max_messages ({self.max_messages}) messages"
            )
        headers = message.headers
        expires = 0.0
        if self.ttl or EXPIRES in headers or EXPIRATION in headers:
            expires = deadline(headers, self.ttl, time.time())  # ERROR for a bad value, before anything changed
        payload = encode_entry(headers, message.body)
        self.enqueued += 1
        # A SEND with a receipt gets it once Redis has the entry (None, and no cost, without).
        done = sender.defer_receipt() if sender is not None else None
        streams.append(self.key, payload, partial(self._appended, payload, expires, done), create=not self.remote,
                       expires=expires)
        if not self.remote:
            self.length += 1
            if self.measuring:
                self.unmeasured += 1
            else:
                self._measure()
            if full:
                assert sender is not None
                self._pause(sender)

    def _appended(self, payload: bytes, expires: float, done: DeferredReceipt | None, result: object) -> None:
        if result is None:
            self.dropped += 1  # another node's temporary queue that is gone (NOMKSTREAM): no ERROR for a reply
        elif isinstance(result, ConnectionError):
            if done is not None and not self.options.hold:
                # when_unavailable = "error": the producer waiting for its RECEIPT learns now.
                # Not kept: it was told the message may not have been accepted.
                done(ClusterUnavailable(
                    f"{self.name.decode('utf-8', 'replace')}: the connection to the cluster's Redis broke before "
                    "it confirmed the message, which may not have been accepted"
                ))
                return
            self.unsent.append((payload, expires, done))  # sent again when the backplane is back (at least once)
            return
        elif isinstance(result, Exception):
            self.dropped += 1
            log.warning("cluster: %s: a SEND was refused by Redis: %s", self.name.decode("utf-8", "replace"), result)
            if done is not None:
                done(ClusterRefused(
                    f"{self.name.decode('utf-8', 'replace')}: Redis refused the message: {str(result)[:200]}"
                ))
            return
        if done is not None:
            done()

    # -- when_full = "pause" ----------------------------------------------------------------

    def _may_pause(self, sender: Session | None) -> bool:
        """A full queue holds this producer rather than refusing its SEND (as on one node, a
        producer holding unacknowledged messages is refused: its ACKs would wait too)."""
        return (
            self.pause_when_full and sender is not None and sender.connected and not holds_unacked(sender)
        )

    def _pause(self, sender: Session) -> None:
        """This SEND was accepted (one over, as on one node); the producer's next frames wait
        until the stream is below max_messages: learnt from this node's ACKs, and from XLEN
        every FULL_POLL while anyone is held (others' consumers drain it without telling us)."""
        self.paused[sender] = None
        sender.hold((self, FULL))
        self._arm_poll()

    def _arm_poll(self) -> None:
        loop = self.context.loop
        if self._poll is None and loop is not None and self.paused:
            self._poll = loop.call_later(FULL_POLL, self._poll_length)

    def _poll_length(self) -> None:
        self._poll = None
        for session in [session for session in self.paused if not session.connected]:
            del self.paused[session]  # gone while held
        if self.paused and not self.closed:
            if self.streams.available:
                self._measure()
            self._arm_poll()

    def _room_again(self) -> None:
        """Release the held producers once the stream is below max_messages."""
        if self.paused and self.length < self.max_messages:
            self._release_paused()

    def _release_paused(self) -> None:
        paused, self.paused = self.paused, {}
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        for session in paused:
            self.context.call_soon(partial(session.release, (self, FULL)))

    def _measure(self) -> None:
        if not self.measuring:
            self.measuring = True
            self.unmeasured = 0
            self.streams.length(self.key, self._measured)

    def _measured(self, result: object) -> None:
        self.measuring = False
        if isinstance(result, int):
            self.length = result + self.unmeasured  # Redis answered before it saw those
            self._room_again()

    def _unavailable(self, message: Message, sender: Session | None) -> None:
        if self.options.hold and sender is not None and sender.connected:
            headers = message.headers
            expires = 0.0
            if self.ttl or EXPIRES in headers or EXPIRATION in headers:
                expires = deadline(headers, self.ttl, time.time())
            self.unsent.append((encode_entry(headers, message.body), expires, sender.defer_receipt()))
            self.enqueued += 1
            self.held_producers[sender] = None
            sender.hold(self)
            return
        raise ClusterUnavailable(
            f"{self.name.decode('utf-8', 'replace')}: the cluster's Redis is unreachable; the message was not accepted"
        )

    def room(self, sender: Session) -> int | None:
        if not self.streams.available and self.options.hold:
            return None
        if self._may_pause(sender):
            return None  # a COMMIT is accepted, its producer held if the stream is full
        return max(self.max_messages - self.length, 0) if not self.remote else None

    # -- reading ----------------------------------------------------------------------------

    def _wanted(self) -> int:
        room = 0
        for consumer in self.consumers:
            room += consumer.room()
        return min(room, MAX_READ) - len(self.ready) - self.reading

    def _pump(self, starved: bool = False) -> None:
        """Deliver what was read while consumers have room, then read (or, ``starved``: wait for)
        what they still have room for."""
        ready = self.ready
        now = 0.0
        while ready:
            entry = ready[0]
            if entry.expires:
                now = now or time.time()
                if entry.expires <= now:
                    ready.popleft()
                    self._expire(entry)
                    continue
            if not self._give(entry):
                break
            ready.popleft()
        if not self.consumers:
            if self.waiting:
                self.waiting = False
                self.streams.unwait(self.key)
            if ready:
                self._give_back()
            return
        wanted = self._wanted()
        if wanted <= 0:
            if self.waiting:
                self.waiting = False
                self.streams.unwait(self.key)
            return
        if self.reading or self.waiting or not self.streams.available or self.closed:
            return
        if starved:
            self.waiting = True
            self.streams.wait(self.key, self._woken)
            # Entering the wait, look once for what other nodes hold (the sweep goes on while
            # they hold some): a node that dies holding them is then noticed even if no new
            # message ever wakes this one.
            self._arm_sweep()
            return
        self.reading = wanted
        self.streams.read(self.key, wanted, self._read)

    def _read(self, result: object) -> None:
        asked, self.reading = self.reading, 0
        if isinstance(result, Exception):
            if not isinstance(result, ConnectionError):
                log.warning("cluster: reading %s failed: %s", self.name.decode("utf-8", "replace"), result)
                if "NOGROUP" in str(result):
                    # The stream or its group went away (Redis restarted empty, FLUSHALL...):
                    # recreate it, then read again.
                    self.streams.open(self.key, self._reopened)
            return
        entries: list[Entry] = result  # type: ignore[assignment]
        self._arrived(entries)
        # Fewer than asked: the stream has nothing more for now, so what the consumers still
        # have room for is waited for (the node's blocking read), not read again at once.
        self._pump(starved=len(entries) < asked)

    def _reopened(self, result: object) -> None:
        if not isinstance(result, Exception) or "BUSYGROUP" in str(result):
            self._pump()

    def _woken(self, result: object) -> None:
        self.waiting = False
        if isinstance(result, Exception):
            return
        self.options.wakeups += 1
        self._arrived(result)  # type: ignore[arg-type]
        self._pump()

    def _arrived(self, entries: list[Entry], claimed: bool = False) -> None:
        if not entries:
            return
        if self.closed:
            for entry in entries:
                self.streams.requeue(self.key, entry, entry.deliveries)
            return
        self.ready.extend(entries)
        if claimed:
            self.claimed += len(entries)
            self.options.claims += len(entries)
        else:
            self.read_count += len(entries)
            self.options.reads += len(entries)
        self._arm_touch()
        self._arm_sweep()

    def _give_back(self) -> None:
        """Entries read for consumers that left: back to the log, delivery count unchanged."""
        ready, self.ready = self.ready, deque()
        for entry in ready:
            self.streams.requeue(self.key, entry, entry.deliveries)

    # -- delivering -------------------------------------------------------------------------

    def _give(self, entry: Entry) -> bool:
        consumers = self.consumers
        count = len(consumers)
        start = self.cursor
        for step in range(count):
            index = start + step
            if index >= count:
                index -= count
            consumer = consumers[index]
            if consumer.room() <= 0:
                continue
            self.cursor = index + 1
            self._deliver(consumer, entry)
            return True
        return False

    def _deliver(self, consumer: ClusterConsumer, entry: Entry) -> None:
        message = entry.message
        if message is None:
            headers, body = decode_entry(entry.data)
            message = entry.message = Message(self.context.next_message_id(), self.name, headers, body)
        assert isinstance(message, Message)
        if entry.deliveries:
            consumer.subscription.deliver(message, b"redelivered:true\nx-delivery-count:%d\n" % entry.deliveries)
            self.redelivered += 1
        else:
            consumer.subscription.deliver(message, b"redelivered:false\n")
        self.delivered += 1
        if consumer.auto:
            self._settle(entry)  # final on write: RabbitMQ's auto ack
        else:
            consumer.unacked[message.id] = entry

    def _settle(self, entry: Entry) -> None:
        settling = self._settling
        settling.append(entry.entry_id)
        if len(settling) == 1:
            self.context.call_soon(self._flush_settles)  # one XACK and one XDEL per loop pass

    def _flush_settles(self) -> None:
        settling, self._settling = self._settling, []
        if settling:
            self.streams.settle(self.key, settling)
            self.length = max(self.length - len(settling), 0)
            self._room_again()

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        shown = self.name.decode("utf-8", "replace")
        if self.remote or (self.owner is not None and subscription.session is not self.owner):
            raise FrameRejected(f"{shown} is a temporary queue of another connection: only its owner may subscribe")
        if subscription.filter is not None:
            raise FrameRejected(
                f"{shown} is a clustered queue: selectors and filters are not supported on it "
                "(a node reads only what its consumers take; filter with a topic or separate queues)"
            )
        browse = headers.get(b"browser")
        if browse is not None and browse.lower() == b"true":
            raise FrameRejected(f"{shown} is a clustered queue: browsing (browser:true) is not supported on it")
        window = prefetch_window(headers, self.settings["prefetch"] if "prefetch" in self.settings else 1000)
        super().subscribe(subscription, headers)
        consumer = ClusterConsumer(subscription, window)
        subscription.state = consumer
        self.consumers = self.consumers + [consumer]

    def started(self, subscription: Subscription) -> None:
        self._pump()
        self._arm_sweep()

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        consumer = subscription.state
        if not isinstance(consumer, ClusterConsumer) or consumer not in self.consumers:
            return
        subscription.state = None
        index = self.consumers.index(consumer)
        self.consumers = self.consumers[:index] + self.consumers[index + 1 :]
        if index < self.cursor:
            self.cursor -= 1
        unacked = list(consumer.unacked.values())
        consumer.unacked.clear()
        for entry in unacked:
            self._return(entry, b"delivery-failed")
        if not self.closed:
            self._pump()

    def writable(self, subscription: Subscription) -> None:
        self._pump()

    # -- acknowledgements -------------------------------------------------------------------

    def _taken(self, subscription: Subscription, message_id: int, verb: str) -> list[Entry]:
        consumer = subscription.state
        if not isinstance(consumer, ClusterConsumer) or consumer.auto:
            return []
        settled = consumer.take(message_id)
        if not settled:
            raise not_awaiting(verb, message_id, subscription)
        return settled

    def ack(self, subscription: Subscription, message_id: int) -> None:
        settled = self._taken(subscription, message_id, "ACK")
        for entry in settled:
            self._settle(entry)
        self.acked += len(settled)
        if settled:
            self._pump()

    def nack(self, subscription: Subscription, message_id: int, headers: Mapping[bytes, bytes]) -> None:
        settled = self._taken(subscription, message_id, "NACK")
        self.nacked += len(settled)
        reject = headers.get(b"requeue", b"").lower() == b"false"
        for entry in settled:
            if reject:
                self._dead_letter(entry, b"rejected")
            else:
                self._return(entry, b"rejected")
        if settled:
            self._pump()

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        consumer = subscription.state
        return isinstance(consumer, ClusterConsumer) and message_id in consumer.unacked

    def _return(self, entry: Entry, reason: bytes) -> None:
        """A delivered entry goes back for any node's consumers, or to dead letters past max_redeliveries."""
        deliveries = entry.deliveries + 1
        if deliveries > self.max_redeliveries:
            self._dead_letter(entry, reason)
        else:
            self.streams.requeue(self.key, entry, deliveries)

    def _expire(self, entry: Entry) -> None:
        """An entry read after its deadline: never delivered, dead-lettered (reason ``expired``)."""
        self.expired += 1
        self._dead_letter(entry, b"expired", delivered=False)

    def _dead_letter(self, entry: Entry, reason: bytes, delivered: bool = True) -> None:
        self.dead_lettered += 1
        self.options.dead_lettered += 1
        if delivered:
            entry.deliveries += 1  # the dead letter records how often it was delivered, this time included
        target = self.dead_letter
        if target is None or target == self.name:
            # No dead_letter destination: the cluster's dead-letter stream for this queue.
            self.streams.dead_letter(
                self.key, entry, self.streams.dead_key(self.name), reason, max(self.max_messages, 1000)
            )
            return
        headers, body = decode_entry(entry.data)
        headers.pop(EXPIRES, None)  # a dead letter does not expire (as on one node)
        headers.pop(EXPIRATION, None)
        headers[ORIGINAL_DESTINATION] = self.name
        headers[DEAD_LETTER_REASON] = reason
        try:
            self.context.publish(target, headers, body)
        except XtompError as error:
            self.dropped += 1
            log.warning("cluster: %s: dead letter to %s lost: %s", self.name.decode("utf-8", "replace"),
                        target.decode("utf-8", "replace"), error)
        self._settle(entry)

    # -- keeping held entries, claiming a dead node's -----------------------------------------

    def held_ids(self) -> list[bytes]:
        ids = [entry.entry_id for entry in self.ready]
        for consumer in self.consumers:
            ids.extend(entry.entry_id for entry in consumer.unacked.values())
        return ids

    def _arm_touch(self) -> None:
        loop = self.context.loop
        if self._touch is None and loop is not None:
            self._touch = loop.call_later(self.options.claim_after / 3, self._touch_held)

    def _touch_held(self) -> None:
        self._touch = None
        ids = self.held_ids()
        if ids and not self.closed:
            if self.streams.available:
                self.streams.touch(self.key, ids)
            self._arm_touch()

    def _arm_sweep(self) -> None:
        loop = self.context.loop
        if self._sweep is None and loop is not None and self.consumers and not self.remote:
            self._sweep = loop.call_later(self.options.claim_after / 2, self._sweep_idle)

    def _sweep_idle(self) -> None:
        self._sweep = None
        if not self.consumers or self.closed or not self.streams.available:
            return  # armed again by the next consumer, or when the backplane is back
        wanted = self._wanted()
        if wanted > 0:
            self.streams.claim(self.key, self.options.claim_after, wanted, self._claimed)
        self.streams.pending(self.key, self._pending)

    def _claimed(self, result: object) -> None:
        if isinstance(result, Exception):
            return
        entries: list[Entry] = result  # type: ignore[assignment]
        if entries:
            log.info("cluster: %s: claimed %d idle messages (a node died?)", self.name.decode("utf-8", "replace"),
                     len(entries))
        self._arrived(entries, claimed=True)
        self._pump()

    def _pending(self, result: object) -> None:
        if isinstance(result, Exception):
            return
        total: int
        mine: int
        total, mine = result  # type: ignore[misc]
        if total > mine or mine > len(self.held_ids()):
            self._arm_sweep()  # someone else's (or a previous run's) entries may go idle: keep looking

    # -- the backplane came back --------------------------------------------------------------

    def restore(self) -> None:
        streams = self.streams
        if self.closed:
            return
        streams.open(self.key)
        unsent, self.unsent = self.unsent, []
        for payload, expires, done in unsent:
            streams.append(self.key, payload, partial(self._appended, payload, expires, done),
                           create=not self.remote, expires=expires)
        held, self.held_producers = self.held_producers, {}
        for session in held:
            self.context.call_soon(partial(session.release, self))
        self.waiting = False
        self.reading = 0
        self._pump()
        self._arm_sweep()

    # -- lifecycle and figures ----------------------------------------------------------------

    def hand_back(self) -> None:
        """The node stops: what was read and not delivered goes back, settlements go out now."""
        if self.ready and self.owner is None and self.streams.available:
            self._give_back()
        self._flush_settles()

    def measure_lag(self) -> None:
        """Ask the backplane for the lag (the answer shows in the next figures): stats time only."""
        if not self.remote and not self.closed and self.streams.available:
            self.streams.lag(self.key, self._lag)

    def _lag(self, result: object) -> None:
        if isinstance(result, int):
            self.lag = result

    @property
    def depth(self) -> int:
        return len(self.ready)

    @property
    def in_flight(self) -> int:
        return sum(len(consumer.unacked) for consumer in self.consumers)

    def close(self) -> None:
        super().close()
        for handle in (self._sweep, self._touch):
            if handle is not None:
                handle.cancel()
        self._sweep = self._touch = None
        self._release_paused()
        if self.waiting:
            self.waiting = False
            self.streams.unwait(self.key)
        if self.options.queues.get(self.name) is self:
            del self.options.queues[self.name]
        if self.owner is not None:
            self.streams.drop(self.key)  # a temporary queue goes with its connection
        elif self.ready and self.streams.available:
            self._give_back()
        self._flush_settles()
        held, self.held_producers = self.held_producers, {}
        for session in held:
            self.context.call_soon(partial(session.release, self))

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures.update(
            clustered=True,
            stream_length=self.length,
            lag=self.lag,
            in_flight=self.in_flight,
            acked=self.acked,
            nacked=self.nacked,
            redelivered=self.redelivered,
            dead_lettered=self.dead_lettered,
            expired=self.expired,
            read=self.read_count,
            claimed=self.claimed,
            consumers=len(self.consumers),
        )
        return figures


#: With the queue, the holder of producers held by a full queue (``self`` holds for an outage).
FULL = "full"

