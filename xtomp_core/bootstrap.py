"""From a config path to a ready Broker: read files, load the enabled plugins, validate, build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .broker.broker import Broker
from .config import Config, build_config, enabled_plugins, read_config
from .plugins import PluginHost
from .server.connections import prepare_listeners

if TYPE_CHECKING:
    from pathlib import Path  # annotations only: pathlib is not imported at start-up (config/loader.py)

__all__ = ["load_config", "build_broker"]


def load_config(
    path: str | Path, host: PluginHost | None = None, global_directives: str | None = None
) -> tuple[Config, PluginHost]:
    """Read ``path``, import exactly the plugins its ``[plugins.NAME]`` tables enable, validate.

    ``host`` may come with extra plugins already registered (tests, embedding);
    ``global_directives`` are those of ``xtomp -g``.
    """
    raw = read_config(path, global_directives)
    names = enabled_plugins(raw)
    host = host if host is not None else PluginHost()
    origins = {name: raw.origin(("plugins", name)) for name in names}
    host.load([name for name in names if name not in host.enabled], origins)
    host.check_requirements(origins)
    config = build_config(raw, host.directives(), names, hint=host.hints)
    host.check_workers(config.server)
    return config, host


def build_broker(path: str | Path, host: PluginHost | None = None, global_directives: str | None = None) -> Broker:
    """The whole start-up check: config, plugins, registries, configure hooks, destinations,
    authenticators, listeners."""
    config, host = load_config(path, host, global_directives)
    broker = Broker(config, host)
    broker.global_directives = global_directives  # a reload reads them again with the files
    prepare_listeners(broker)
    return broker
