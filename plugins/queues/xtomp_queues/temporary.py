"""Temporary queues: ``/temp-queue/NAME`` is a private queue of one connection, for request/reply.

As in RabbitMQ and ActiveMQ: a connection that SENDs with ``reply-to:/temp-queue/NAME``
(or SUBSCRIBEs to it) gets its own queue; the ``reply-to`` header others see names the
queue's real name, ``/reply-queue/<session>.NAME``, which anyone may SEND to but only the
owner may consume. A connection that never subscribed is subscribed on its behalf with the
id ``/temp-queue/NAME`` (RabbitMQ's behaviour, which stomp.py and stomp.js users rely on).
The queue goes away with the connection; a reply sent after that is dropped and counted,
not an error for the replier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, FrameRejected, StashKey

from .queue import Queue

if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Message, Session, Subscription

__all__ = ["TEMP_PREFIX", "REPLY_PREFIX", "MAX_NAME", "TemporaryQueues", "temporaries", "GoneReplyQueue", "temp_queue_name",
           "reply_to_queue"]

TEMP_PREFIX = b"/temp-queue/"
REPLY_PREFIX = b"/reply-queue/"

#: Longest NAME in /temp-queue/NAME.
MAX_NAME = 200


def temp_queue_name(temp_name: bytes) -> bytes:
    """NAME of ``/temp-queue/NAME``, checked (not empty, no ``/``, at most ``MAX_NAME`` bytes)."""
    name = temp_name[len(TEMP_PREFIX):]
    if not name or len(name) > MAX_NAME or b"/" in name:
        shown = temp_name[:80].decode("utf-8", "replace")
        raise FrameRejected(
            f"invalid temporary queue {shown!r}: use /temp-queue/NAME, NAME without '/' and at most {MAX_NAME} bytes"
        )
    return name


def reply_to_queue(session: Session, value: bytes, queue: Destination) -> bytes:
    """What ``reply-to:/temp-queue/NAME`` (``value``) becomes: ``queue``'s real name, the
    sender subscribed to it with the id ``value`` unless already subscribed (RabbitMQ's way)."""
    if not any(subscription.destination is queue for subscription in session.subscriptions.values()):
        if value in session.subscriptions:
            shown = value[:80].decode("utf-8", "replace")
            raise FrameRejected(f"reply-to {shown!r}: subscription id {shown!r} is already used for something else")
        session.subscribe(value, queue, {})
    return queue.name


class GoneReplyQueue(Destination):
    """What a ``/reply-queue/...`` name means once its connection has gone: replies are dropped and counted."""

    __slots__ = ()

    type_name = "queue"

    def publish(self, message: Message, sender: Session | None) -> None:
        self.enqueued += 1
        self.dropped += 1

    def subscribe(self, subscription: Subscription, headers: Any) -> None:
        raise FrameRejected(
            f"{self.name.decode('utf-8', 'replace')} is a temporary queue of another connection: "
            "only its owner may subscribe"
        )


class TemporaryQueues:
    """The temporary queues of one broker, by owning session."""

    __slots__ = ("context", "by_session")

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        self.by_session: dict[Session, dict[bytes, Queue]] = {}

    def queue_for(self, session: Session, temp_name: bytes) -> Queue:
        """The private queue ``/temp-queue/NAME`` of this session, created on first use."""
        name = temp_queue_name(temp_name)
        owned = self.by_session.setdefault(session, {})
        queue = owned.get(name)
        if queue is not None and not queue.closed:
            return queue
        context = self.context
        if len(owned) >= context.limits.max_subscriptions:
            raise FrameRejected(f"this connection already has {len(owned)} temporary queues")
        real = REPLY_PREFIX + session.id + b"." + name
        queue = Queue(real, context.settings_for(temp_name), context)
        queue.owner = session
        context.add(queue)  # replaces a placeholder for a reply sent too early
        owned[name] = queue
        return queue

    def reply_to(self, session: Session, value: bytes) -> bytes | None:
        """Rewrite ``reply-to:/temp-queue/NAME`` to the queue's real name, subscribing the sender if needed."""
        if not value.startswith(TEMP_PREFIX):
            return None
        return reply_to_queue(session, value, self.queue_for(session, value))

    def session_closed(self, session: Session) -> None:
        for queue in self.by_session.pop(session, {}).values():
            self.context.remove(queue)

    def count(self) -> int:
        return sum(len(owned) for owned in self.by_session.values())


_TEMPORARIES = StashKey[TemporaryQueues]("queues.temporaries")


def temporaries(context: DestinationContext) -> TemporaryQueues:
    """The temporary queues of one broker (kept in its stash)."""
    return context.stash.setdefault(_TEMPORARIES, lambda: TemporaryQueues(context))
