"""Plugin discovery and loading: entry points of group ``xtomp.plugins``, loaded only when enabled.

Loading checks each plugin the way pluggy's ``check_pending`` would and more: a function
named like a hook that is no hook (``xtomp_statup``) is a config error naming the plugin and
the hook it probably meant, as is a hook implementation whose arguments the hook does not
have; a plugin may declare the plugins it needs (``xtomp_requires = ["topics"]``), refused
at config time when they are not enabled, and that it is a backplane
(``xtomp_backplane = True``: destinations span processes, so ``workers`` may exceed 1). An unknown destination type, transport scheme,
authenticator or directive is looked up among the installed plugins that are not enabled,
so the error says which ``[plugins.NAME]`` to add.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from . import hookspecs
from ._record import record
from .config.directives import DirectiveSet, toml_string
from .config.model import Section
from .entrypoints import PluginEntryPoint, entry_points
from .errors import ConfigError
from .registry import Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "CORE_PLUGIN",
    "REQUIRES",
    "BACKPLANE",
    "PluginHost",
    "Registries",
    "InstalledPlugin",
    "installed_plugins",
]

ENTRY_POINT_GROUP = "xtomp.plugins"
CORE_PLUGIN = "core"
#: The module attribute where a plugin lists the plugins it needs.
REQUIRES = "xtomp_requires"
#: The module attribute where a plugin says it is a backplane (``xtomp_backplane = True``).
BACKPLANE = "xtomp_backplane"
_HOOK_PREFIX = "xtomp_"

log = logging.getLogger("xtomp.plugins")


@record(frozen=True)
class InstalledPlugin:
    __slots__ = ("name", "value", "distribution", "version")
    name: str
    value: str
    distribution: str
    version: str

    def __init__(self, name: str, value: str, distribution: str, version: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "version", version)


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


@record(
    frozen=True,
    fields=("destination_types", "filter_engines", "transports", "authenticators", "session_destinations", "send_headers"),
)
class Registries:
    """The frozen registries the broker reads; filled by the ``xtomp_register_*`` hooks.

    No ``__slots__``: ``vars(registries)`` lists them."""

    destination_types: Registry[Any]
    filter_engines: Registry[Any]
    transports: Registry[Any]
    authenticators: Registry[Any]
    session_destinations: Registry[Any]
    send_headers: Registry[Any]

    def __init__(
        self,
        destination_types: Registry[Any],
        filter_engines: Registry[Any],
        transports: Registry[Any],
        authenticators: Registry[Any],
        session_destinations: Registry[Any],
        send_headers: Registry[Any],
    ) -> None:
        object.__setattr__(self, "destination_types", destination_types)
        object.__setattr__(self, "filter_engines", filter_engines)
        object.__setattr__(self, "transports", transports)
        object.__setattr__(self, "authenticators", authenticators)
        object.__setattr__(self, "session_destinations", session_destinations)
        object.__setattr__(self, "send_headers", send_headers)


#: Registration hook -> registry kind, in the order registries are built.
REGISTRATIONS = (
    ("xtomp_register_destination_types", "destination type"),
    ("xtomp_register_filter_engines", "filter engine"),
    ("xtomp_register_transports", "transport"),
    ("xtomp_register_authenticators", "authenticator"),
    ("xtomp_register_session_destinations", "session destination prefix"),
    ("xtomp_register_send_headers", "SEND header"),
)


class PluginHost:
    """Owns the pluggy manager: the core's built-in hooks plus the enabled plugins."""

    def __init__(self, with_core: bool = True) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.enabled: list[str] = []
        self._hints: ProviderHints | None = None
        if with_core:
            from . import builtin

            self.manager.register(builtin, name=CORE_PLUGIN)

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
                    f"(installed plugins: {installed}); install the distribution xtomp-{name.split('_')[0]} "
                    f"or rename the file to *.disabled"
                )
            self.register(name, _load(point))

    def register(self, name: str, plugin: object) -> None:
        """Register an already imported plugin object (tests and embedding use this)."""
        _check_hook_names(name, plugin)
        try:
            self.manager.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise ConfigError(f"plugin {name}: {error}") from None
        self.enabled.append(name)

    def check_requirements(self, origins: dict[str, str] | None = None) -> None:
        """Every plugin's ``xtomp_requires`` names an enabled plugin."""
        enabled = set(self.enabled)
        for name in self.enabled:
            plugin = self.manager.get_plugin(name)
            required = getattr(plugin, REQUIRES, ())
            if isinstance(required, str) or not all(isinstance(item, str) for item in required):
                raise ConfigError(f"plugin {name}: {REQUIRES} must be a list of plugin names, not {required!r}")
            for needed in required:
                if needed not in enabled:
                    where = (origins or {}).get(name, "config")
                    raise ConfigError(
                        f"{where}: plugins.{name}: plugin {name!r} requires plugin {needed!r}, which is not "
                        f"enabled: add a [plugins.{needed}] table"
                    )

    @property
    def backplanes(self) -> list[str]:
        """The enabled plugins that declare ``xtomp_backplane = True``."""
        found = []
        for name in self.enabled:
            declared = getattr(self.manager.get_plugin(name), BACKPLANE, False)
            if not isinstance(declared, bool):
                raise ConfigError(f"plugin {name}: {BACKPLANE} must be True or False, not {declared!r}")
            if declared:
                found.append(name)
        return found

    def check_workers(self, server: Section) -> None:
        """``workers`` above 1 needs a backplane: without one each process would hold its own
        destinations, and a message sent to one worker would miss the subscribers of the others."""
        from .config.workers import worker_count

        count = worker_count(server)
        if count > 1 and not self.backplanes:
            asked = server["workers"]
            shown = f"{toml_string(str(asked))} ({count} CPUs)" if asked == "auto" else str(asked)
            if asked == 0:
                shown = f"0 ({count} CPUs)"
            raise ConfigError(
                f"{server.origin('workers')}: server.workers: {shown} worker processes need a backplane plugin, "
                "so that destinations span them (a message sent through one worker reaches the subscribers of "
                "all): enable one with a [plugins.cluster] table (xtomp-cluster, on Redis), or set workers = 1"
            )

    @property
    def hints(self) -> ProviderHints:
        if self._hints is None:
            self._hints = ProviderHints(self.enabled)
        return self._hints

    def _each_impl(self, hook_name: str, make_argument: Callable[[str], dict[str, Any]]) -> None:
        """Call every implementation of a start-up hook on its own, telling it who it is.

        Registration hooks are called one implementation at a time so that each registry
        entry (and each directive) records the plugin that made it.
        """
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order: the core first
            arguments = make_argument(impl.plugin_name)
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
            except ConfigError:
                raise
            except Exception as error:
                from .plugin_errors import plugin_failure

                raise plugin_failure(impl.plugin_name, hook_name, error) from error

    def directives(self) -> DirectiveSet:
        directives = DirectiveSet()

        def argument(plugin: str) -> dict[str, Any]:
            directives.current_plugin = plugin
            return {"directives": directives}

        self._each_impl("xtomp_add_directives", argument)
        directives.current_plugin = CORE_PLUGIN
        return directives

    def registries(self) -> Registries:
        hint = self.hints.__call__
        built = {kind: Registry[Any](kind, hint) for _, kind in REGISTRATIONS}
        for hook_name, kind in REGISTRATIONS:
            registry = built[kind]
            self._each_impl(hook_name, _registrar_argument(registry))
            registry.freeze()
        return Registries(*built.values())


