"""Clustered topics: a SEND is published once to Redis; each node fans out to its own subscribers.

Theory of operation
-------------------
The cluster wraps the topics plugin's ``topic`` factory (``Registrar.wrap``): every topic
and wildcard pattern it builds is *adopted*, its class swapped for a subclass of it that
adds the cluster's part around the topics plugin's own methods (no proxy, no copy: the
object, its slots and everything the topics plugin keeps about it stay what they were, and
what a publish costs on top is one encode and one append to the next pipeline).

* **Channels.** A topic ``NAME`` is the Redis channel ``{channel_prefix}t:NAME``. A node is
  subscribed to it only while the topic has an interest on this node: a local subscriber,
  a durable subscription (attached or away) or retention (``retain`` other than ``none``,
  so that what it retains stays current). The first interest subscribes, the last leaving
  unsubscribes. A SUBSCRIBE with a ``receipt`` whose channel is new gets its RECEIPT once
  Redis confirmed the SUBSCRIBE (``Session.defer_receipt``), so that what any node publishes
  after the RECEIPT reaches it; a channel already subscribed: at once.
* **Wildcards.** A pattern (``/topic/a.*``, ``a.#``, ``a.>``) with local subscribers makes
  the node PSUBSCRIBE to a glob that covers it: the channel prefix, the rule's prefix and
  the pattern's words up to its first wildcard word, then ``*`` (``xtomp:t:/topic/a*``).
  The glob may match more than the pattern (``*`` also matches dots); what it lets through is
  delivered to the concrete topic on this node, whose wildcard trie gives each message only
  to the patterns that really match, exactly as for a local SEND. Patterns sharing a glob
  share one PSUBSCRIBE.
* **Publishing.** ``publish`` sends the message's MESSAGE encoding (``Message.encoded_rest``,
  made once for local subscribers anyway) behind this node's id, its run number and a sequence
  number (codec.py), and queues one PUBLISH for the next pipeline. With
  ``topic_delivery = "local-first"`` (the default) the local subscribers get the message at
  once, as without a cluster, and the node skips its own echo; with ``"backplane"`` they get
  it from the echo, like every other node's subscribers (one order everywhere), unless
  Redis is down (then at once: local-only).
* **Receiving.** A message from another node (or the own echo in ``backplane`` mode) becomes
  a local Message with this node's message id (``Message.from_encoded_rest``: its headers
  decoded, the carried bytes kept as its subscribers' frames) and is delivered through the
  topics plugin's own ``publish`` of the local topic of that name (made by the prefix rules
  if it does not exist yet: a pattern may be its only interest).
  A node subscribed to a channel and to a glob matching it gets a PUBLISH twice, one copy
  right after the other: the (origin, run, sequence) of the last message seen per origin
  drops the second.
* **Redis down.** Publishing is local-only (``published_local_only_total``); the backplane
  restores every channel and glob when it is back. What was published meanwhile is not
  replayed: topics are at most once across an outage, as Redis pub/sub is.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, Message, StashKey, XtompError
from xtomp_topics import Pattern, Topic

from .codec import decode, encode, own_prefix

if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Section, Session, Subscription

    from .backplane import Backplane

__all__ = ["LOCAL_FIRST", "BACKPLANE_ORDER", "ClusterTopics", "TOPICS", "wrap_topic"]

log = logging.getLogger("xtomp.cluster")

LOCAL_FIRST, BACKPLANE_ORDER = "local-first", "backplane"
#: Characters special in a Redis glob: escaped in the literal part of a pattern's glob.
_GLOB_SPECIAL = {ord(c): "\\" + c for c in "*?[]\\"}


def _glob_escape(text: bytes) -> bytes:
    return text.decode("latin-1").translate(_GLOB_SPECIAL).encode("latin-1")


class ClusterTopics:
    """The cluster's side of every topic of one broker (in its stash, under :data:`TOPICS`)."""

    def __init__(self, backplane: Backplane, channel_prefix: str, delivery: str) -> None:
        self.backplane = backplane
        self.prefix = channel_prefix.encode("utf-8") + b"t:"
        self.local_first = delivery == LOCAL_FIRST
        self.origin = backplane.node.encode("utf-8")
        self.run = int.from_bytes(os.urandom(8), "big")
        self.seq = 0
        self.context: DestinationContext | None = None
        self._classes: dict[type[Topic], type] = {}
        #: Topic names with an interest on this node (their channel is subscribed).
        self.interested: set[bytes] = set()
        #: Glob -> the patterns with local subscribers it stands for.
        self.globs: dict[bytes, set[bytes]] = {}
        #: Channel -> the local topic its messages go to (the topics closing leave it).
        self._targets: dict[bytes, Topic] = {}
        #: (origin, run) -> the last sequence number delivered from it (kept while a glob is subscribed).
        self.last_seen: dict[tuple[bytes, int], int] = {}
        # Figures.
        self.sent = 0
        self.local_only = 0
        self.received = 0
        self.duplicates = 0
        self.undeliverable = 0
        self.bad = 0
        self.lag = 0.0
        self.lag_max = 0.0
        self._on_message: Callable[[bytes, bytes], None] = self.received_message
        self._own = own_prefix(self.origin, self.run)
        backplane.skip_own(self._own if self.local_first else None)

    def started(self) -> None:
        """The broker starts: take the backplane's node id (a worker's own) and a run of this
        process. A worker forked from the master, or forked again after one died, would
        otherwise share the origin and run of the others: its messages would be taken for
        their echoes or duplicates and dropped."""
        self.origin = self.backplane.node.encode("utf-8")
        self.run = int.from_bytes(os.urandom(8), "big")
        self.seq = 0
        self._own = own_prefix(self.origin, self.run)
        self.backplane.skip_own(self._own if self.local_first else None)

    # -- adoption -------------------------------------------------------------------------------

    def adopt(self, destination: Destination) -> Destination:
        """Make a topic or pattern the topics plugin built a clustered one (its class swapped
        for a subclass with ``__slots__ = ()``, so the object itself is unchanged)."""
        if self.context is None:
            self.context = destination.context
        if not isinstance(destination, Topic):
            return destination  # something else under the type's name: left alone
        base = type(destination)
        cls = self._classes.get(base)
        if cls is None:
            cls = self._classes[base] = _clustered_class(base, self)
        destination.__class__ = cls
        if self.interest(destination):
            self.update(destination)  # a retaining topic listens from its creation
        return destination

    def channel(self, name: bytes) -> bytes:
        return self.prefix + name

    def glob(self, pattern: Pattern) -> bytes:
        literal: list[bytes] = []
        for word in pattern.words:
            if word in (b"*", b"#", b">"):
                break
            literal.append(word)
        return self.prefix + _glob_escape(pattern.prefix + b".".join(literal)) + b"*"

    @staticmethod
    def interest(destination: Destination) -> bool:
        if isinstance(destination, Pattern):
            return destination.subscriber_count > 0
        assert isinstance(destination, Topic)
        return destination.subscriber_count > 0 or bool(destination.durables) or destination.retain_mode != "none"

    def update(self, destination: Destination, gone: bool = False) -> None:
        """(Un)subscribe the destination's channel or glob when its interest changed."""
        wanted = not gone and self.interest(destination)
        name = destination.name
        if isinstance(destination, Pattern):
            glob = self.glob(destination)
            members = self.globs.get(glob)
            if wanted:
                if members is None:
                    members = self.globs[glob] = set()
                    self.backplane.psubscribe(glob, self._on_message)
                members.add(name)
            elif members is not None and name in members:
                members.discard(name)
                if not members:
                    del self.globs[glob]
                    self.backplane.punsubscribe(glob)
            return
        if wanted:
            if name not in self.interested:
                self.interested.add(name)
                self.backplane.subscribe(self.prefix + name, self._on_message)
        elif name in self.interested:
            self.interested.discard(name)
            self.backplane.unsubscribe(self.prefix + name)

    def confirm(self, destination: Destination, done: Callable[[], None]) -> None:
        """A SUBSCRIBE's RECEIPT: once Redis confirmed the node listens on the topic's channel
        (or the pattern's glob), so that every message published after the RECEIPT, on any
        node, reaches the subscriber. At once when it already listened (or Redis is down:
        local-only)."""
        if isinstance(destination, Pattern):
            self.backplane.psubscribed(self.glob(destination), done)
        else:
            self.backplane.subscribed(self.prefix + destination.name, done)

    # -- the hot path ---------------------------------------------------------------------------

    def send(self, destination: Topic, message: Message) -> bool:
        """Publish a local SEND to the cluster; True when local subscribers get it now."""
        backplane = self.backplane
        if not backplane.up:
            self.local_only += 1
            return True
        self.seq += 1
        self.sent += 1
        backplane.publish(
            self.prefix + destination.name,
            # The send time on the messages the receivers' lag figure samples (one in 16).
            encode(self._own, self.seq, 0.0 if self.seq & 15 else time.time(), message),
        )
        return self.local_first

    def received_message(self, channel: bytes, payload: bytes) -> None:
        """A message from the backplane (any node's, the own echo included)."""
        # With local-first delivery the backplane drops the own echo before this (skip_own);
        # with backplane delivery it comes here like any other node's message.
        own = not self.local_first and payload.startswith(self._own)
        try:
            origin, run, seq, when, rest = decode(payload)
        except (ValueError, IndexError, struct.error) as error:
            self._undecodable(channel, error)
            return
        if self.globs:
            # Only a glob can bring a second copy (Redis sends the channel's copy first, then
            # each glob's; a glob given up is no longer delivered: see _on_push), so without
            # one the per-origin bookkeeping is skipped.
            key = (origin, run)
            if seq <= self.last_seen.get(key, 0):
                self.duplicates += 1  # the same PUBLISH through a channel and a glob
                return
            self.last_seen[key] = seq
        self.received += 1
        if not seq & 15:  # the lag of one message in 16 of each origin: a figure, not per-message work
            lag = time.time() - when
            self.lag = lag
            if lag > self.lag_max:
                self.lag_max = lag
        destination = self._targets.get(channel)
        if destination is None or destination.closed:
            destination = self._target(channel)
            if destination is None:
                return
        message_id = destination.context.next_message_id()
        if isinstance(rest, bytes):
            try:
                message = Message.from_encoded_rest(message_id, destination.name, rest)
            except ValueError as error:
                self._undecodable(channel, error)
                return
        else:
            headers, body = rest  # a version 1 message (a node not upgraded yet)
            message = Message(message_id, destination.name, headers, body)
        Topic.publish(destination, message, None)
        if own:
            destination.enqueued -= 1  # the own echo (backplane delivery): counted when it was sent

    def _undecodable(self, channel: bytes, error: Exception) -> None:
        self.bad += 1
        log.warning("cluster: an undecodable message on %r (%s) was dropped", channel[:80], error)

    def _target(self, channel: bytes) -> Topic | None:
        """The local topic a channel's messages go to (remembered for the next ones)."""
        context = self.context
        if context is None:
            return None
        name = channel[len(self.prefix):]
        destination = context.get(name)
        if destination is None:
            try:
                destination = context.destination(name)  # a pattern's topic not used here yet
            except XtompError:
                self.undeliverable += 1
                return None
        if not isinstance(destination, Topic) or isinstance(destination, Pattern):
            self.undeliverable += 1
            return None
        self._targets[channel] = destination
        return destination

    def forget(self, destination: Topic) -> None:
        """A topic is closed: its channel no longer goes to it."""
        self._targets.pop(self.prefix + destination.name, None)

    def stats(self) -> dict[str, Any]:
        return {
            "published_total": self.sent,
            "published_local_only_total": self.local_only,
            "received_total": self.received,
            "echoes_skipped_total": self.backplane.echoes,
            "duplicates_skipped_total": self.duplicates,
            "undeliverable_total": self.undeliverable,
            "undecodable_total": self.bad,
            "channels": len(self.interested),
            "globs": len(self.globs),
            "lag_ms": round(self.lag * 1000, 3),
            "lag_max_ms": round(self.lag_max * 1000, 3),
        }


