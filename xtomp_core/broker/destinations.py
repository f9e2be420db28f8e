"""The destination table: destinations by name, created on first use, within max_destinations.

It is also the :class:`~xtomp_core.DestinationContext` every destination is given: what a
destination may use of the broker (ids, lookups, limits, the loop, per-broker state).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..destination import Destination, Session
from ..errors import ConfigError, DestinationUnknown, LimitExceeded, XtompError
from ..message import Message
from ..plugin_errors import plugin_failure

if TYPE_CHECKING:
    from ..config.model import Config, Section
    from ..limits import Limits
    from ..primitives import Principal, Stash
    from ..registry import Registry
    from ..security.access import AccessControl
    from .memory import MemoryGuard

__all__ = ["DestinationTable", "destination_type"]

log = logging.getLogger("xtomp.broker")

#: ``resolve(name, context)``: the ``xtomp_resolve_destination`` hook, or None.
Resolver = Callable[..., "Destination | None"]


def destination_type(section: Section) -> str:
    """The ``type`` of a destination section; unset, xtomp's ``min_delivery`` decides
    (0: a topic, 1: a queue, as the original broker declared its queues)."""
    kind: str | None = section["type"]
    min_delivery: int = section["min_delivery"]
    if kind is None:
        return "queue" if min_delivery else "topic"
    if min_delivery and kind == "topic":
        raise ConfigError(
            f"{section.where('min_delivery')}: {section.path}.min_delivery: {min_delivery} makes the destination "
            "a queue (xtomp's way to declare one), but its type is \"topic\": remove one of the two"
        )
    return kind


class DestinationTable:
    """Owns the live destinations of one broker (a :class:`~xtomp_core.DestinationContext`)."""

    def __init__(
        self,
        config: Config,
        limits: Limits,
        types: Registry[Any],
        stash: Stash,
        memory: MemoryGuard,
        resolve: Resolver,
        session_destinations: tuple[tuple[bytes, Callable[..., Destination]], ...],
    ) -> None:
        self.config = config
        self._limits = limits
        self._types = types
        self._stash = stash
        self._memory = memory
        self._resolve = resolve
        #: ``(prefix, resolve)`` of names private to each connection (``/temp-queue/``).
        self._session_destinations = session_destinations
        self._prefix_rules = [(prefix.encode(), section) for prefix, section in config.prefixes]
        self.by_name: dict[bytes, Destination] = {}
        self.message_ids = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        #: The compiled access rules; None when no destination restricts anyone.
        self.access: AccessControl | None = None
        #: Messages accepted by destinations that are gone, so totals never go back.
        self.messages_removed = 0
        for section in [s for _, s in config.prefixes] + list(config.destinations.values()):
            self._factory(section)  # unknown types fail now, naming file and key

    def reconfigure(self, config: Config, limits: Limits, access: AccessControl | None) -> None:
        """A reload: the new configuration's prefix rules, limits and access rules from now on."""
        self.config = config
        self._limits = limits
        self.access = access
        self._prefix_rules = [(prefix.encode(), section) for prefix, section in config.prefixes]

    def create(self, name: bytes, section: Section) -> Destination:
        """Create a declared destination (a reload adding one)."""
        return self._create(name, section, auto_created=False)

    def create_declared(self) -> None:
        """Build the destinations the configuration names (after the configure hooks)."""
        for name, section in self.config.destinations.items():
            self._create(name.encode(), section, auto_created=False, at_start=True)

    # -- DestinationContext -----------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def stash(self) -> Stash:
        return self._stash

    @property
    def memory(self) -> MemoryGuard:
        return self._memory

    @property
    def destination_defaults(self) -> Section:
        return self.config.destination_defaults

    def settings_for(self, name: bytes) -> Section:
        section = self.config.destination_section(name.decode("utf-8", "replace"))
        return section if section is not None else self.config.destination_defaults

    def next_message_id(self) -> int:
        return next(self.message_ids)

    def get(self, name: bytes) -> Destination | None:
        return self.by_name.get(name)

    def destination(self, name: bytes) -> Destination:
        return self.lookup(name, None)

    def build(self, type_name: str, name: bytes, settings: Section | None = None) -> Destination:
        destination: Destination = self._types.get(type_name)(
            name, settings if settings is not None else self.settings_for(name), self
        )
        return destination

    def add(self, destination: Destination) -> None:
        previous = self.by_name.get(destination.name)
        if previous is None:
            self._make_room()
        elif previous is not destination:
            self.remove(previous)
        self.by_name[destination.name] = destination

    def remove(self, destination: Destination) -> None:
        if self.by_name.get(destination.name) is destination:
            del self.by_name[destination.name]
            self.messages_removed += destination.enqueued
        destination.close()

    def publish(self, name: bytes, headers: dict[bytes, bytes], body: bytes) -> Destination:
        target = self.destination(name)
        target.publish(Message(next(self.message_ids), target.name, headers, body), None)
        return target

    def call_soon(self, callback: Callable[[], None]) -> None:
        if self.loop is not None:
            self.loop.call_soon(callback)
        else:
            callback()

    # -- lookups by sessions --------------------------------------------------------------------

    def lookup(self, name: bytes, creator: Principal | None) -> Destination:
        """The destination called ``name``, created on first use when a rule allows it.

        With ``creator`` (a session's principal), creating it must be allowed by the access
        rules (``allow_create``); without, the broker itself is asking and nothing is checked.
        """
        destination = self.by_name.get(name)
        if destination is not None:
            return destination
        self._make_room()
        access = self.access if creator is not None else None
        for prefix, section in self._prefix_rules:
            if name.startswith(prefix) and len(name) > len(prefix):
                if access is not None:
                    access.check_create(section, name, creator)
                return self._create(name, section, auto_created=True)
        resolved: Destination | None = self._resolve(name=name, context=self)
        if resolved is not None:
            if access is not None:
                try:  # by the settings the plugin gave it (usually [destination_defaults])
                    access.check_create(resolved.settings, name, creator)
                except XtompError:
                    resolved.close()  # never memoized: nobody saw it
                    raise
            resolved.auto_created = True
            self.by_name[name] = resolved
            return resolved
        shown = name[:80].decode("utf-8", "replace")
        raise DestinationUnknown(f"no destination {shown!r} is configured")

    def for_session(self, session: Session, name: bytes) -> Destination:
        """The destination a session means by ``name``: its private one for a registered
        prefix (``/temp-queue/NAME``), else the shared one, created when the rules allow."""
        for prefix, resolve in self._session_destinations:
            if name.startswith(prefix):
                return resolve(self, session, name)
        return self.lookup(name, session.principal)

    # -- creation and removal ---------------------------------------------------------------------

    def _factory(self, section: Section) -> Any:
        registry = self._types
        kind = destination_type(section)
        if kind not in registry:
            raise ConfigError(f"{section.where('type')}: {section.path}.type: {registry.missing(kind)}")
        return registry.get(kind)

    def _create(self, name: bytes, section: Section, auto_created: bool, at_start: bool = False) -> Destination:
        kind = destination_type(section)
        factory = self._factory(section)
        try:
            destination: Destination = factory(name, section, self)
        except XtompError:
            raise
        except Exception as error:
            owner = self._types.owner(kind)
            if at_start:  # xtomp -t: a config error naming the plugin, not a traceback
                raise plugin_failure(owner, f"destination type {kind!r} could not create {name!r}", error) from error
            log.exception("plugin %s: destination type %r could not create %r", owner, kind, name)
            raise XtompError("general - internal error") from error
        destination.auto_created = auto_created
        self.by_name[name] = destination
        return destination

    def _make_room(self) -> None:
        limit = self._limits.max_destinations
        if len(self.by_name) >= limit and not self._purge_idle():
            raise LimitExceeded("dest flup", f"the broker already holds max_destinations ({limit})")

    def _purge_idle(self) -> bool:
        """Forget auto-created destinations that hold nothing; True if room was made."""
        idle = [name for name, dest in self.by_name.items() if dest.auto_created and dest.idle]
        for name in idle:
            destination = self.by_name.pop(name)
            self.messages_removed += destination.enqueued
            destination.close()
        if idle:
            log.info("removed %d idle destinations (max_destinations reached)", len(idle))
        return bool(idle)

    def close_all(self) -> None:
        for destination in self.by_name.values():
            destination.close()
