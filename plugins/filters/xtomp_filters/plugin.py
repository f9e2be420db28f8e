"""Hook implementations of the filters plugin (entry point ``filters`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import DESTINATION, ConfigError, DirectiveSet, Registrar, hookimpl, plugin_scope

from .engines import FilterSettings, HeaderEngine, SelectorEngine
from .names import header_name_problem

if TYPE_CHECKING:
    from xtomp_core import BrokerView, Config, Section

PLUGIN = "filters"


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    scope = plugin_scope(PLUGIN)
    directives.declare(
        "header", "bool", True, scope,
        "Enable the header engine: SUBSCRIBE with filter:NAME=VALUE receives the messages whose NAME header is "
        "VALUE (xtomp's filters). Off: such a SUBSCRIBE gets an ERROR.",
    )
    directives.declare(
        "selector", "bool", True, scope,
        "Enable the selector engine: SUBSCRIBE with selector:EXPRESSION (JMS/SQL-92, as ActiveMQ and Artemis) "
        "receives the messages for which EXPRESSION is TRUE. Off: such a SUBSCRIBE gets an ERROR.",
    )
    directives.declare(
        "selector_max_length", "size", 4096, scope,
        "Longest selector accepted, in bytes; a longer one gets ERROR \"invalid selector\".",
        minimum=1, maximum=1 << 20,
    )
    directives.declare(
        "selector_max_depth", "int", 32, scope,
        "Deepest nesting accepted in a selector (each parenthesis, NOT or unary sign is one level); "
        "a deeper one gets ERROR \"invalid selector\".",
        minimum=1, maximum=64,
    )
    directives.declare(
        "filter", "choice", "on", DESTINATION,
        "Subscription filters on this destination (xtomp's directive): \"on\" allows filter and selector "
        "headers, \"required\" refuses a SUBSCRIBE without one, \"off\" refuses a SUBSCRIBE with one.",
        choices=("off", "on", "required"),
    )
    directives.declare(
        "filter_header", "str", None, DESTINATION,
        "The message header a filter:NAME=VALUE subscription must name (xtomp's directive). "
        "Unset: NAME may be any header.",
    )


@hookimpl
def xtomp_register_filter_engines(registry: Registrar[Any]) -> None:
    # Cheap objects: the selector parser is imported by the first selector compiled.
    registry.register("header", HeaderEngine())
    registry.register("selector", SelectorEngine())


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    own = config.plugins[PLUGIN]
    settings = FilterSettings(
        header=own["header"],
        selector=own["selector"],
        selector_max_length=own["selector_max_length"],
        selector_max_depth=own["selector_max_depth"],
    )
    for name in ("header", "selector"):  # this plugin's own engines (a name is never registered twice)
        broker.registered("filter engine", name).configure(settings)
    sections = [config.destination_defaults, *config.destinations.values(), *(rule for _, rule in config.prefixes)]
    for section in sections:
        _check_section(section, settings)


def _check_section(section: Section, settings: FilterSettings) -> None:
    header = section["filter_header"]
    if header is not None:
        where = f"{section.where('filter_header')}: {section.path}.filter_header"
        problem = header_name_problem(header.encode())
        if problem is not None:
            raise ConfigError(f"{where}: {problem}")
        if not settings.header and section.origin("filter_header") != "default":
            raise ConfigError(f"{where}: is set, but the header engine is off ([plugins.filters] header = false)")
    if section["filter"] == "required" and not (settings.header or settings.selector):
        raise ConfigError(
            f"{section.where('filter')}: {section.path}.filter: \"required\" needs an engine, but both are off "
            "([plugins.filters] header and selector are false)"
        )
