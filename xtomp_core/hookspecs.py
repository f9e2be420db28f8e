"""Every hook a plugin can implement, grouped by phase.

Hooks run at the edges only: start-up (declare directives, register implementations,
check config), lifecycle (start, stop), first use of a destination name, connection open
and close, and stats collection. None runs per frame, per message or per subscriber: what
a hook returns is compiled into dicts and bound methods that the hot path calls directly.

Implement a hook with the ``hookimpl`` marker exported by :mod:`xtomp_core`::

    from xtomp_core import hookimpl

    @hookimpl
    def xtomp_register_destination_types(registry):
        registry.register("blackhole", Blackhole)

A plugin is a module (or object) named by an entry point in the ``xtomp.plugins`` group;
the entry-point name is the plugin's name and the name of its ``[plugins.NAME]`` table.
It is imported only when that table is present in the configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .config.directives import DirectiveSet
    from .config.model import Config
    from .destination import Destination, DestinationContext, Session
    from .interfaces import BrokerView
    from .registry import Registrar

PROJECT = "xtomp"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- start-up: declarations and registrations (called once, before the broker exists) -----


@hookspec
def xtomp_add_directives(directives: DirectiveSet) -> None:
    """Declare the plugin's configuration directives.

    Use ``directives.declare(name, kind, default, scope, help)``; each directive is credited
    to the plugin whose hook declared it. ``scope`` is
    ``"destination"`` for per-destination settings (valid in ``[destination_defaults]`` and
    ``[destinations."NAME"]``), ``"server"`` for broker-wide ones, or
    ``plugin_scope(NAME)`` for keys of the plugin's own ``[plugins.NAME]`` table. A key
    nobody declared is a config error, so every setting a plugin reads must be declared here.
    """


@hookspec
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    """Register destination types: ``registry.register("queue", factory)``.

    ``factory(name: bytes, settings: Section, context: DestinationContext) -> Destination``
    (a :class:`~xtomp_core.Destination` subclass) is called when a destination of that
    ``type`` is first needed: at start-up for names declared in the config (after every
    ``xtomp_configure``; an exception there is a config error naming the plugin), on first
    use for names matched by a prefix rule.
    """


@hookspec
def xtomp_register_filter_engines(registry: Registrar[Any]) -> None:
    """Register subscription filter engines (a :class:`~xtomp_core.FilterEngine`).

    An engine names the SUBSCRIBE header it reads (``filter``, ``selector``) and compiles
    its value once per SUBSCRIBE into a callable the destination calls per message.
    """


@hookspec
def xtomp_register_transports(registry: Registrar[Any]) -> None:
    """Register listener transports by URL scheme (``tcp`` in the core, ``ws``, ``tls``...).

    A transport is a :class:`~xtomp_core.Transport`: ``transport.prepare(address, context)``
    checks one listener's configuration (``xtomp -t`` too), ``await transport.listen(address,
    context)`` returns a server object with ``close()`` and ``wait_closed()`` and the bound
    addresses. ``context.connection(framing)`` makes the core's STOMP connection for each
    accepted socket.
    """


@hookspec
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    """Register authenticator factories by name; ``[server] authenticators`` orders the chain.

    ``factory(context: AuthContext) -> Authenticator`` runs once, after every
    ``xtomp_configure``, only for names in the chain; an exception there is a config error
    naming the plugin.
    """


@hookspec
def xtomp_register_session_destinations(registry: Registrar[Any]) -> None:
    """Register names that mean something different on each connection, by prefix.

    ``registry.register("/temp-queue/", resolve)``: a SEND or SUBSCRIBE whose destination
    starts with the prefix is given ``resolve(context, session, name) -> Destination`` instead of
    the broker's shared lookup (a temporary queue private to that connection). Called once
    per SUBSCRIBE and on the first SEND of a connection to that name (then memoized).
    """


@hookspec
def xtomp_register_send_headers(registry: Registrar[Any]) -> None:
    """Register SEND headers whose value the broker rewrites before the message is published.

    ``registry.register("reply-to", rewrite)``: for a SEND carrying that header,
    ``rewrite(context, session, value) -> bytes | None`` returns the value subscribers will see
    (None keeps it). Costs one dict lookup per SEND and header registered; keep it rare.
    """


@hookspec
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    """Check the frozen configuration as a whole; raise ``ConfigError`` naming file and key.

    Called once after every registry is built and frozen (also by ``xtomp -t``), before
    any destination or authenticator is built. Any other exception is reported as a
    config error naming the plugin.
    """


# -- first use of a name that no [destinations] entry or prefix rule matches ---------------


@hookspec(firstresult=True)
def xtomp_resolve_destination(name: bytes, context: DestinationContext) -> Destination | None:
    """Create a destination for an undeclared ``name``, or return None to decline.

    Called once per name: the answer is memoized by the broker (until the destination is
    removed). Returning None from every plugin makes the name unknown
    (ERROR ``destination unknown``).
    """


# -- lifecycle ------------------------------------------------------------------------------


@hookspec
def xtomp_startup(broker: BrokerView) -> Any:
    """The broker is about to accept connections; may return an awaitable (awaited in order)."""


@hookspec
def xtomp_shutdown(broker: BrokerView) -> Any:
    """The broker stopped accepting and closed its sessions; may return an awaitable."""


# -- connections ----------------------------------------------------------------------------


@hookspec
def xtomp_session_opened(session: Session, broker: BrokerView) -> None:
    """A client completed CONNECT. Notification only: do not block. An exception is
    logged with the plugin's name and affects nobody else."""


@hookspec
def xtomp_session_closed(session: Session, reason: str, broker: BrokerView) -> None:
    """A connected session ended (``reason`` says why: DISCONNECT, ERROR text, EOF...).

    Every implementation is called even when another raises; an exception is logged
    with the plugin's name."""


# -- statistics -----------------------------------------------------------------------------


@hookspec
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    """Add the plugin's figures to ``stats`` (a JSON-able dict) when statistics are taken."""
