"""Hook implementations of the topics plugin (entry point ``topics`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import Any

from xtomp_core import DESTINATION, DirectiveSet, Registrar, hookimpl

from .topic import Topic


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "slow_consumer", "choice", "drop", DESTINATION,
        "Topics: what happens to a subscriber whose connection holds more than write_buffer_high unsent "
        "bytes: \"drop\" skips it (counted in dropped), \"disconnect\" sends ERROR \"slow consumer\" and closes it.",
        choices=("drop", "disconnect"),
    )


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("topic", Topic)
