"""The broker: destinations by name, sessions, ids, authentication, and the lifecycle hooks."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..config.listen import parse_listen
from ..errors import ConfigError, DestinationUnknown, LimitExceeded, XtompError
from ..protocol.constants import VERSION_TEXT
from ..security.access import AccessControl
from ..security.admission import Admission
from ..security.ratelimit import FailureTable
from ..security.users import UserDirectory
from .auth import AuthChain
from .destination import Destination
from .session import Session
from .stats import STAT_DESTINATION, StatPublisher, cpu_times, resident_memory

if TYPE_CHECKING:
    from ..config import Config, Section
    from ..interfaces import FilterEngine, ListenAddress, Principal
    from ..plugins import PluginHost, Registries

__all__ = ["Broker", "Limits"]

log = logging.getLogger("xtomp.broker")
#: One line per connection: ``opened`` after CONNECT, ``closed`` when it ends (logfmt fields).
connections_log = logging.getLogger("xtomp.connections")


def logfmt(fields: tuple[tuple[str, object], ...]) -> str:
    """``key=value`` pairs; values with spaces, quotes or control characters JSON-quoted."""
    parts = []
    for key, value in fields:
        text = "-" if value is None or value == "" else str(value)
        if " " in text or '"' in text or "=" in text or "\\" in text or not text.isprintable():
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def destination_type(section: Section) -> str:
    """The ``type`` of a destination section; unset, xtomp's ``min_delivery`` decides
    (0: a topic, 1: a queue, as the original broker declared its queues)."""
    kind: str | None = section["type"]
    min_delivery: int = section["min_delivery"]
    if kind is None:
        return "queue" if min_delivery else "topic"
    if min_delivery and kind == "topic":
        raise ConfigError(
            f"{section.where('min_delivery')}: {section.path}.min_delivery: {min_delivery} makes the destination "
            "a queue (xtomp's way to declare one), but its type is \"topic\": remove one of the two"
        )
    return kind


@dataclass(frozen=True, slots=True)
class Limits:
    """Server settings read per connection, converted once (milliseconds, bytes)."""

    max_frame_size: int
    max_headers: int
    max_header_length: int
    max_subscriptions: int
    max_transactions: int
    max_transaction_frames: int
    max_destinations: int
    heart_beat_read_ms: int
    heart_beat_write_min_ms: int
    heart_beat_write_max_ms: int
    heart_beat_grace: float
    timeout: float
    linger: float
    write_buffer_high: int
    write_buffer_low: int
    write_buffer_max: int
    max_frame_size_unauthenticated: int
    frame_timeout: float

    @classmethod
    def from_section(cls, server: Section) -> Limits:
        return cls(
            max_frame_size=server["max_frame_size"],
            max_headers=server["max_headers"],
            max_header_length=server["max_header_length"],
            max_subscriptions=server["max_subscriptions"],
            max_transactions=server["max_transactions"],
            max_transaction_frames=server["max_transaction_frames"],
            max_destinations=server["max_destinations"],
            heart_beat_read_ms=round(server["heart_beat_read"] * 1000),
            heart_beat_write_min_ms=round(server["heart_beat_write_min"] * 1000),
            heart_beat_write_max_ms=round(server["heart_beat_write_max"] * 1000),
            heart_beat_grace=server["heart_beat_grace"],
            timeout=server["timeout"],
            linger=server["linger"],
            write_buffer_high=server["write_buffer_high"],
            write_buffer_low=(
                server["write_buffer_low"] if server["write_buffer_low"] is not None else server["write_buffer_high"] // 4
            ),
            write_buffer_max=server["write_buffer_max"],
            max_frame_size_unauthenticated=min(server["max_frame_size_unauthenticated"], server["max_frame_size"]),
            frame_timeout=server["frame_timeout"],
        )


class Broker:
    """Owns the destinations and sessions of one running broker.

    Built from a validated :class:`~xtomp_core.config.Config` and the loaded plugins;
    the registries are frozen by then. Destinations declared by exact name are created
    here (so ``xtomp -t`` checks their types); names matched by a prefix rule or a
    resolve hook are created on first use and memoized.
    """

    def __init__(self, config: Config, host: PluginHost, registries: Registries | None = None) -> None:
        self.config = config
        self.host = host
        self.hook = host.hook
        self.registries = registries if registries is not None else host.registries()
        self.limits = Limits.from_section(config.server)
        self.virtual_hosts = frozenset(name.encode() for name in config.server["virtual_hosts"])
        self.server_header = b"xtomp/" + __version__.encode()
        self.message_ids = itertools.count(1)
        self._session_ids = itertools.count(1)
        self.destinations: dict[bytes, Destination] = {}
        self._prefix_rules = [(prefix.encode(), section) for prefix, section in config.prefixes]
        self.filter_engines: dict[bytes, FilterEngine] = {
            engine.header: engine for _, engine in self.registries.filter_engines.items()
        }
        #: ``check_unfiltered`` of the engines that have one: asked about every SUBSCRIBE
        #: that carries no filter header at all (a destination may require a filter).
        self.unfiltered_checks: tuple[Callable[[Destination], None], ...] = tuple(
            check
            for engine in self.filter_engines.values()
            if (check := getattr(engine, "check_unfiltered", None)) is not None
        )
        #: ``(prefix, resolve)`` of names private to each connection (``/temp-queue/``).
        self.session_destinations: tuple[tuple[bytes, Callable[[Session, bytes], Destination]], ...] = tuple(
            (prefix.encode(), resolve) for prefix, resolve in self.registries.session_destinations.items()
        )
        #: SEND header name -> ``rewrite(session, value)``; empty unless a plugin registers one.
        self.send_header_rewrites: dict[bytes, Callable[[Session, bytes], bytes | None]] = {
            name.encode(): rewrite for name, rewrite in self.registries.send_headers.items()
        }
        self.users = UserDirectory(config.users)
        self.auth = self._build_auth_chain()
        access = AccessControl(config)
        if access.names_principals and not self.auth:
            raise ConfigError(
                f"{access.first_naming}: names users or groups, but no authenticator is configured, so any "
                "client could claim any login: set server.authenticators (or login, secret, or [users] passwords)"
            )
        #: The compiled access rules; None when no destination restricts anyone (no checks at all).
        self.access: AccessControl | None = access if access.restricted else None
        #: Connection caps (global and per client address), applied by the transports at accept.
        self.admission = Admission(config.server["connection_limit"], config.server["connection_limit_per_address"])
        self.sessions: set[Session] = set()
        self.connections_total = 0
        #: Open connections per transport name, and how many of them completed CONNECT.
        self.transport_counts: dict[str, int] = {}
        self.connected_count = 0
        # Counters of what is gone (closed sessions, removed destinations), so totals never go back.
        self._frames_in_closed = 0
        self._frames_out_closed = 0
        self._messages_removed = 0
        self.started_at = time.time()
        self._stat_publisher: StatPublisher | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Bound addresses per listen entry, filled when the listeners start.
        self.listening: list[tuple[ListenAddress, list[tuple[str, int]]]] = []
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        #: The loop's write coalescer (:class:`~xtomp_core.server.connection.Flusher`), set at start.
        self.flusher: Any = None
        self.listen_addresses = self._listen_addresses()
        for section in [s for _, s in config.prefixes] + list(config.destinations.values()):
            self._factory(section)  # unknown types fail now, naming file and key
        for name, section in config.destinations.items():
            self._create(name.encode(), section, auto_created=False)
        self.hook.xtomp_configure(config=config, broker=self)

    def _listen_addresses(self) -> list[ListenAddress]:
        server = self.config.server
        addresses = []
        for text in server["listen"]:
            try:
                address = parse_listen(text)
            except ValueError as problem:
                raise ConfigError(f"{server.origin('listen')}: server.listen: {problem}") from None
            if address.scheme not in self.registries.transports:
                raise ConfigError(
                    f"{server.origin('listen')}: server.listen: {text!r}: "
                    + self.registries.transports.missing(address.scheme)
                )
            addresses.append(address)
        return addresses

    def _build_auth_chain(self) -> AuthChain:
        server = self.config.server
        names = list(server["authenticators"])
        implied = (
            ("static", server["login"] is not None),
            ("users", self.users.with_passwords),
            ("token", server["secret"] is not None),
        )
        for name, configured in implied:
            if configured and name not in names:
                names.append(name)
        registry = self.registries.authenticators
        for name in names:
            if name not in registry:
                raise ConfigError(f"{server.origin('authenticators')}: server.authenticators: {registry.missing(name)}")
        failures = None
        if server["auth_max_failures"]:
            failures = FailureTable(
                server["auth_max_failures"], server["auth_failure_window"], server["auth_failure_table_size"]
            )
        return AuthChain(
            [registry.get(name)(self) for name in names],
            failure_delay=server["auth_failure_delay"],
            failures=failures,
        )

    # -- destinations ---------------------------------------------------------------------

    def _factory(self, section: Section) -> Any:
        registry = self.registries.destination_types
        kind = destination_type(section)
        if kind not in registry:
            raise ConfigError(f"{section.where('type')}: {section.path}.type: {registry.missing(kind)}")
        return registry.get(kind)

    def _create(self, name: bytes, section: Section, auto_created: bool) -> Destination:
        destination: Destination = self._factory(section)(name, section, self)
        destination.auto_created = auto_created
        self.destinations[name] = destination
        return destination

    def destination(self, name: bytes, creator: Principal | None = None) -> Destination:
        """The destination called ``name``, created on first use when a rule allows it.

        With ``creator`` (a session's principal), creating it must be allowed by the access
        rules (``allow_create``); without, the broker itself is asking and nothing is checked.
        """
        destination = self.destinations.get(name)
        if destination is not None:
            return destination
        if len(self.destinations) >= self.limits.max_destinations and not self._purge_idle():
            raise LimitExceeded(
                "dest flup", f"the broker already holds max_destinations ({self.limits.max_destinations})"
            )
        access = self.access if creator is not None else None
        for prefix, section in self._prefix_rules:
            if name.startswith(prefix) and len(name) > len(prefix):
                if access is not None:
                    access.check_create(section, name, creator)
                return self._create(name, section, auto_created=True)
        resolved: Destination | None = self.hook.xtomp_resolve_destination(name=name, broker=self)
        if resolved is not None:
            if access is not None:
                try:  # by the settings the plugin gave it (usually [destination_defaults])
                    access.check_create(resolved.settings, name, creator)
                except XtompError:
                    resolved.close()  # never memoized: nobody saw it
                    raise
            resolved.auto_created = True
            self.destinations[name] = resolved
            return resolved
        shown = name[:80].decode("utf-8", "replace")
        raise DestinationUnknown(f"no destination {shown!r} is configured")

    def destination_for(self, session: Session, name: bytes) -> Destination:
        """The destination a session means by ``name``: its private one for a registered
        prefix (``/temp-queue/NAME``), else the shared one, created when the rules allow."""
        for prefix, resolve in self.session_destinations:
            if name.startswith(prefix):
                return resolve(session, name)
        return self.destination(name, session.principal)

    def _purge_idle(self) -> bool:
        """Forget auto-created destinations that hold nothing; True if room was made."""
        idle = [name for name, dest in self.destinations.items() if dest.auto_created and dest.idle]
        for name in idle:
            destination = self.destinations.pop(name)
            self._messages_removed += destination.enqueued
            destination.close()
        if idle:
            log.info("removed %d idle destinations (max_destinations reached)", len(idle))
        return bool(idle)

    def remove_destination(self, destination: Destination) -> None:
        """Drop a destination (a temporary queue whose owner left, for instance)."""
        if self.destinations.get(destination.name) is destination:
            del self.destinations[destination.name]
            self._messages_removed += destination.enqueued
        destination.close()

    # -- sessions ---------------------------------------------------------------------------

    def new_session_id(self) -> bytes:
        return b"%d" % next(self._session_ids)

    def session_created(self, session: Session) -> None:
        self.sessions.add(session)
        self.connections_total += 1
        transport = session.link.transport_name
        self.transport_counts[transport] = self.transport_counts.get(transport, 0) + 1

    def session_started(self, session: Session) -> None:
        """CONNECT completed."""
        self.connected_count += 1
        if connections_log.isEnabledFor(logging.INFO):
            connections_log.info("opened %s", logfmt((
                ("id", session.id.decode()),
                ("peer", session.link.peer),
                ("transport", session.link.transport_name),
                ("login", session.login),
                ("version", VERSION_TEXT[session.version].decode()),
            )))
        self.hook.xtomp_session_opened(session=session)

    def session_ended(self, session: Session, reason: str, was_connected: bool) -> None:
        """Every connection ends here once, connected or not; the hook hears of connected ones."""
        self.sessions.discard(session)
        link = session.link
        transport = link.transport_name
        left = self.transport_counts.get(transport, 1) - 1
        if left > 0:
            self.transport_counts[transport] = left
        else:
            self.transport_counts.pop(transport, None)
        # Links from plugins written before frames_out existed count nothing.
        frames_out: int = getattr(link, "frames_out", 0)
        self._frames_in_closed += session.frames_in
        self._frames_out_closed += frames_out
        if was_connected:
            self.connected_count -= 1
        if connections_log.isEnabledFor(logging.INFO):
            connections_log.info("closed %s", logfmt((
                ("id", session.id.decode()),
                ("peer", link.peer),
                ("transport", transport),
                ("login", session.login),
                ("frames_in", session.frames_in),
                ("frames_out", frames_out),
                ("duration", f"{time.monotonic() - session.opened_at:.3f}s"),
                ("reason", reason),
            )))
        if was_connected:
            self.hook.xtomp_session_closed(session=session, reason=reason)

    @property
    def connected_sessions(self) -> int:
        return self.connected_count

    @property
    def accepting(self) -> bool:
        """Listening and not shutting down (what a health check asks)."""
        return bool(self.listening) and self._stopping is not None and not self._stopping.is_set()

    # -- asynchronous helpers ---------------------------------------------------------------

    def run_async(self, awaitable: Awaitable[Any], done: Callable[[Any], None]) -> None:
        """Run ``awaitable`` on the loop; call ``done(result or exception)`` when it ends."""
        assert self.loop is not None, "the broker is not running"
        future = asyncio.ensure_future(awaitable, loop=self.loop)
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
        self.loop = loop
        self._stopping = asyncio.Event()
        self.started_at = time.time()
        for result in self.hook.xtomp_startup(broker=self):
            if inspect.isawaitable(result):
                await result
        interval = self.config.server["stats_interval"]
        if STAT_DESTINATION.decode() in self.config.destinations and interval > 0:
            self._stat_publisher = StatPublisher(self, self.destinations[STAT_DESTINATION], interval)
            self._stat_publisher.start(loop)

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
        for session in list(self.sessions):
            session.close("broker shutting down")
        for result in self.hook.xtomp_shutdown(broker=self):
            if inspect.isawaitable(result):
                await result
        for destination in self.destinations.values():
            destination.close()

    # -- figures ------------------------------------------------------------------------------

    def stats(self, destinations: bool = True) -> dict[str, Any]:
        """The broker's figures, as the ``/xtomp/stat`` topic and the admin plugin show them.

        ``cc`` keeps xtomp's keys and meanings (``up`` is the start time in epoch seconds,
        which xtomp-console subtracts from now), except ``m``, which xtomp always sent as 0
        and is now the resident memory in bytes. ``broker`` holds the broader figures,
        ``destinations`` one ``Destination.stats()`` dict each (left out when
        ``destinations`` is False), and plugins add theirs through ``xtomp_collect_stats``.
        """
        rss = resident_memory()
        cpu_user, cpu_system = cpu_times()
        live = self.destinations.values()
        messages = self._messages_removed + sum(destination.enqueued for destination in live)
        sessions = self.sessions
        frames_in = self._frames_in_closed + sum(session.frames_in for session in sessions)
        frames_out = self._frames_out_closed + sum(getattr(session.link, "frames_out", 0) for session in sessions)
        stats: dict[str, Any] = {
            "cc": {
                "sz": len(sessions),
                "up": int(self.started_at),
                "Σ": self.connections_total,
                "Σµ": messages,
                "m": rss,
            },
            "broker": {
                "version": __version__,
                "started": round(self.started_at, 3),
                "uptime": round(time.time() - self.started_at, 3),
                "connections": len(sessions),
                "sessions": self.connected_count,
                "transports": dict(self.transport_counts),
                "connections_accepted": self.connections_total,
                "destinations": len(self.destinations),
                "messages": messages,
                "frames_in": frames_in,
                "frames_out": frames_out,
                "rss": rss,
                "cpu_user": round(cpu_user, 3),
                "cpu_system": round(cpu_system, 3),
            },
        }
        if destinations:
            stats["destinations"] = [destination.stats() for destination in live]
        self.hook.xtomp_collect_stats(broker=self, stats=stats)
        return stats
