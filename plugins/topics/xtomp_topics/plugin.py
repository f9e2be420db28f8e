"""Hook implementations of the topics plugin (entry point ``topics`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import Any

from xtomp_core import DESTINATION, DirectiveSet, Registrar, hookimpl

from .topic import Topic


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "slow_consumer", "choice", "pause", DESTINATION,
        "Topics: what happens while a subscriber's connection holds more than write_buffer_high unsent bytes: "
        "\"pause\" (lossless) delivers to it anyway and stops reading the topic's producers until it drains "
        "below write_buffer_low; \"drop\" skips it (counted in dropped); \"disconnect\" sends ERROR "
        "\"slow consumer\" and closes it.",
        choices=("pause", "drop", "disconnect"),
    )
    directives.declare(
        "slow_consumer_timeout", "duration", 30.0, DESTINATION,
        "Topics with slow_consumer = \"pause\": a subscriber over write_buffer_high for this long is "
        "disconnected with ERROR \"slow consumer\", so one dead reader cannot stall its producers for "
        "ever (ActiveMQ's AbortSlowConsumerStrategy). 0: never.",
        minimum=0.0,
    )


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("topic", Topic)
