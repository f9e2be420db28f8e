"""Validation of merged TOML against the declared directives, producing a frozen Config.

Every problem is reported with the file and key path that caused it, all at once, so
``xtomp -t`` lists everything to fix in one run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .directives import DESTINATION, SERVER, USER, DirectiveSet, plugin_scope
from .loader import KeyPath, RawConfig, key_path
from .model import DEFAULT_ORIGIN, Config, Section

__all__ = ["build_config", "enabled_plugins", "TOP_LEVEL_TABLES"]

_TABLE_NAMES = {DESTINATION: "destinations", USER: "users"}

TOP_LEVEL_TABLES = ("server", "destination_defaults", "destinations", "plugins", "users")


def enabled_plugins(raw: RawConfig) -> list[str]:
    """Names of the ``[plugins.NAME]`` tables, in the order the files define them."""
    plugins = raw.data.get("plugins", {})
    if not isinstance(plugins, dict):
        raise ConfigError(f"{raw.origin(('plugins',))}: plugins: expected tables such as [plugins.topics]")
    for name, table in plugins.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{raw.origin(('plugins', name))}: {key_path(('plugins', name))}: "
                f"expected a table: write [plugins.{name}]"
            )
    return list(plugins)


def _suggest(word: str, candidates: list[str]) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, candidates, n=1)
    return f"; did you mean {close[0]}?" if close else ""


#: ``hint(kind, name)``: what to install or enable for an unknown name (see plugins.ProviderHints).
Hint = Callable[[str, str], "str | None"]


class _Validator:
    def __init__(self, raw: RawConfig, directives: DirectiveSet, hint: Hint | None = None) -> None:
        self.raw = raw
        self.directives = directives
        self.hint = hint
        self.errors: list[str] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(f"{self.raw.origin(path)}: {key_path(path)}: {message}")

    def table(self, path: KeyPath) -> dict[str, Any]:
        node: Any = self.raw.data
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if not isinstance(node, dict):
            if len(path) > 1:  # top-level keys are checked once, by build_config
                self.error(path, "expected a table")
            return {}
        return node

    def section(
        self, path: KeyPath, scope: str, table: dict[str, Any], base: Section | None = None
    ) -> Section:
        """Convert ``table`` against ``scope``; start from ``base`` (or the defaults)."""
        declared = self.directives.scope(scope)
        if base is not None:
            values = dict(base.items())
            origins = {key: base.origin(key) for key in base}
        else:
            values = {name: directive.default for name, directive in declared.items()}
            origins = {}
        for key, value in table.items():
            here = path + (key,)
            directive = declared.get(key)
            if directive is None:
                self.unknown_key(here, key, scope, value)
                continue
            try:
                values[key] = directive.convert(value)
            except ValueError as problem:
                self.error(here, str(problem))
                continue
            origins[key] = self.raw.origin(here)
        file = self.raw.origins.get(path, DEFAULT_ORIGIN)
        return Section(key_path(path), values, origins, file)

    def unknown_key(self, path: KeyPath, key: str, scope: str, value: Any) -> None:
        if isinstance(value, dict):
            self.error(path, f"unexpected table in [{key_path(path[:-1])}]")
            return
        elsewhere = [s for s in self.directives.scopes() if s != scope and self.directives.get(s, key)]
        if elsewhere:
            where = elsewhere[0]
            hint = (
                '[destination_defaults] or a [destinations."NAME"] table'
                if where == DESTINATION
                else '[users."NAME"]' if where == USER else f"[{where}]"
            )
            self.error(path, f"{key} is not valid here: it belongs in {hint}")
            return
        hint = _suggest(key, list(self.directives.scope(scope)))
        if not hint:
            # A misspelt key of another table: say where the close match belongs.
            for other in self.directives.scopes():
                close = _suggest(key, list(self.directives.scope(other)))
                if other != scope and close:
                    hint = f"{close[:-1]} (a key of {_TABLE_NAMES.get(other, other)})?"
                    break
        if not hint and self.hint is not None:
            provided = self.hint("directive", key)
            if provided:
                hint = f"; {provided}"
        self.error(path, f"unknown directive{hint}")


def build_config(
    raw: RawConfig, directives: DirectiveSet, plugins: list[str] | None = None, hint: Hint | None = None
) -> Config:
    """Validate ``raw`` against ``directives``; raise one ConfigError listing every problem.
    ``hint(kind, name)`` names the installed plugin that declares an unknown directive."""
    check = _Validator(raw, directives, hint)
    for key, value in raw.data.items():
        if key not in TOP_LEVEL_TABLES:
            check.error((key,), f"unknown top-level key{_suggest(key, list(TOP_LEVEL_TABLES))}")
        elif not isinstance(value, dict):
            check.error((key,), f"expected a table: write [{key}]")
    server = check.section(("server",), SERVER, check.table(("server",)))
    defaults = check.section(("destination_defaults",), DESTINATION, check.table(("destination_defaults",)))

    destinations: dict[str, Section] = {}
    prefixes: list[tuple[str, Section]] = []
    for name, table in check.table(("destinations",)).items():
        path = ("destinations", name)
        if not isinstance(table, dict):
            check.error(path, f'expected a table: write [destinations."{name}"]')
            continue
        if not name:
            check.error(path, "a destination name cannot be empty")
            continue
        star = name.find("*")
        if star >= 0 and star != len(name) - 1:
            check.error(path, 'a "*" may only end a name, making it a prefix rule ("/topic/*")')
            continue
        section = check.section(path, DESTINATION, table, base=defaults)
        if star >= 0:
            prefixes.append((name[:-1], section))
        else:
            destinations[name] = section
    prefixes.sort(key=lambda rule: len(rule[0]), reverse=True)

    users: dict[str, Section] = {}
    for name, table in check.table(("users",)).items():
        path = ("users", name)
        if not isinstance(table, dict):
            check.error(path, f'expected a table: write [users."{name}"]')
        elif not name:
            check.error(path, "a user name cannot be empty")
        else:
            users[name] = check.section(path, USER, table)

    plugin_sections: dict[str, Section] = {}
    for name in plugins if plugins is not None else enabled_plugins(raw):
        path = ("plugins", name)
        plugin_sections[name] = check.section(path, plugin_scope(name), check.table(path))

    _cross_checks(check, server)
    _destination_limits(check, server, [defaults, *destinations.values(), *(rule for _, rule in prefixes)])
    if check.errors:
        raise ConfigError("\n".join(check.errors))
    return Config(
        server=server,
        destination_defaults=defaults,
        destinations=destinations,
        prefixes=tuple(prefixes),
        plugins=plugin_sections,
        files=tuple(raw.files),
        directives=directives,
        users=users,
    )


def _cross_checks(check: _Validator, server: Section) -> None:
    """Rules that involve more than one directive."""
    if server["heart_beat_write_max"] and server["heart_beat_write_min"] > server["heart_beat_write_max"]:
        _conflict(check, server, "heart_beat_write_min", "heart_beat_write_max")
    if server["write_buffer_low"] is not None and server["write_buffer_low"] > server["write_buffer_high"]:
        _conflict(check, server, "write_buffer_low", "write_buffer_high")
    if server["passcode"] is not None and server["login"] is None:
        check.errors.append(f"{server.origin('passcode')}: server.passcode: set without server.login")
    if not server["listen"]:
        check.errors.append(f"{server.origin('listen')}: server.listen: at least one address is needed")
    if server["max_memory"] is not None and server["max_memory"] < server["write_buffer_max"]:
        _conflict(check, server, "write_buffer_max", "max_memory")


def _destination_limits(check: _Validator, server: Section, sections: list[Section]) -> None:
    """A destination's max_message_size must fit the server's frame and buffer limits
    (``sections`` starts with ``[destination_defaults]``)."""
    declared = check.directives.scope(SERVER)
    inherited = sections[0]["max_message_size"]
    for index, section in enumerate(sections):
        if section.origin("max_message_size") == DEFAULT_ORIGIN:
            continue  # the built-in default: max_frame_size alone bounds what can arrive
        if index and section["max_message_size"] == inherited:
            continue  # as in [destination_defaults]: reported there once
        size = section["max_message_size"]
        for limit, why in (
            ("max_frame_size", "a SEND that large is refused before it is read"),
            ("write_buffer_max", "one such message would close every subscriber"),
        ):
            if size > server[limit]:
                shown = declared[limit].render(server[limit])
                check.errors.append(
                    f"{section.where('max_message_size')}: {section.path}.max_message_size: "
                    f"{declared[limit].render(size)} is larger than server.{limit} ({shown}): {why}"
                )


def _conflict(check: _Validator, server: Section, low: str, high: str) -> None:
    """``low`` is larger than ``high``: cite the one a file set (either may be a default)."""
    key = low if server.origin(low) != DEFAULT_ORIGIN or server.origin(high) == DEFAULT_ORIGIN else high
    declared = check.directives.scope(SERVER)

    def shown(name: str) -> str:
        return f"{name} = {declared[name].render(server[name])} ({server.origin(name)})"

    check.errors.append(f"{server.origin(key)}: server.{key}: {shown(low)} is larger than {shown(high)}")
