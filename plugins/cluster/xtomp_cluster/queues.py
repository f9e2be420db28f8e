"""Clustered queues: the ``queue`` type wrapped so that ``/queue/*`` lives in Redis streams, and
temporary queues whose replies reach their owner's node.

A temporary queue (``/temp-queue/NAME``) is a ClusterQueue only its connection consumes, named
``/reply-queue/<node>.<run>.<session>.NAME`` (node and a random run id make the name unique
in the cluster, across restarts too); a reply
SENT on any node goes to its stream, which exists while the owner is connected (a reply to a
gone queue is dropped and counted, never an error for the replier).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from xtomp_core import FrameRejected, StashKey
from xtomp_queues import REPLY_PREFIX, TEMP_PREFIX, reply_to_queue, temp_queue_name

from .queue import ClusterQueue, QueueOptions

if TYPE_CHECKING:
    from xtomp_core import Destination, DestinationContext, Section, Session

    from .backplane import Backplane

__all__ = [
    "wrap_queue", "wrap_temporary_queue", "wrap_reply_to", "QUEUE_OPTIONS", "queue_options", "resolve_reply_queue",
    "session_closed", "queue_stats", "TEMP_PREFIX", "REPLY_PREFIX", "configure_queues", "start_queues", "stop_queues",
]

log = logging.getLogger("xtomp.cluster")

#: The node's queue options (backplane streams, claim_after...), made by the plugin at configure time.
QUEUE_OPTIONS = StashKey[QueueOptions]("cluster queues")
#: Temporary queues by owning session.
_TEMPORARIES = StashKey["dict[Session, dict[bytes, ClusterQueue]]"]("cluster temporary queues")


def configure_queues(broker: Any, backplane: Backplane, url: str, own: Section) -> None:
    """Make the node's queue options (the streams on the backplane, claim_after, when_unavailable)."""
    from .redis_streams import RedisStreams

    streams = RedisStreams(backplane, url, own["channel_prefix"].encode())
    broker.stash[QUEUE_OPTIONS] = QueueOptions(streams, own["claim_after"], own["when_unavailable"] == "hold")


def start_queues(broker: Any) -> None:
    options = broker.stash.get(QUEUE_OPTIONS)
    if options is not None:
        options.streams.start()


async def stop_queues(broker: Any, backplane: Backplane) -> None:
    """Before the backplane closes (sessions are closed by now, their unacknowledged messages
    requeued): hand back what was read and not delivered, and wait until Redis has it all."""
    options = broker.stash.get(QUEUE_OPTIONS)
    if options is None:
        return
    for queue in list(options.queues.values()):
        queue.hand_back()
    if backplane.up:
        try:
            await asyncio.wait_for(backplane.command("PING"), 5)  # replies come in order: all before it are in
        except Exception as error:
            log.warning("cluster: handing the queues' messages back to Redis at shutdown failed: %s", error)
    await options.streams.close()


def queue_options(context: Any) -> QueueOptions:
    return context.stash[QUEUE_OPTIONS]  # type: ignore[no-any-return]


def wrap_queue(inner: Any) -> Any:
    """Wraps the queues plugin's ``queue`` factory (see ``Registrar.wrap``): every queue is clustered."""

    def factory(name: bytes, settings: Section, context: DestinationContext) -> Destination:
        return ClusterQueue(name, settings, context, queue_options(context))

    return factory


def wrap_temporary_queue(inner: Any) -> Any:
    """Wraps the queues plugin's ``/temp-queue/`` resolver: the queue is clustered, named for this node."""

    def resolve(context: DestinationContext, session: Session, name: bytes) -> Destination:
        return temporary_queue(context, session, name)

    return resolve


def wrap_reply_to(inner: Any) -> Any:
    """Wraps the queues plugin's ``reply-to`` rewrite: it names the clustered temporary queue."""

    def rewrite(context: DestinationContext, session: Session, value: bytes) -> bytes | None:
        if not value.startswith(TEMP_PREFIX):
            return None
        return reply_to_queue(session, value, temporary_queue(context, session, value))

    return rewrite


def temporary_queue(context: DestinationContext, session: Session, temp_name: bytes) -> ClusterQueue:
    name = temp_queue_name(temp_name)
    by_session = context.stash.setdefault(_TEMPORARIES, dict)
    owned = by_session.setdefault(session, {})
    queue = owned.get(name)
    if queue is not None and not queue.closed:
        return queue
    if len(owned) >= context.limits.max_subscriptions:
        raise FrameRejected(f"this connection already has {len(owned)} temporary queues")
    options = queue_options(context)
    node = options.streams.node
    real = REPLY_PREFIX + node + b"." + options.run + b"." + session.id + b"." + name
    queue = ClusterQueue(real, context.settings_for(temp_name), context, options, owner=session)
    context.add(queue)
    owned[name] = queue
    return queue


def resolve_reply_queue(name: bytes, context: DestinationContext) -> Destination | None:
    """A ``/reply-queue/...`` name not live on this node: another node's temporary queue (or a gone one)."""
    if not name.startswith(REPLY_PREFIX) or QUEUE_OPTIONS not in context.stash:
        return None
    return ClusterQueue(name, context.destination_defaults, context, queue_options(context), remote=True)


def session_closed(session: Session, context: DestinationContext) -> None:
    by_session = context.stash.get(_TEMPORARIES)
    if by_session:
        for queue in by_session.pop(session, {}).values():
            context.remove(queue)


def queue_stats(context: Any) -> dict[str, Any]:
    """The node's clustered-queue figures (for ``xtomp_collect_stats``)."""
    options = context.stash.get(QUEUE_OPTIONS)
    if options is None:
        return {}
    queues = list(options.queues.values())
    for queue in queues:
        queue.measure_lag()
    return {
        "queues": len(queues),
        "temporary": sum(1 for queue in queues if queue.owner is not None),
        "read_total": options.reads,
        "claimed_total": options.claims,
        "wakeups_total": options.wakeups,
        "redelivered_total": sum(queue.redelivered for queue in queues),
        "dead_lettered_total": options.dead_lettered,
        "pending": sum(len(queue.held_ids()) for queue in queues),
        "stream_length": sum(queue.length for queue in queues),
        "lag": sum(queue.lag for queue in queues),
    }