class ProviderHints:
    """Which installed plugin that is not enabled provides a name: what an error should suggest.

    Asked only on the error path: the first question imports every installed plugin that is
    not enabled into a scratch plugin manager and runs its declaration and registration hooks.
    """

    def __init__(self, enabled: Iterable[str]) -> None:
        self.enabled = set(enabled)
        self._provided: dict[tuple[str, str], PluginEntryPoint] | None = None

    def __call__(self, kind: str, name: str) -> str | None:
        provided = self._provided
        if provided is None:
            provided = self._provided = self._survey()
        point = provided.get((kind, name))
        if point is None:
            return None
        return (
            f"plugin {point.name!r} (installed with {point.distribution}) provides it: "
            f"enable it with a [plugins.{point.name}] table"
        )

    def _survey(self) -> dict[tuple[str, str], PluginEntryPoint]:
        found: dict[tuple[str, str], PluginEntryPoint] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            if point.name in self.enabled:
                continue
            try:
                host = PluginHost(with_core=False)
                host.register(point.name, point.load())
                for registry in vars(host.registries()).values():
                    for item_name in registry:
                        found.setdefault((registry.kind, item_name), point)
                for scope in (directives := host.directives()).scopes():
                    for directive_name in directives.scope(scope):
                        found.setdefault(("directive", directive_name), point)
            except Exception as error:  # a broken plugin must not hide the user's real error
                log.debug("plugin %s could not be surveyed for hints: %s", point.name, error)
        return found


def _check_hook_names(name: str, plugin: object) -> None:
    """A function named ``xtomp_...`` that is no hook is a misspelling, and a hook
    implementation may only ask for arguments its hook has: refuse either by name."""
    known = [hook for hook in dir(hookspecs) if hook.startswith(_HOOK_PREFIX)]
    for attribute in dir(plugin):
        if not attribute.startswith(_HOOK_PREFIX) or attribute in (REQUIRES, BACKPLANE):
            continue
        function = getattr(plugin, attribute, None)
        if not callable(function):
            continue
        if attribute not in known:
            import difflib  # only on this error path

            close = difflib.get_close_matches(attribute, known, n=1)
            meant = f": did you mean {close[0]}?" if close else f" (hooks: {', '.join(sorted(known))})"
            raise ConfigError(f"plugin {name}: {attribute} is not an xtomp hook{meant}")
        spec = list(inspect.signature(getattr(hookspecs, attribute)).parameters)
        try:
            asked = list(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            continue
        extra = [argument for argument in asked if argument not in spec]
        if extra:
            raise ConfigError(
                f"plugin {name}: {attribute}({', '.join(asked)}): the hook has no argument "
                f"{', '.join(extra)}; it offers ({', '.join(spec)})"
            )


def _registrar_argument(registry: Registry[Any]) -> Callable[[str], dict[str, Any]]:
    def argument(plugin: str) -> dict[str, Any]:
        return {"registry": registry.scoped(plugin)}

    return argument


def _load(point: PluginEntryPoint) -> object:
    try:
        return point.load()
    except Exception as error:  # the plugin's own import failed: say which plugin
        raise ConfigError(f"plugin {point.name!r} ({point.value}) failed to import: {error}") from error
