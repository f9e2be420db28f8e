"""Plugin discovery and loading: entry points of group ``xtomp.plugins``, loaded only when enabled."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .config.directives import DirectiveSet
from .entrypoints import PluginEntryPoint, entry_points
from .errors import ConfigError
from .registry import KNOWN_PROVIDERS, Registry

__all__ = ["ENTRY_POINT_GROUP", "CORE_PLUGIN", "PluginHost", "Registries", "InstalledPlugin", "installed_plugins"]

ENTRY_POINT_GROUP = "xtomp.plugins"
CORE_PLUGIN = "core"


@dataclass(frozen=True)
class InstalledPlugin:
    name: str
    value: str
    distribution: str
    version: str


def distribution_for(plugin: str) -> str:
    """The distribution that provides a plugin name, for error messages."""
    for (_, _), (distribution, name) in KNOWN_PROVIDERS.items():
        if name == plugin:
            return distribution
    return f"xtomp-{plugin.split('_')[0]}"


def installed_plugins() -> dict[str, InstalledPlugin]:
    """Every plugin installed in this environment, without importing any of them."""
    from importlib.metadata import entry_points as metadata_entry_points  # the CLI listing only

    found: dict[str, InstalledPlugin] = {}
    for point in metadata_entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(point, "dist", None)
        found[point.name] = InstalledPlugin(
            point.name,
            point.value,
            dist.metadata["Name"] if dist is not None else "?",
            dist.version if dist is not None else "?",
        )
    return found


@dataclass(frozen=True)
class Registries:
    """The frozen registries the broker reads; filled by the ``xtomp_register_*`` hooks."""

    destination_types: Registry[Any]
    filter_engines: Registry[Any]
    transports: Registry[Any]
    authenticators: Registry[Any]
    session_destinations: Registry[Any]
    send_headers: Registry[Any]


class PluginHost:
    """Owns the pluggy manager: the core's built-in hooks plus the enabled plugins."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        from . import builtin

        self.manager.register(builtin, name=CORE_PLUGIN)
        self.enabled: list[str] = []

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def load(self, names: Iterable[str], origins: dict[str, str] | None = None) -> None:
        """Import and register the named plugins; an enabled plugin that is missing is an error."""
        wanted = list(names)
        if not wanted:
            return
        points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
        for name in wanted:
            point = points.get(name)
            if point is None:
                where = (origins or {}).get(name, "config")
                installed = ", ".join(sorted(points)) or "none"
                raise ConfigError(
                    f"{where}: plugins.{name}: plugin {name!r} is enabled but not installed "
                    f"(installed plugins: {installed}); install the distribution {distribution_for(name)} "
                    f"or rename the file to *.disabled"
                )
            self.register(name, _load(point))

    def register(self, name: str, plugin: object) -> None:
        """Register an already imported plugin object (tests and embedding use this)."""
        self.manager.register(plugin, name=name)
        self.enabled.append(name)

    def _each_impl(self, hook_name: str, make_argument: Callable[[str], dict[str, Any]]) -> None:
        """Call every implementation of a start-up hook on its own, telling it who it is.

        Registration hooks are called one implementation at a time so that each registry
        entry (and each directive) records the plugin that made it.
        """
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order: the core first
            arguments = make_argument(impl.plugin_name)
            impl.function(**{name: arguments[name] for name in impl.argnames})

    def directives(self) -> DirectiveSet:
        directives = DirectiveSet()

        def argument(plugin: str) -> dict[str, Any]:
            directives.current_plugin = plugin
            return {"directives": directives}

        self._each_impl("xtomp_add_directives", argument)
        directives.current_plugin = CORE_PLUGIN
        return directives

    def registries(self) -> Registries:
        registries = Registries(
            destination_types=Registry("destination type"),
            filter_engines=Registry("filter engine"),
            transports=Registry("transport"),
            authenticators=Registry("authenticator"),
            session_destinations=Registry("session destination prefix"),
            send_headers=Registry("SEND header"),
        )
        for hook_name, registry in (
            ("xtomp_register_destination_types", registries.destination_types),
            ("xtomp_register_filter_engines", registries.filter_engines),
            ("xtomp_register_transports", registries.transports),
            ("xtomp_register_authenticators", registries.authenticators),
            ("xtomp_register_session_destinations", registries.session_destinations),
            ("xtomp_register_send_headers", registries.send_headers),
        ):
            self._each_impl(hook_name, _registrar_argument(registry))
            registry.freeze()
        return registries


def _registrar_argument(registry: Registry[Any]) -> Callable[[str], dict[str, Any]]:
    def argument(plugin: str) -> dict[str, Any]:
        return {"registry": registry.scoped(plugin)}

    return argument


def _load(point: PluginEntryPoint) -> object:
    try:
        return point.load()
    except Exception as error:  # the plugin's own import failed: say which plugin
        raise ConfigError(f"plugin {point.name!r} ({point.value}) failed to import: {error}") from error
