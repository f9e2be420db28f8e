"""The broker: what one running broker owns, its lifecycle, and the view its hooks get.

Its parts live beside it: the destination table (``destinations.py``, also the context
destinations get), the session registry and counters (``sessions.py``), the connection log
(``connlog.py``), the authentication chain (``auth.py``) and the figures (``stats.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..config.listen import parse_listen
from ..config.workers import worker_count
from ..errors import ConfigError
from ..limits import Limits
from ..plugin_errors import call_checked, call_each
from ..primitives import Stash
from ..security.access import AccessControl
from ..security.admission import Admission
from ..security.checks import check_security
from ..security.users import UserDirectory
from .auth import AuthChain, AuthServices, build_auth_chain, chain_names, check_chain
from .connlog import log_closed, log_opened
from .destinations import DestinationTable
from .memory import MemoryGuard, default_max_memory
from .sessions import SessionList, SessionRegistry
from .stats import STAT_DESTINATION, StatPublisher, cpu_times, resident_memory

if TYPE_CHECKING:
    from ..config.model import Config
    from ..destination import Destination, DestinationContext, Session
    from ..interfaces import FilterEngine
    from ..plugins import PluginHost, Registries
    from ..primitives import ListenAddress

__all__ = ["Broker"]

log = logging.getLogger("xtomp.broker")


class Broker:
    """Owns the destinations and sessions of one running broker (a :class:`~xtomp_core.BrokerView`).

    Built from a validated :class:`~xtomp_core.Config` and the loaded plugins; the
    registries are frozen by then. The order is that of a configuration check: core
    checks, then every ``xtomp_configure`` hook, then the plugins' factories (the
    destinations declared by exact name, the authenticators), each failure a ConfigError
    naming file and key or the plugin, so ``xtomp -t`` never prints a traceback.
    """

    def __init__(self, config: Config, host: PluginHost, registries: Registries | None = None) -> None:
        self._config = config
        self.host = host
        self.hook = host.hook
        self.registries = registries if registries is not None else host.registries()
        self.limits = Limits.from_section(config.server)
        self._stash = Stash()
        limit = config.server["max_memory"]
        self.memory = MemoryGuard(limit if limit is not None else default_max_memory())
        self.virtual_hosts = frozenset(name.encode() for name in config.server["virtual_hosts"])
        self.server_header = b"xtomp/" + __version__.encode()
        #: ``xtomp -g`` directives, applied again on each reload.
        self.global_directives: str | None = None
        #: (index, count): index is set in each worker process (:meth:`set_worker`).
        self._worker = (0, worker_count(config.server))
        self.table = DestinationTable(
            config,
            self.limits,
            self.registries.destination_types,
            self._stash,
            self.memory,
            self.hook.xtomp_resolve_destination,
            tuple((prefix.encode(), resolve) for prefix, resolve in self.registries.session_destinations.items()),
        )
        self._session_ids = itertools.count(1)
        #: The message id counter (shared with the destination table).
        self.message_ids = self.table.message_ids
        self.filter_engines: dict[bytes, FilterEngine] = {
            engine.header: engine for _, engine in self.registries.filter_engines.items()
        }
        #: ``check_unfiltered`` of every engine: asked about each SUBSCRIBE without a filter.
        self.unfiltered_checks: tuple[Callable[[Destination], None], ...] = tuple(
            engine.check_unfiltered for engine in self.filter_engines.values()
        )
        #: SEND header name -> ``rewrite(context, session, value)``; empty unless a plugin registers one.
        self.send_header_rewrites: dict[bytes, Callable[[DestinationContext, Session, bytes], bytes | None]] = {
            name.encode(): rewrite for name, rewrite in self.registries.send_headers.items()
        }
        self.users = UserDirectory(config.users)
        names = chain_names(config, self.users)
        check_chain(config, names, self.registries.authenticators)
        access = AccessControl(config)
        if access.names_principals and not names:
            raise ConfigError(
                f"{access.first_naming}: names users or groups, but no authenticator is configured, so any "
                "client could claim any login: set server.authenticators (or login, secret, or [users] passwords)"
            )
        #: The compiled access rules; None when no destination restricts anyone (no checks at all).
        self.access: AccessControl | None = access if access.restricted else None
        self.table.access = self.access
        #: Connection caps (global and per client address), applied by the transports at accept.
        self.admission = Admission(config.server["connection_limit"], config.server["connection_limit_per_address"])
        self.registry = SessionRegistry()
        self._started_at = time.time()
        self._stat_publisher: StatPublisher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Bound addresses per listen entry, filled when the listeners start.
        self._listening: list[tuple[ListenAddress, list[tuple[str, int]]]] = []
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        #: The loop's write coalescer (:class:`~xtomp_core.server.connection.Flusher`), set at start.
        self.flusher: Any = None
        self._listen_addresses = self._parse_listen_addresses()
        check_security(self)
        call_checked(self.hook.xtomp_configure, config=config, broker=self)
        self.table.create_declared()
        if not names and config.server["protected_mode"]:
            log.info("protected mode: no authenticator is configured, so only loopback clients may connect "
                     "(set protected_mode = false to let anyone in)")
        #: What authenticator factories are given.
        self.auth_context = AuthServices(config, self._stash, self.users)
        self.auth: AuthChain = build_auth_chain(names, self.registries.authenticators, self.auth_context)

    def _parse_listen_addresses(self) -> list[ListenAddress]:
        server = self._config.server
        addresses = []
        for text in server["listen"]:
            try:
                address = parse_listen(text)
            except ValueError as problem:
                raise ConfigError(f"{server.origin('listen')}: server.listen: {problem}") from None
            addresses.append(self._known_scheme(address, server.origin("listen"), "server.listen"))
            if address.port == 0 and self._worker[1] > 1:
                raise ConfigError(
                    f"{server.origin('listen')}: server.listen: {address.text!r}: port 0 with {self._worker[1]} "
                    "workers would give each worker a port of its own: give the port clients connect to"
                )
        return addresses

    def _known_scheme(self, address: ListenAddress, origin: str, key: str) -> ListenAddress:
        if address.scheme not in self.registries.transports:
            raise ConfigError(f"{origin}: {key}: {address.text!r}: " + self.registries.transports.missing(address.scheme))
        return address

    # -- BrokerView -----------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def stash(self) -> Stash:
        return self._stash

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def destinations(self) -> Mapping[bytes, Destination]:
        return self.table.by_name

    @property
    def context(self) -> DestinationContext:
        return self.table

    @property
    def listen_addresses(self) -> list[ListenAddress]:
        return self._listen_addresses

    @property
    def listening(self) -> list[tuple[ListenAddress, list[tuple[str, int]]]]:
        return self._listening

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def worker(self) -> tuple[int, int]:
        return self._worker

    def set_worker(self, index: int, count: int) -> None:
        """Which worker process this is (:mod:`xtomp_core.server.workers`, right after the fork).

        With several workers, CONNECTED's ``server`` header (and HTTP's ``Server``) says which
        one a client reached, as a comment: ``xtomp/VERSION (worker 2 of 4)``, numbered from 1.
        """
        self._worker = (index, count)
        self.server_header = b"xtomp/" + __version__.encode()
        if count > 1:
            self.server_header += b" (worker %d of %d)" % (index + 1, count)

    @property
    def accepting(self) -> bool:
        """Listening and not shutting down (what a health check asks)."""
        return bool(self._listening) and self._stopping is not None and not self._stopping.is_set()

    def add_listener(self, address: ListenAddress) -> None:
        self._listen_addresses.append(self._known_scheme(address, "config", "listen"))

    def registered(self, kind: str, name: str) -> Any:
        for registry in vars(self.registries).values():
            if registry.kind == kind:
                return registry.get(name)
        raise KeyError(f"no registry of {kind!r}")

    # -- sessions ---------------------------------------------------------------------------

    @property
    def sessions(self) -> SessionList:
        return self.registry.sessions

    @property
    def connected_sessions(self) -> int:
        return self.registry.connected

    def new_session_id(self) -> bytes:
        return b"%d" % next(self._session_ids)

    def session_created(self, session: Session) -> None:
        self.registry.created(session)

    def session_started(self, session: Session) -> None:
        """CONNECT completed."""
        self.registry.started()
        log_opened(session)
        call_each(self.hook.xtomp_session_opened, session=session, broker=self)

    def session_ended(self, session: Session, reason: str, was_connected: bool) -> None:
        """Every connection ends here once, connected or not; the hook hears of connected ones."""
        self.registry.ended(session, was_connected)
        log_closed(session, reason)
        if was_connected:
            call_each(self.hook.xtomp_session_closed, session=session, reason=reason, broker=self)

    # -- asynchronous helpers ---------------------------------------------------------------

    def run_async(self, awaitable: Awaitable[Any], done: Callable[[Any], None]) -> None:
        """Run ``awaitable`` on the loop; call ``done(result or exception)`` when it ends."""
        assert self._loop is not None, "the broker is not running"
        future = asyncio.ensure_future(awaitable, loop=self._loop)
        self._tasks.add(future)

        def finished(task: asyncio.Future[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            error = task.exception()
            done(error if error is not None else task.result())

        future.add_done_callback(finished)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.table.loop = loop
        self.memory.start(loop)
        self._stopping = asyncio.Event()
        self._started_at = time.time()
        for result in self.hook.xtomp_startup(broker=self):
            if inspect.isawaitable(result):
                await result
        self.restart_stats()

    def restart_stats(self) -> None:
        """(Re)start the ``/xtomp/stat`` publisher per the current configuration (start, reload)."""
        if self._stat_publisher is not None:
            self._stat_publisher.stop()
            self._stat_publisher = None
        interval = self._config.server["stats_interval"]
        if self._loop is not None and STAT_DESTINATION.decode() in self._config.destinations and interval > 0:
            self._stat_publisher = StatPublisher(self, self.destinations[STAT_DESTINATION], interval)
            self._stat_publisher.start(self._loop)

    def replace_config(self, config: Config) -> None:
        """A reload's new configuration (:mod:`xtomp_core.broker.reload` swaps the parts that use it)."""
        self._config = config

    def listener_started(self, address: ListenAddress, bound: list[tuple[str, int]]) -> None:
        self._listening.append((address, bound))

    def stop(self) -> None:
        """Ask the broker to shut down (signal handlers call this)."""
        if self._stopping is not None:
            self._stopping.set()

    async def wait_stopped(self) -> None:
        assert self._stopping is not None
        await self._stopping.wait()

    async def close(self) -> None:
        """Close every session, then run the shutdown hooks."""
        if self._stat_publisher is not None:
            self._stat_publisher.stop()
            self._stat_publisher = None
        for session in list(self.registry.sessions):
            session.close("broker shutting down")
        for result in call_each(self.hook.xtomp_shutdown, broker=self):
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception:
                    log.exception("a shutdown hook failed")
        self.table.close_all()

    # -- figures ------------------------------------------------------------------------------

    def stats(self, destinations: bool = True) -> dict[str, Any]:
        """The broker's figures, as the ``/xtomp/stat`` topic and the admin plugin show them.

        ``cc`` keeps xtomp's keys and meanings (``up`` is the start time in epoch seconds,
        which xtomp-console subtracts from now), except ``m``, which xtomp always sent as 0
        and is now the resident memory in bytes. ``broker`` holds the broader figures,
        ``security`` the connection caps and refused logins, ``destinations`` one
        ``Destination.stats()`` dict each (left out when ``destinations`` is False), and
        plugins add theirs through ``xtomp_collect_stats``.
        """
        rss = resident_memory()
        cpu_user, cpu_system = cpu_times()
        table = self.table
        live = table.by_name.values()
        messages = table.messages_removed + sum(destination.enqueued for destination in live)
        connections = self.registry.figures()
        stats: dict[str, Any] = {
            "cc": {
                "sz": connections["connections"],
                "up": int(self._started_at),
                "Σ": connections["connections_accepted"],
                "Σµ": messages,
                "m": rss,
            },
            "broker": {
                "version": __version__,
                "started": round(self._started_at, 3),
                "uptime": round(time.time() - self._started_at, 3),
                **connections,
                "destinations": len(table.by_name),
                "messages": messages,
                "rss": rss,
                "cpu_user": round(cpu_user, 3),
                "cpu_system": round(cpu_system, 3),
            },
            "memory": self.memory.figures(),
            "security": {
                "connections": self.admission.total,
                "refused_connections": self.admission.refused,
                "refused_logins": self.auth.refused,
                "failing_addresses": len(self.auth.failures) if self.auth.failures is not None else 0,
            },
        }
        if destinations:
            stats["destinations"] = [destination.stats() for destination in live]
        call_each(self.hook.xtomp_collect_stats, broker=self, stats=stats)
        return stats
