"""Named registries that plugins fill at start-up and the broker reads, frozen afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import ConfigError

__all__ = ["Registry", "Registrar"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → implementation, with the plugin that registered each name.

    Duplicate names are refused naming both plugins; a lookup of an unknown name lists the
    known ones and, through ``hint(kind, name)``, which installed plugin provides it.
    """

    def __init__(self, kind: str, hint: Callable[[str, str], str | None] | None = None) -> None:
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        #: (name, wrapper, plugin, required) in the order plugins asked; applied by ``freeze``.
        self._wrappers: list[tuple[str, Callable[[T], T], str, bool]] = []
        self._frozen = False

    def register(self, name: str, item: T, *, plugin: str) -> None:
        if self._frozen:
            raise RuntimeError(f"the {self.kind} registry is frozen after start-up")
        if not name or not isinstance(name, str):
            raise ConfigError(f"plugin {plugin} registered a {self.kind} with an invalid name {name!r}")
        owner = self._owners.get(name)
        if owner is not None:
            raise ConfigError(f"{self.kind} {name!r} is registered twice: by plugin {owner} and by plugin {plugin}")
        self._items[name] = item
        self._owners[name] = plugin

    def wrap(self, name: str, wrapper: Callable[[T], T], *, plugin: str, required: bool = True) -> None:
        if self._frozen:
            raise RuntimeError(f"the {self.kind} registry is frozen after start-up")
        if not callable(wrapper):
            raise ConfigError(f"plugin {plugin} wraps {self.kind} {name!r} with {wrapper!r}, which is not callable")
        self._wrappers.append((name, wrapper, plugin, required))

    def freeze(self) -> None:
        """Apply the wrappers (every plugin has registered by now), in the order they were
        asked for, then refuse any change."""
        for name, wrapper, plugin, required in self._wrappers:
            if name not in self._items:
                if not required:
                    continue
                raise ConfigError(
                    f"plugin {plugin} wraps the {self.kind} {name!r}, which no enabled plugin registers; "
                    + self.missing(name)
                )
            self._items[name] = wrapper(self._items[name])
        self._wrappers.clear()
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.missing(name)) from None

    def missing(self, name: str) -> str:
        known = ", ".join(sorted(self._items)) or "none"
        message = f"unknown {self.kind} {name!r} (known: {known})"
        provided = self.hint(self.kind, name) if self.hint is not None else None
        if provided:
            message += f"; {provided}"
        return message

    def owner(self, name: str) -> str:
        return self._owners[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def scoped(self, plugin: str) -> Registrar[T]:
        return Registrar(self, plugin)


class Registrar(Generic[T]):
    """What a registration hook receives: ``registry.register(name, item)`` adds one
    implementation, credited to the calling plugin (a name registered twice is a config
    error naming both plugins); ``registry.wrap(name, wrapper)`` decorates what another
    plugin registers under ``name``."""

    __slots__ = ("_registry", "plugin")

    def __init__(self, registry: Registry[T], plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    @property
    def kind(self) -> str:
        return self._registry.kind

    def register(self, name: str, item: T) -> None:
        self._registry.register(name, item, plugin=self.plugin)

    def wrap(self, name: str, wrapper: Callable[[T], T], *, required: bool = True) -> None:
        """Replace what is registered under ``name`` by ``wrapper(registered)``, once every
        enabled plugin has registered (whatever the order plugins are loaded in).

        For a destination type, ``wrapper(inner_factory)`` returns a factory, typically one
        that calls ``inner_factory(name, settings, context)`` and adds to or replaces what it
        built (an nginx filter module's way). Several wrappers of one name apply in the order
        plugins asked, each around the previous. A name no enabled plugin registers is a config
        error, unless ``required=False``: then the wrapper is skipped.
        """
        self._registry.wrap(name, wrapper, plugin=self.plugin, required=required)

    def __contains__(self, name: object) -> bool:
        return name in self._registry
