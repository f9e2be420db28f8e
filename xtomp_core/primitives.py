"""The small types every plugin-facing interface is built from: links, filters, principals, addresses, stashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from ._record import record

__all__ = ["Link", "Filter", "Principal", "ListenAddress", "Server", "Stash", "StashKey"]

T = TypeVar("T")


class Link(Protocol):
    """The I/O side of one session, implemented by the core's connection (TCP, TLS, or a
    transport plugin's framing over it).

    Writes are queued and flushed once per event-loop pass, so many frames to one client
    cost one system call. ``paused`` is True while the client's outgoing buffer is above
    ``write_buffer_high`` (a slow consumer). ``frames_out`` counts the frames queued by
    ``push`` and ``write`` (heart-beats excluded), for the logs and statistics.
    Destinations never call ``push`` themselves: :meth:`Subscription.deliver` does.
    """

    paused: bool
    frames_out: int
    #: The client's IP address (per-address limits, rate limits, logs).
    peer_host: str

    @property
    def peer(self) -> str:
        """The client's address, for logs (``host:port``)."""

    @property
    def web(self) -> bool:
        """A browser-facing transport: ``web_read_block`` / ``web_write_block`` apply."""

    @property
    def transport_name(self) -> str:
        """The listener's transport (``tcp``, ``tls``, ``ws``...)."""

    def push(self, prefix: bytes, tail: bytes) -> None:
        """Queue a MESSAGE given as its per-subscription prefix and shared tail."""

    def write(self, data: bytes) -> None:
        """Queue one whole frame (or a heart-beat EOL)."""

    def close(self, linger: bool) -> None:
        """Flush and close; with ``linger``, half-close and let the client close first."""

    def connected(self, send_interval: float, receive_interval: float) -> None:
        """CONNECT succeeded: stop the connect timeout, start heart-beats (seconds; 0 = off)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def peer_certificate(self) -> dict[str, Any] | None:
        """The verified TLS client certificate as ``SSLSocket.getpeercert()`` gives it, or None."""


class Filter(Protocol):
    """A compiled subscription filter; called per candidate message, so keep it cheap.

    ``index_key`` = ``(header, value)`` promises the filter matches only messages whose
    header equals value, letting destinations select candidates with one dict lookup;
    ``exact`` says the key alone decides (the call can be skipped).
    """

    index_key: tuple[bytes, bytes] | None
    exact: bool

    def __call__(self, headers: Mapping[bytes, bytes]) -> bool: ...


@record(frozen=True)
class Principal:
    """Who a session authenticated as."""

    __slots__ = ("login", "groups")
    login: str
    groups: tuple[str, ...]

    def __init__(self, login: str, groups: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "login", login)
        object.__setattr__(self, "groups", groups)


@record(frozen=True)
class ListenAddress:
    """One ``listen`` entry, parsed: ``ws://0.0.0.0:15674/ws`` → ("ws", "0.0.0.0", 15674, "/ws")."""

    __slots__ = ("scheme", "host", "port", "path", "text")
    scheme: str
    host: str
    port: int
    path: str
    text: str

    def __init__(self, scheme: str, host: str, port: int, path: str = "", text: str = "") -> None:
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "text", text)


class Server(Protocol):
    """What a transport's ``listen`` returns (``asyncio.Server`` is one)."""

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class StashKey(Generic[T]):
    """A typed key of a :class:`Stash`: create one per kind of state, at module level."""

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """Per-broker plugin state, keyed by :class:`StashKey` (as pytest's ``config.stash``).

    Every broker (and every context it hands out) has one; state kept here goes away with
    the broker, where module globals would leak between brokers in one process::

        TEMPORARIES = StashKey[TemporaryQueues]("temporaries")
        queues = context.stash.setdefault(TEMPORARIES, lambda: TemporaryQueues(context))
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[StashKey[Any], Any] = {}

    def __getitem__(self, key: StashKey[T]) -> T:
        value: T = self._items[key]
        return value

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._items[key] = value

    def __delitem__(self, key: StashKey[T]) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: StashKey[T], default: T | None = None) -> T | None:
        value: T | None = self._items.get(key, default)
        return value

    def setdefault(self, key: StashKey[T], factory: Callable[[], T]) -> T:
        """The value under ``key``, made by ``factory()`` and kept on first use."""
        items = self._items
        if key in items:
            found: T = items[key]
            return found
        value = items[key] = factory()
        return value

    def pop(self, key: StashKey[T], default: T | None = None) -> T | None:
        value: T | None = self._items.pop(key, default)
        return value