#: The broker's clustered topics (made by the plugin's ``xtomp_configure``).
TOPICS = StashKey[ClusterTopics]("cluster topics")


def _clustered_class(base: type[Topic], cluster: ClusterTopics) -> type:
    """A subclass of a topics plugin class adding the cluster's part around its methods."""
    publish_locally = base.publish
    subscribe_locally = base.subscribe
    unsubscribe_locally = base.unsubscribe
    close_locally = base.close
    is_pattern = issubclass(base, Pattern)

    def publish(self: Topic, message: Message, sender: Session | None) -> None:
        if cluster.send(self, message):
            publish_locally(self, message, sender)
        else:
            self.enqueued += 1  # delivered from the echo, counted here as the SEND it was

    def subscribe(self: Topic, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        subscribe_locally(self, subscription, headers)
        cluster.update(self)
        done = subscription.session.defer_receipt()
        if done is not None:
            cluster.confirm(self, done)

    def unsubscribe(self: Topic, subscription: Subscription) -> None:
        unsubscribe_locally(self, subscription)
        cluster.update(self)

    def close(self: Topic) -> None:
        cluster.update(self, gone=True)
        cluster.forget(self)
        close_locally(self)

    namespace: dict[str, Any] = {
        "__slots__": (), "__module__": __name__, "subscribe": subscribe, "unsubscribe": unsubscribe, "close": close,
    }
    if not is_pattern:  # a pattern refuses SENDs itself
        namespace["publish"] = publish
    return type(f"Clustered{base.__name__}", (base,), namespace)


def wrap_topic(inner: Callable[..., Destination]) -> Callable[..., Destination]:
    """Wraps the topics plugin's ``topic`` factory (see ``Registrar.wrap``)."""

    def clustered_topic(name: bytes, settings: Section, context: DestinationContext) -> Destination:
        destination = inner(name, settings, context)
        topics = context.stash.get(TOPICS)
        return topics.adopt(destination) if topics is not None else destination

    return clustered_topic
