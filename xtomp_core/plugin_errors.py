"""Turning a plugin's unexpected exception into a config error or a log line that names the plugin."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, XtompError

__all__ = ["plugin_failure", "call_each", "call_checked"]

log = logging.getLogger("xtomp.plugins")


def plugin_failure(plugin: str, what: str, error: BaseException) -> ConfigError:
    """A ConfigError for an exception raised by a plugin's code at start-up."""
    detail = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in detail:
        detail = f"{detail}: {error.filename}"
    return ConfigError(f"plugin {plugin}: {what}: {type(error).__name__}: {detail}")


def _call_impls(caller: Any, kwargs: dict[str, Any], failed: Callable[[str, Exception], None]) -> list[Any]:
    """Call each implementation of a hook on its own, in pluggy's order (the last registered
    first); ``failed(plugin, error)`` decides what an exception means. Returns the results."""
    results = []
    for impl in reversed(caller.get_hookimpls()):
        function: Callable[..., Any] = impl.function
        try:
            results.append(function(**{name: kwargs[name] for name in impl.argnames}))
        except Exception as error:
            failed(impl.plugin_name, error)
    return results


def call_each(caller: Any, **kwargs: Any) -> list[Any]:
    """Call every implementation of a notification hook: one plugin's exception is logged
    with its name and does not keep the others from being called."""

    def failed(plugin: str, error: Exception) -> None:
        log.error("plugin %s: %s failed", plugin, caller.name, exc_info=error)

    return _call_impls(caller, kwargs, failed)


def call_checked(caller: Any, **kwargs: Any) -> list[Any]:
    """Call every implementation of a start-up hook; an exception that is not an
    ``XtompError`` becomes a ConfigError naming the plugin (never a traceback)."""

    def failed(plugin: str, error: Exception) -> None:
        if isinstance(error, XtompError):
            raise error
        raise plugin_failure(plugin, caller.name, error) from error

    return _call_impls(caller, kwargs, failed)
