"""Example xtomp plugin: the ``blackhole`` destination type logs each message and drops it.

It shows the three things most plugins do: declare directives, register an
implementation, and report figures through the stats hook.
"""

from __future__ import annotations

import logging
from typing import Any

from xtomp_core import (
    DESTINATION,
    BrokerView,
    Destination,
    DestinationContext,
    DirectiveSet,
    Message,
    Registrar,
    Section,
    Session,
    hookimpl,
    plugin_scope,
)

log = logging.getLogger("xtomp.blackhole")


class Blackhole(Destination):
    """Accepts every SEND, delivers nothing."""

    __slots__ = ("log_bodies",)
    type_name = "blackhole"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        self.log_bodies: bool = settings["blackhole_log_bodies"]

    def publish(self, message: Message, sender: Session | None) -> None:
        self.enqueued += 1
        self.dropped += 1
        if self.log_bodies:
            log.info("%s swallowed %r", self.name.decode(), message.body[:80])


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "blackhole_log_bodies", "bool", False, DESTINATION,
        "Blackhole destinations: log the first 80 bytes of every message they drop.",
    )
    directives.declare("label", "str", "blackhole", plugin_scope("blackhole"), "Name shown in the stats.")


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("blackhole", Blackhole)


@hookimpl
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    label = broker.config.plugins["blackhole"]["label"]
    swallowed = sum(d.dropped for d in broker.destinations.values() if isinstance(d, Blackhole))
    stats[label] = {"swallowed": swallowed}
