"""Declared, strict configuration: directives, TOML loading with includes, validation, rendering."""

from .directives import DESTINATION, SERVER, Directive, DirectiveSet, plugin_scope
from .loader import RawConfig, read_config
from .model import Config, Section
from .validate import build_config, enabled_plugins

__all__ = [
    "DESTINATION",
    "SERVER",
    "Config",
    "Directive",
    "DirectiveSet",
    "RawConfig",
    "Section",
    "build_config",
    "enabled_plugins",
    "plugin_scope",
    "read_config",
]
