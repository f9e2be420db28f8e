"""Wildcard subscriptions on topics: ``/topic/a.*``, ``/topic/a.#``, ``/topic/a.>``.

Theory of operation
-------------------
A topic name made by a prefix rule (``[destinations."/topic/*"]``) whose settings have
``wildcards = true`` (the default) and in which, after the rule's prefix, a word (the text
between dots) is exactly ``*``, ``#`` or ``>`` is a *pattern*: the ``topic`` factory builds a
:class:`Pattern` for it instead of a :class:`~xtomp_topics.Topic`. A pattern is a
destination like another (it counts against ``max_destinations``, its subscribers against
``max_connections``, it is removed when idle), but it never receives a SEND: publishing to it
is refused with an ERROR. Its subscriptions are what the topics whose names it matches
deliver to.

* ``*`` matches exactly one word; ``#`` zero or more (RabbitMQ's topic exchange, anywhere in
  the pattern); ``>`` one or more, and only as the last word (ActiveMQ's).
* Every pattern of a broker is kept in one trie (:class:`Wildcards`, in the broker's stash),
  under the prefix of the rule that made it, one level per word.
* A concrete topic never walks the trie per message. It memoizes the subscriptions of the
  patterns matching its name (a :class:`~xtomp_core.SubscriberIndex`, so their filters
  work as usual), with the trie's ``generation`` when it did; any pattern or wildcard
  subscription added or removed bumps the generation, and the next publish of each topic
  matches again (one walk: O(words of its name), whatever the number of patterns). With no
  change, a publish pays one integer comparison, plus one loop over the memoized list when
  it is not empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, FrameRejected

from .durable import durable_name
from .topic import Topic
from .trie import GONE, GT, SPECIAL, Wildcards

if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Message, Section, Session, Subscription

__all__ = ["Pattern", "Wildcards", "make_topic", "pattern_words"]

def rule_prefix(settings: Section, name: bytes) -> bytes | None:
    """The prefix of the rule ``settings`` come from (``/topic/`` for ``[destinations."/topic/*"]``),
    None when they are not a prefix rule's (or not one ``name`` starts with)."""
    path = settings.path
    start = 'destinations."'
    if not (path.startswith(start) and path.endswith('*"')):
        return None
    prefix = path[len(start):-2].replace('\\"', '"').replace("\\\\", "\\").encode("utf-8")
    return prefix if name.startswith(prefix) and len(name) > len(prefix) else None


def pattern_words(name: bytes, prefix: bytes) -> list[bytes] | None:
    """The words of a pattern after ``prefix``; None when no word is a wildcard."""
    words = name[len(prefix):].split(b".")
    if not SPECIAL.intersection(words):
        return None
    if GT in words[:-1]:
        raise FrameRejected(
            f"{name[:80].decode('utf-8', 'replace')!r}: \">\" matches the rest of a name and may only be its last word"
        )
    return words


def make_topic(name: bytes, settings: Section, context: DestinationContext) -> Topic:
    """The ``topic`` factory: a :class:`Pattern` for a wildcard name under a prefix rule with
    ``wildcards = true``, else a :class:`Topic`."""
    if (b"*" in name or b"#" in name or b">" in name) and settings["wildcards"]:
        prefix = rule_prefix(settings, name)
        if prefix is not None:
            words = pattern_words(name, prefix)
            if words is not None:
                return Pattern(name, settings, context, prefix, words)
    return Topic(name, settings, context)


class Pattern(Topic):
    """A wildcard name: its subscriptions get the messages of every topic it matches; a SEND
    to it is refused. A Topic so that client-ack subscriptions behave as on a topic (ACK and
    NACK accepted, nothing redelivered); it keeps nothing and has no prefetch windows."""

    __slots__ = ("prefix", "words")

    type_name = "topic"

    def __init__(
        self, name: bytes, settings: Section, context: DestinationContext, prefix: bytes, words: list[bytes]
    ) -> None:
        super().__init__(name, settings, context)
        self.prefix = prefix
        self.words = tuple(words)
        self.wildcards.add(self)

    def publish(self, message: Message, sender: Session | None) -> None:
        raise FrameRejected(self._refusal())

    def room(self, sender: Session) -> int | None:
        raise FrameRejected(self._refusal())  # a transaction's COMMIT: refused before anything is delivered

    def _refusal(self) -> str:
        return (
            f"{self.name[:80].decode('utf-8', 'replace')!r} is a wildcard pattern (a word \"*\", \"#\" or \">\"): "
            "subscribe to it; SEND to a topic name without wildcards"
        )

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        # The base class's (max_connections, then the index), not Topic's: no prefetch window
        # here, a client-ack wildcard subscription is unlimited (a plain topic's without the header).
        if durable_name(self.name, headers, subscription.session) is not None:
            raise FrameRejected(
                f"durable subscriptions to a wildcard pattern are not supported "
                f"({self.name[:80].decode('utf-8', 'replace')}): subscribe durably to each topic, or without "
                "durable:true / activemq.subscriptionName"
            )
        Destination.subscribe(self, subscription, headers)
        self.wildcards.touch()

    def started(self, subscription: Subscription) -> None:
        pass  # retained messages are the concrete topics' (not given to wildcard subscribers)

    def unsubscribe(self, subscription: Subscription) -> None:
        if self.index.remove(subscription):
            subscription.state = GONE
            self.wildcards.touch()
        for topic in self.wildcards.stuck.pop(subscription, {}):
            topic._unstuck(subscription)

    def writable(self, subscription: Subscription) -> None:
        for topic in self.wildcards.stuck.pop(subscription, {}):
            topic._unstuck(subscription)

    @property
    def subscriber_count(self) -> int:
        return self.index.count

    def close(self) -> None:
        self.wildcards.remove(self)
        super().close()

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures["pattern"] = True
        return figures

