"""Hook implementations of the topics plugin (entry point ``topics`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import Any

from xtomp_core import DESTINATION, BrokerView, Config, ConfigError, DirectiveSet, Registrar, hookimpl, plugin_scope

from .durable import DURABLES, Durables
from .wildcard import make_topic

PLUGIN = "topics"


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "slow_consumer", "choice", "pause", DESTINATION,
        "Topics: what happens while a subscriber's connection holds more than write_buffer_high unsent bytes: "
        "\"pause\" (lossless) delivers to it anyway and stops reading the topic's producers until it drains "
        "below write_buffer_low; \"drop\" skips it (counted in dropped); \"disconnect\" sends ERROR "
        "\"slow consumer\" and closes it. The same applies to a client-ack subscription whose prefetch-count "
        "(or activemq.prefetchSize) window of unacknowledged messages is full, except that \"pause\" keeps "
        "the message for it until an ACK frees room.",
        choices=("pause", "drop", "disconnect"),
    )
    directives.declare(
        "slow_consumer_timeout", "duration", 30.0, DESTINATION,
        "Topics with slow_consumer = \"pause\": a subscriber over write_buffer_high (or with a full prefetch "
        "window) for this long is "
        "disconnected with ERROR \"slow consumer\", so one dead reader cannot stall its producers for "
        "ever (ActiveMQ's AbortSlowConsumerStrategy). 0: never.",
        minimum=0.0,
    )

    directives.declare(
        "wildcards", "bool", True, DESTINATION,
        "Topics made by a prefix rule: a name whose word (text between dots, after the rule's prefix) is "
        "\"*\" (one word), \"#\" (zero or more) or \">\" (one or more, last word only) is a wildcard pattern: "
        "subscribing to it receives every topic it matches (a SEND to it is refused). false: those are "
        "ordinary characters of a topic name.",
    )
    directives.declare(
        "retain", "choice", "none", DESTINATION,
        "Topics: retained messages (MQTT's retain). \"last\" keeps the newest message, \"per-header\" the "
        "newest per value of the header retain_header; a new subscriber gets them (oldest first, those its "
        "filter matches, with a retained:true header) right after the RECEIPT of its SUBSCRIBE. A message "
        "with an empty body clears what is retained (for its header value). Kept bodies count against "
        "max_memory. \"none\": nothing is kept.",
        choices=("none", "last", "per-header"),
    )
    directives.declare(
        "retain_header", "str", None, DESTINATION,
        "Topics with retain = \"per-header\": the header whose value a message is retained under (a message "
        "without it is delivered, not retained). Required with per-header.",
    )
    directives.declare(
        "retain_max", "int", 1000, DESTINATION,
        "Topics with retain = \"per-header\": the most header values retained; beyond it the value published "
        "to least recently is forgotten (counted in retain_evictions).",
        minimum=1,
    )
    directives.declare(
        "max_durable_subscriptions", "int", 10_000, plugin_scope(PLUGIN),
        "Most durable topic subscriptions (durable:true without auto-delete:true, or activemq.subscriptionName) "
        "the broker keeps at once, over every topic; a SUBSCRIBE that would make one more gets ERROR naming "
        "this limit. Each keeps, while its subscriber is away, at most the topic's max_messages messages (then "
        "slow_consumer decides: pause holds the producers, drop and disconnect drop).",
        minimum=1,
    )


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    own = config.plugins.get(PLUGIN)
    if own is not None:
        broker.stash.setdefault(DURABLES, Durables).limit = own["max_durable_subscriptions"]
    for section in [config.destination_defaults, *config.destinations.values(), *(s for _, s in config.prefixes)]:
        if section["retain"] == "per-header" and not section["retain_header"]:
            raise ConfigError(
                f"{section.where('retain')}: {section.path}.retain = \"per-header\" needs retain_header, "
                "the header whose values messages are retained under"
            )


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("topic", make_topic)
