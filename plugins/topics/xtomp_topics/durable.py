"""Durable topic subscriptions, in memory (see the topic module doc, "Durable subscriptions").

A durable subscription is named: RabbitMQ's ``durable:true`` (or ``persistent:true``) without
``auto-delete:true`` names it by its subscription ``id``; ActiveMQ's ``activemq.subscriptionName``
by the connection's ``client-id`` and that name. The broker keeps one :class:`DurableBacklog`
per (topic name, durable name) in ``context.stash`` (:data:`DURABLES`): the messages published
to the topic that its filter matches while none of its subscribers can take them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

from xtomp_core import FrameRejected, StashKey

if TYPE_CHECKING:
    from xtomp_core import Filter, Message, Session, Subscription

__all__ = ["DURABLES", "Durable", "DurableBacklog", "Durables", "durable_name", "removes_durable"]

#: The name a backlog is kept under within its topic: ("id", subscription id) for RabbitMQ's
#: durable:true, (client-id, subscriptionName) for ActiveMQ's.
DurableName = tuple[bytes, bytes]

#: Added to a message given again after a subscriber left without acknowledging it.
REDELIVERED = b"redelivered:true\n"


def _true(value: bytes | None) -> bool:
    return value is not None and value.lower() == b"true"


def durable_name(name: bytes, headers: Mapping[bytes, bytes], session: Session) -> DurableName | None:
    """The durable name a SUBSCRIBE asks for, or None (an ordinary subscription). A SUBSCRIBE
    without the durable headers pays three dict lookups."""
    named = headers.get(b"activemq.subscriptionName")
    if named is not None:
        client_id = session.client_id
        if not client_id:
            raise FrameRejected(
                "a durable subscription (activemq.subscriptionName) needs a client-id header on CONNECT "
                f"(on {name[:80].decode('utf-8', 'replace')})"
            )
        return (client_id, named)
    durable = headers.get(b"durable")
    if durable is None:
        durable = headers.get(b"persistent")
        if durable is None:
            return None
    if not _true(durable) or _true(headers.get(b"auto-delete")):
        return None
    return (b"id", headers.get(b"id", b""))


def removes_durable(headers: Mapping[bytes, bytes] | None) -> bool:
    """An UNSUBSCRIBE that removes its durable subscription (not only leaves it)."""
    if headers is None:
        return False
    return b"activemq.subscriptionName" in headers or _true(headers.get(b"durable")) or _true(
        headers.get(b"persistent")
    )


class DurableBacklog:
    """One durable subscription: what waits for it (``messages``: (message, redelivered), in
    order), its filter, and the subscriptions attached to it now (round-robin in ``turn``)."""

    __slots__ = ("topic_name", "name", "messages", "filter", "attached", "turn")

    def __init__(self, topic_name: bytes, name: DurableName) -> None:
        self.topic_name = topic_name
        self.name = name
        self.messages: deque[tuple[Message, bool]] = deque()
        self.filter: Filter | None = None
        self.attached: list[Subscription] = []
        self.turn = 0

    @property
    def held_bytes(self) -> int:
        return sum(len(message.body) for message, _ in self.messages)

    def __repr__(self) -> str:
        return f"DurableBacklog({self.topic_name!r}, {self.name!r}, waiting={len(self.messages)}, attached={len(self.attached)})"


class Durable:
    """The ``state`` of a subscription attached to a durable backlog: in client ack modes its
    unacknowledged deliveries (returned to the backlog when it leaves), and its prefetch window
    (``limit``, 0: none)."""

    __slots__ = ("backlog", "limit", "unacked", "gone")

    def __init__(self, backlog: DurableBacklog, limit: int) -> None:
        self.backlog = backlog
        self.limit = limit
        self.unacked: dict[int, Message] = {}
        self.gone = False

    def __repr__(self) -> str:
        return f"Durable({self.backlog!r}, limit={self.limit}, unacked={len(self.unacked)})"


class Durables:
    """The broker's durable subscriptions: (topic name, durable name) → backlog, at most ``limit``."""

    __slots__ = ("backlogs", "limit")

    def __init__(self) -> None:
        self.backlogs: dict[tuple[bytes, DurableName], DurableBacklog] = {}
        self.limit = 10_000


DURABLES = StashKey[Durables]("topics.durables")
