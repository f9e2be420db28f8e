"""Hook implementations of the admin plugin (entry point ``admin`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import ConfigError, DirectiveSet, StashKey, hookimpl, plugin_scope

from .admin import DEFAULT_LISTEN, Admin, admin_address

if TYPE_CHECKING:
    from xtomp_core import BrokerView, Config

__all__ = ["admin_for"]

SCOPE = plugin_scope("admin")
KIB = 1024

#: The running admin endpoint of a broker (a process may run several, as tests do).
_ADMIN = StashKey[Admin]("admin")


def admin_for(broker: BrokerView) -> Admin | None:
    """The admin endpoint serving ``broker``, once it started."""
    return broker.stash.get(_ADMIN)


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    d("listen", "str", DEFAULT_LISTEN, SCOPE,
      "HOST:PORT of the admin HTTP listener (/health, /stats, /metrics, the console). Keep it on loopback: "
      "nothing on it asks for a password.")
    d("console", "bool", True, SCOPE, "Serve the web console at / (false: only /health, /stats and /metrics).")
    d("max_request_size", "size", 8 * KIB, SCOPE,
      "Largest HTTP request head (request line and headers) accepted; beyond it the answer is 431.",
      minimum=1 * KIB)
    d("request_timeout", "duration", 10.0, SCOPE,
      "Time an HTTP client has to send a complete request, from connecting or from the previous answer; "
      "idle keep-alive connections close after it.", minimum=0.1)
    d("max_connections", "int", 32, SCOPE, "Most HTTP connections open at once (503 beyond it).", minimum=1)


@hookimpl
def xtomp_configure(config: Config) -> None:
    settings = config.plugins["admin"]
    try:
        admin_address(settings["listen"])
    except ValueError as problem:
        raise ConfigError(f"{settings.where('listen')}: plugins.admin.listen: {problem}") from None


@hookimpl
def xtomp_startup(broker: BrokerView) -> Any:
    admin = broker.stash[_ADMIN] = Admin(broker, broker.config.plugins["admin"])
    return admin.start()


@hookimpl
def xtomp_shutdown(broker: BrokerView) -> Any:
    admin = broker.stash.pop(_ADMIN)
    return admin.close() if admin is not None else None


@hookimpl
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    admin = broker.stash.get(_ADMIN)
    if admin is not None:
        stats["admin"] = admin.figures()
