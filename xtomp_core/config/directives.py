"""Declared configuration directives: name, kind, default, scope, help, and value conversion.

Every key a config file may hold is a :class:`Directive`. The core declares its own
(:mod:`xtomp_core.config.core_directives`); plugins add theirs through the
``xtomp_add_directives`` hook. Scopes are table paths: ``server``, ``destination`` (valid
in ``[destination_defaults]`` and in every ``[destinations."NAME"]``) and
``plugins.NAME`` for a plugin's own table; ``user`` for every ``[users."NAME"]`` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .._record import record
from ..errors import ConfigError
from .units import format_duration, format_size, parse_duration, parse_size

__all__ = ["Directive", "DirectiveSet", "KINDS", "SERVER", "DESTINATION", "USER", "plugin_scope", "toml_string"]

SERVER = "server"
DESTINATION = "destination"
#: Keys of a ``[users."NAME"]`` table (the users known to the broker's authenticators).
USER = "user"

KINDS = ("bool", "int", "float", "str", "size", "duration", "list", "choice")


def plugin_scope(plugin: str) -> str:
    """The scope of the keys of a plugin's own ``[plugins.NAME]`` table."""
    return f"plugins.{plugin}"


_TOML_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    return '"' + _TOML_ESCAPE.sub(lambda m: _TOML_ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text) + '"'


@record(frozen=True)
class Directive:
    """One configuration key.

    ``kind`` is one of :data:`KINDS`: ``size`` values are bytes (``"64k"``), ``duration``
    values seconds (``"15s"``), ``list`` a list of strings, ``choice`` one of ``choices``.
    ``default`` is given already converted (an int for a size, seconds for a duration); a
    default of ``None`` makes the directive optional (unset).
    """

    __slots__ = ("name", "kind", "default", "scope", "help", "plugin", "choices", "minimum", "maximum")
    name: str
    kind: str
    default: Any
    scope: str
    help: str
    plugin: str
    choices: tuple[str, ...]
    minimum: float | None
    maximum: float | None

    def __init__(
        self,
        name: str,
        kind: str,
        default: Any,
        scope: str,
        help: str,
        plugin: str = "core",
        choices: tuple[str, ...] = (),
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "plugin", plugin)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "minimum", minimum)
        object.__setattr__(self, "maximum", maximum)
        if self.kind not in KINDS:
            raise ValueError(f"directive {self.name}: unknown kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"directive {self.name}: a choice needs choices")

    def convert(self, value: Any) -> Any:
        """Check and convert a raw TOML value; raise ``ValueError`` saying what was expected."""
        kind = self.kind
        if kind == "bool":
            # xtomp wrote flags as "on"/"off"; accept those as well as TOML booleans.
            if isinstance(value, bool):
                return value
            if value in ("on", "off"):
                return value == "on"
            raise ValueError("expected true or false")
        if kind == "int":
            if isinstance(value, str) and value in self.choices:
                return value  # a named value an int directive also takes (workers = "auto")
            if isinstance(value, bool) or not isinstance(value, int):
                named = "".join(f" or {choice!r}" for choice in self.choices)
                raise ValueError(f"expected an integer{named}")
            converted: Any = value
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("expected a number")
            converted = float(value)
        elif kind == "str":
            if not isinstance(value, str):
                raise ValueError("expected a string")
            converted = value
        elif kind == "size":
            converted = parse_size(value)
        elif kind == "duration":
            converted = parse_duration(value)
        elif kind == "list":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValueError("expected a list of strings")
            return tuple(value)
        else:  # choice
            if value not in self.choices:
                raise ValueError(f"expected one of {', '.join(map(repr, self.choices))}")
            return value
        if self.minimum is not None and converted < self.minimum:
            raise ValueError(f"must be at least {self.render(self.minimum)}")
        if self.maximum is not None and converted > self.maximum:
            raise ValueError(f"must be at most {self.render(self.maximum)}")
        return converted

    def render(self, value: Any) -> str:
        """A converted value written back as TOML."""
        if value is None:
            return "(unset)"
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "size":
            text = format_size(int(value))
            return text if text.isdigit() else f'"{text}"'
        if self.kind == "duration":
            text = format_duration(float(value))
            return text if text == "0" else f'"{text}"'
        if self.kind in ("str", "choice") or isinstance(value, str):
            return toml_string(str(value))
        if self.kind == "list":
            return "[" + ", ".join(toml_string(item) for item in value) + "]"
        return repr(value)


class DirectiveSet:
    """All declared directives, keyed by scope then name; duplicates are refused."""

    def __init__(self) -> None:
        self._by_scope: dict[str, dict[str, Directive]] = {}
        #: The plugin whose ``xtomp_add_directives`` is running; ``declare`` credits it.
        self.current_plugin = "core"

    def add(self, directive: Directive) -> None:
        scope = self._by_scope.setdefault(directive.scope, {})
        existing = scope.get(directive.name)
        if existing is not None:
            raise ConfigError(
                f"directive {directive.scope}.{directive.name} is declared twice "
                f"(by {existing.plugin} and by {directive.plugin})"
            )
        scope[directive.name] = directive

    def declare(
        self,
        name: str,
        kind: str,
        default: Any,
        scope: str,
        help: str,
        *,
        choices: tuple[str, ...] = (),
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Directive:
        """Shorthand for ``add(Directive(...))`` crediting the current plugin; returns it."""
        directive = Directive(name, kind, default, scope, help, self.current_plugin, choices, minimum, maximum)
        self.add(directive)
        return directive

    def scope(self, scope: str) -> dict[str, Directive]:
        return self._by_scope.get(scope, {})

    def get(self, scope: str, name: str) -> Directive | None:
        return self._by_scope.get(scope, {}).get(name)

    def scopes(self) -> list[str]:
        return list(self._by_scope)

    def __iter__(self) -> Iterator[Directive]:
        for scope in self._by_scope.values():
            yield from scope.values()

    def __len__(self) -> int:
        return sum(len(scope) for scope in self._by_scope.values())
