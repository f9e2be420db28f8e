"""Per-destination access rules: who may SEND, SUBSCRIBE, or create a destination.

Theory of operation
-------------------
Rules are directives of the destination tables (``allow_send``, ``allow_subscribe``,
``allow_create``), so they follow the same matching as every other destination setting:
the table of the exact name (``[destinations."memtop"]``), else the longest prefix rule
(``[destinations."/topic/prices.*"]``: a trailing ``*`` matches any non-empty rest, ``/``
and ``.`` included), else ``[destination_defaults]``. Each list holds ``"*"`` (everyone),
logins (``"alice"``) and groups (``"@ops"``); the default ``["*"]`` lets everyone in.

Every table's lists are compiled once, at start-up, into sets. The session asks at
SUBSCRIBE and at the first SEND to each destination (its per-destination SEND memo then
remembers the answer), so a message costs no access check at all. Creation is checked when
a session's first use of a name would create a destination: by the prefix rule's
``allow_create``, or, for a destination a plugin's ``xtomp_resolve_destination`` made, by
that of the settings the plugin gave it (usually ``[destination_defaults]``); a refused
destination is closed and never memoized.
When no table restricts anything, :attr:`AccessControl.restricted` is False and the broker
skips the checks entirely.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import Blocked, ConfigError
from ..primitives import Principal

if TYPE_CHECKING:
    from ..destination import Destination
    from ..config.model import Config, Section

__all__ = ["AccessList", "DestinationRules", "AccessControl", "ACTIONS"]

ACTIONS = ("send", "subscribe", "create")
_VERBS = {"send": "send to", "subscribe": "subscribe to", "create": "create"}


class AccessList:
    """One compiled ``allow_*`` list."""

    __slots__ = ("everyone", "logins", "groups")

    def __init__(self, entries: Iterable[str]) -> None:
        entries = tuple(entries)
        self.everyone = "*" in entries
        self.logins = frozenset(entry for entry in entries if entry != "*" and not entry.startswith("@"))
        self.groups = frozenset(entry[1:] for entry in entries if entry.startswith("@"))

    def permits(self, principal: Principal | None) -> bool:
        if self.everyone:
            return True
        if principal is None:
            return False
        return principal.login in self.logins or not self.groups.isdisjoint(principal.groups)

    @property
    def names_anyone(self) -> bool:
        """True when the list names users or groups (it relies on authentication)."""
        return bool(self.logins or self.groups)


class DestinationRules:
    """The compiled rules of one destination table."""

    __slots__ = ("send", "subscribe", "create")

    def __init__(self, send: AccessList, subscribe: AccessList, create: AccessList) -> None:
        self.send = send
        self.subscribe = subscribe
        self.create = create

    @property
    def open(self) -> bool:
        return self.send.everyone and self.subscribe.everyone and self.create.everyone


def _check_entries(section: Section, key: str, entries: Sequence[str]) -> list[str]:
    problems = []
    for entry in entries:
        if not entry or entry == "@" or (entry != "*" and "*" in entry) or entry != entry.strip():
            problems.append(
                f"{section.where(key)}: {section.path}.{key}: invalid entry {entry!r}: "
                'use "*", a login, or "@group"'
            )
    return problems


class AccessControl:
    """The access rules of every destination table, compiled; see the module docstring."""

    def __init__(self, config: Config) -> None:
        #: id(section) -> (section, rules); the section is kept so its id stays unique.
        self._rules: dict[int, tuple[Section, DestinationRules]] = {}
        self.restricted = False
        #: True when some list names a user or group (so authentication must be configured).
        self.names_principals = False
        #: Where the first such list is ("FILE: destinations.\"X\".allow_send"), for the error.
        self.first_naming = ""
        self.defaults = config.destination_defaults
        problems: list[str] = []
        sections = [config.destination_defaults, *config.destinations.values(), *(s for _, s in config.prefixes)]
        for section in sections:
            for action in ACTIONS:
                key = f"allow_{action}"
                problems += _check_entries(section, key, section[key])
            rules = self._compile(section)
            self.restricted = self.restricted or not rules.open
            for action in ACTIONS:
                if getattr(rules, action).names_anyone and not self.names_principals:
                    self.names_principals = True
                    self.first_naming = f"{section.where(f'allow_{action}')}: {section.path}.allow_{action}"
        if problems:
            raise ConfigError("\n".join(problems))

    def _compile(self, section: Section) -> DestinationRules:
        rules = DestinationRules(
            AccessList(section["allow_send"]),
            AccessList(section["allow_subscribe"]),
            AccessList(section["allow_create"]),
        )
        self._rules[id(section)] = (section, rules)
        return rules

    def rules(self, settings: Section) -> DestinationRules:
        """The rules of a destination's settings (compiled on first sight for plugin-made sections)."""
        found = self._rules.get(id(settings))
        if found is not None and found[0] is settings:
            return found[1]
        return self._compile(settings)

    def check_send(self, destination: Destination, principal: Principal | None) -> None:
        if not self.rules(destination.settings).send.permits(principal):
            raise Blocked(_refusal(principal, "send", destination.name))

    def check_subscribe(self, destination: Destination, principal: Principal | None) -> None:
        if not self.rules(destination.settings).subscribe.permits(principal):
            raise Blocked(_refusal(principal, "subscribe", destination.name))

    def check_create(self, settings: Section, name: bytes, principal: Principal | None) -> None:
        if not self.rules(settings).create.permits(principal):
            raise Blocked(_refusal(principal, "create", name))


def _refusal(principal: Principal | None, action: str, name: bytes) -> str:
    who = f"user {principal.login!r}" if principal is not None else "an anonymous session"
    shown = name[:80].decode("utf-8", "replace")
    return f"{who} may not {_VERBS[action]} {shown!r}"
