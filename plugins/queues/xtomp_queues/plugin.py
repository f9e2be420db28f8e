"""Hook implementations of the queues plugin (entry point ``queues`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import DESTINATION, ConfigError, DirectiveSet, Registrar, hookimpl

from .queue import Queue
from .temporary import REPLY_PREFIX, TEMP_PREFIX, GoneReplyQueue, temporaries

if TYPE_CHECKING:
    from xtomp_core import BrokerView, Config, Destination, DestinationContext, Session


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    d("prefetch", "int", 1000, DESTINATION,
      "Queues: most unacknowledged messages a client-ack consumer holds at once, unless its SUBSCRIBE sets "
      "prefetch-count (RabbitMQ) or activemq.prefetchSize (ActiveMQ); 0 = no limit.", minimum=0)
    d("max_redeliveries", "int", 6, DESTINATION,
      "Queues: how many times a NACKed (or abandoned) message is delivered again before it goes to "
      "dead_letter, or is dropped and counted (ActiveMQ's default, 6).", minimum=0)
    d("dead_letter", "str", None, DESTINATION,
      "Queues: where messages go that expired or were redelivered max_redeliveries times (a destination "
      "name, e.g. \"/queue/DLQ\"); unset, they are dropped and counted.")
    d("when_full", "choice", "error", DESTINATION,
      "Queues: a SEND to a queue holding max_messages gets ERROR \"q flup\" (\"error\", xtomp's way) or is "
      "accepted and the producer's next frames wait, unread, until there is room (\"pause\"; a producer that "
      "holds unacknowledged messages gets \"q flup\" instead, as pausing it could wait forever).",
      choices=("error", "pause"))
    d("expiry", "duration", 0.0, DESTINATION,
      "Queues: discard messages not delivered within this time (or to dead_letter); 0 = never. A SEND's "
      "expires (epoch ms, ActiveMQ) or expiration (ms from now, RabbitMQ) header may set an earlier time.",
      minimum=0)


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("queue", Queue)


@hookimpl
def xtomp_register_session_destinations(registry: Registrar[Any]) -> None:
    registry.register(TEMP_PREFIX.decode(), _temporary_queue)


@hookimpl
def xtomp_register_send_headers(registry: Registrar[Any]) -> None:
    registry.register("reply-to", _reply_to)


def _temporary_queue(context: DestinationContext, session: Session, name: bytes) -> Destination:
    return temporaries(context).queue_for(session, name)


def _reply_to(context: DestinationContext, session: Session, value: bytes) -> bytes | None:
    return temporaries(context).reply_to(session, value)


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    # A prefix rule may name a queue it covers itself ("/queue/*" -> "/queue/DLQ"): that
    # queue's own dead letters are then dropped and counted (see Queue._dead_letter).
    for name, section in [*config.destinations.items(), *config.prefixes]:
        dead_letter = section["dead_letter"]
        if dead_letter is None:
            continue
        if dead_letter == name:
            raise ConfigError(
                f"{section.where('dead_letter')}: {section.path}.dead_letter: {dead_letter!r} is the destination "
                "itself: a message that cannot be delivered would come back forever"
            )
        if dead_letter.startswith((TEMP_PREFIX.decode(), REPLY_PREFIX.decode())):
            raise ConfigError(
                f"{section.where('dead_letter')}: {section.path}.dead_letter: {dead_letter!r} is temporary; "
                "name a queue or topic from [destinations]"
            )


@hookimpl
def xtomp_resolve_destination(name: bytes, context: DestinationContext) -> Destination | None:
    if name.startswith(REPLY_PREFIX):
        # A live reply queue is in the destination table already; this one's connection is gone.
        return GoneReplyQueue(name, context.destination_defaults, context)
    return None


@hookimpl
def xtomp_session_closed(session: Session, broker: BrokerView) -> None:
    temporaries(broker.context).session_closed(session)


@hookimpl
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    totals = dict.fromkeys(
        ("queues", "depth", "in_flight", "enqueued", "delivered", "acked", "nacked", "redelivered", "expired",
         "dead_lettered", "dropped"),
        0,
    )
    for destination in broker.destinations.values():
        if isinstance(destination, Queue):
            totals["queues"] += 1
            totals["depth"] += destination.depth
            totals["in_flight"] += destination.in_flight
            totals["enqueued"] += destination.enqueued
            totals["delivered"] += destination.delivered
            totals["acked"] += destination.acked
            totals["nacked"] += destination.nacked
            totals["redelivered"] += destination.redelivered
            totals["expired"] += destination.expired
            totals["dead_lettered"] += destination.dead_lettered
            totals["dropped"] += destination.dropped
    totals["temporary"] = temporaries(broker.context).count()
    stats["queues"] = totals
