"""Reloading a running broker's configuration (SIGHUP) without dropping anyone.

Theory of operation
-------------------
:func:`check` reads the same path again and runs the whole start-up check on it (``xtomp -t``:
a throw-away :class:`Broker` built with the running plugins and registries, whose
destinations are closed at once). Anything wrong is a :class:`~xtomp_core.ConfigError` and
the running configuration stays. A valid configuration that changes what only a restart can
apply is refused with :class:`RestartNeeded`: another set of enabled plugins, a changed
``[plugins.NAME]`` table (plugins read their settings at start-up), or a ``[server]``
directive outside :data:`LIVE_SERVER_KEYS` (listeners, TLS files, logging target, pid file).

:func:`apply` then swaps, in one event-loop callback, what can change live. Everything that
can fail is built first; the swap itself raises nothing:

- ``[server]`` limits (a new :class:`~xtomp_core.Limits`): connections opened from now on get
  them; checks made at use (``max_subscriptions``, ``write_buffer_max``, ``frame_timeout``,
  ``linger``, transaction limits of a connection's first BEGIN) apply to open ones too;
  the frame size limits and heart-beats an open connection negotiated stay;
- connection caps and ``max_memory``, at the next accept or the next byte counted;
- users, the authentication chain (login, secret, token and rate-limit settings,
  ``protected_mode``, ``virtual_hosts``) for the next CONNECT; refused-login counts carry over;
- access rules: the next SUBSCRIBE and the next SEND of every session are checked against
  the new rules (sessions forget what they had checked); subscriptions already made stay;
- destinations: declared ones the new configuration adds are created; a live destination
  gets the new version of its table (exact name, prefix rule or ``[destination_defaults]``):
  the core's settings (``max_connections``, ``max_messages``, ``max_message_size``,
  ``web_*_block``, ``allow_*``, ``stats``) apply at once; a type's own settings
  (``prefetch``, ``slow_consumer``...) are read by its destinations when they are created, so
  they apply to destinations created from now on (a declared one: after a restart), and a
  log line says so; a changed ``type``, or a table that is gone, leaves the running
  destination as it is until a restart, also logged;
- the ``/xtomp/stat`` publisher is restarted with the new ``stats_interval``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..config import Config, build_config, enabled_plugins, read_config
from ..errors import ConfigError, XtompError
from ..limits import Limits
from ..security.access import AccessControl
from ..security.admission import default_connection_limit
from ..security.users import UserDirectory
from .auth import AuthServices, build_auth_chain, chain_names, check_chain
from .destinations import destination_type
from .memory import default_max_memory
from .session import Session

if TYPE_CHECKING:
    from pathlib import Path

    from ..config.model import Section
    from ..destination import Destination
    from .broker import Broker

__all__ = ["RestartNeeded", "LIVE_SERVER_KEYS", "CORE_DESTINATION_KEYS", "check", "apply"]

log = logging.getLogger("xtomp.server")

#: The ``[server]`` directives a reload applies; a change to any other one needs a restart.
LIVE_SERVER_KEYS = frozenset(
    {
        "log_level",
        "stats_interval",
        "timeout",
        "linger",
        "heart_beat_read",
        "heart_beat_write_min",
        "heart_beat_write_max",
        "heart_beat_grace",
        "authenticators",
        "login",
        "passcode",
        "virtual_hosts",
        "max_frame_size",
        "max_headers",
        "max_header_length",
        "max_subscriptions",
        "max_transactions",
        "max_transaction_frames",
        "max_destinations",
        "max_memory",
        "write_buffer_high",
        "write_buffer_low",
        "secret",
        "secret_timeout",
        "secret_clock_skew",
        "secret_algorithm",
        "tls_login_field",
        "auth_failure_delay",
        "auth_max_failures",
        "auth_failure_window",
        "auth_failure_table_size",
        "max_frame_size_unauthenticated",
        "frame_timeout",
        "write_buffer_max",
        "connection_limit",
        "protected_mode",
        "connection_limit_per_address",
    }
)

#: Destination settings every destination reads at use (the base class's and the access
#: rules): a reload applies them to live destinations.
CORE_DESTINATION_KEYS = frozenset(
    {
        "max_connections",
        "max_messages",
        "max_message_size",
        "web_read_block",
        "web_write_block",
        "allow_send",
        "allow_subscribe",
        "allow_create",
        "stats",
    }
)


class RestartNeeded(ConfigError):
    """The new configuration is valid, but changes something only a restart applies."""


def check(broker: Broker, path: str | Path) -> Config:
    """Read ``path`` and check it as ``xtomp -t`` would, with the running plugins; raise
    ConfigError (or RestartNeeded) rather than return a configuration :func:`apply` cannot use."""
    raw = read_config(path, broker.global_directives)
    names = enabled_plugins(raw)
    host = broker.host
    if sorted(names) != sorted(host.enabled):
        raise RestartNeeded(
            f"{path}: the enabled plugins change ({', '.join(sorted(host.enabled)) or 'none'} -> "
            f"{', '.join(sorted(names)) or 'none'}): a restart is needed to apply this configuration"
        )
    config = build_config(raw, host.directives(), names, hint=host.hints)
    _restart_only(broker.config, config)
    # The whole start-up check: core checks, configure hooks, destination and authenticator
    # factories, on a broker that never starts (its destinations are closed at once).
    candidate = type(broker)(config, host, broker.registries)
    candidate.table.close_all()
    before = [address.text for address in broker.listen_addresses]
    after = [address.text for address in candidate.listen_addresses]
    if before != after:
        raise RestartNeeded(
            f"{path}: the listeners change ({', '.join(before)} -> {', '.join(after)}): "
            "a restart is needed to apply this configuration"
        )
    return config


def _restart_only(old: Config, new: Config) -> None:
    problems = []
    for key in sorted(set(old.server) | set(new.server)):
        if key not in LIVE_SERVER_KEYS and old.server.get(key) != new.server.get(key):
            problems.append(f"{new.server.where(key)}: server.{key} changed")
    for name in sorted(set(old.plugins) | set(new.plugins)):
        before, after = old.plugins.get(name), new.plugins.get(name)
        if before != after:
            where = after.file if after is not None else "config"
            problems.append(f"{where}: plugins.{name} changed (plugins read their settings at start-up)")
    if problems:
        raise RestartNeeded("\n".join(problems) + "\na restart is needed to apply this configuration")


def apply(broker: Broker, config: Config) -> None:
    """Swap in what can change live (see the module docstring); ``config`` comes from :func:`check`."""
    old = broker.config
    server = config.server
    # Build everything first: nothing below the swap line may fail half-way.
    limits = Limits.from_section(server)
    users = UserDirectory(config.users)
    names = chain_names(config, users)
    check_chain(config, names, broker.registries.authenticators)
    access = AccessControl(config)
    auth_context = AuthServices(config, broker.stash, users)
    chain = build_auth_chain(names, broker.registries.authenticators, auth_context)
    # -- the swap ---------------------------------------------------------------------------
    chain.refused = broker.auth.refused
    if chain.failures is not None and broker.auth.failures is not None and _same(
        old.server, server, "auth_max_failures", "auth_failure_window", "auth_failure_table_size"
    ):
        chain.failures = broker.auth.failures  # who is locked out stays locked out
    broker.replace_config(config)
    broker.limits = limits
    broker.virtual_hosts = frozenset(name.encode() for name in server["virtual_hosts"])
    broker.users = users
    broker.auth_context = auth_context
    broker.auth = chain
    broker.access = access if access.restricted else None
    admission = broker.admission
    limit = server["connection_limit"]
    admission.limit = limit if limit is not None else default_connection_limit()
    admission.per_address = server["connection_limit_per_address"]
    memory = server["max_memory"] if server["max_memory"] is not None else default_max_memory()
    if memory != broker.memory.limit:
        broker.memory.set_limit(memory)
    table = broker.table
    table.reconfigure(config, limits, broker.access)
    _update_destinations(broker, old, config)
    for session in list(broker.registry.sessions):
        if isinstance(session, Session):
            session.forget_send_checks()
    broker.restart_stats()


def _same(old: Section, new: Section, *keys: str) -> bool:
    return all(old[key] == new[key] for key in keys)


def _new_table(old: Config, new: Config, name: str, settings: Section) -> Section | None:
    """The new version of the table ``settings`` came from (``settings`` itself when a plugin
    made it); None when the new configuration no longer has it."""
    declared = new.destinations.get(name)
    if declared is not None:
        return declared
    if settings is old.destination_defaults:
        return new.destination_defaults
    if old.destinations.get(name) is settings:
        return None
    for prefix, rule in old.prefixes:
        if rule is settings:
            return dict(new.prefixes).get(prefix)
    return settings


def _update_destinations(broker: Broker, old: Config, new: Config) -> None:
    table = broker.table
    for destination in list(table.by_name.values()):
        name = destination.name.decode("utf-8", "replace")
        settings = destination.settings
        fresh = _new_table(old, new, name, settings)
        if fresh is settings:
            continue
        if fresh is None:
            log.warning(
                "reload: destination %r: its table is gone from the configuration; it keeps its settings "
                "until a restart", name,
            )
            continue
        if destination_type(fresh) != destination_type(settings):
            log.warning(
                "reload: destination %r: its type changes from %r to %r: a restart is needed for that; it keeps "
                "its settings", name, destination_type(settings), destination_type(fresh),
            )
            continue
        _retune(destination, fresh)
        if name in new.destinations:
            destination.auto_created = False
    for name, section in new.destinations.items():
        if name.encode() not in table.by_name:
            try:
                table.create(name.encode(), section)
            except XtompError as error:  # checked by check(); a plugin may still refuse now
                log.error("reload: destination %r could not be created: %s", name, error)
            else:
                log.info("reload: destination %r created", name)


def _retune(destination: Destination, fresh: Section) -> None:
    settings = destination.settings
    changed = sorted(key for key in set(settings) | set(fresh) if settings.get(key) != fresh.get(key))
    destination.settings = fresh
    destination.max_connections = fresh["max_connections"]
    destination.max_messages = fresh["max_messages"]
    destination.max_message_size = fresh["max_message_size"]
    destination.web_read_block = fresh["web_read_block"]
    destination.web_write_block = fresh["web_write_block"]
    own = [key for key in changed if key not in CORE_DESTINATION_KEYS]
    if own:
        log.info(
            "reload: destination %r: %s changed: a destination type may read its own settings only when it "
            "creates a destination, so they are sure to apply to destinations created from now on (to this "
            "one after a restart)",
            destination.name.decode("utf-8", "replace"), ", ".join(own),
        )
