"""The interfaces between the core and plugins, as typing Protocols (structural, no base class needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .broker.broker import Broker
    from .broker.destination import Destination
    from .broker.session import Session
    from .config import Section

__all__ = [
    "Link",
    "Filter",
    "FilterEngine",
    "Principal",
    "Authenticator",
    "AuthenticatorFactory",
    "ListenAddress",
    "Transport",
    "Server",
    "DestinationFactory",
]


class Link(Protocol):
    """The I/O side of one session, implemented by each transport (TCP, WebSocket...).

    Writes are queued and flushed once per event-loop pass, so many frames to one client
    cost one system call. ``paused`` is True while the client's outgoing buffer is above
    ``write_buffer_high`` (a slow consumer). ``frames_out`` counts the frames queued by
    ``push`` and ``write`` (heart-beats excluded), for the logs and statistics.

    Optional, read with ``getattr`` by the security code: ``peer_host`` (the client's IP
    address, for per-address limits; else parsed from ``peer``) and ``peer_certificate()``
    (the verified TLS client certificate as ``SSLSocket.getpeercert()`` gives it, or None).
    """

    paused: bool
    web: bool
    transport_name: str
    frames_out: int

    @property
    def peer(self) -> str:
        """The client's address, for logs."""

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


class Filter(Protocol):
    """A compiled subscription filter; called per candidate message, so keep it cheap.

    ``index_key`` = ``(header, value)`` promises the filter matches only messages whose
    header equals value, letting destinations select candidates with one dict lookup;
    ``exact`` says the key alone decides (the call can be skipped).
    """

    index_key: tuple[bytes, bytes] | None
    exact: bool

    def __call__(self, headers: Mapping[bytes, bytes]) -> bool: ...


class FilterEngine(Protocol):
    """Compiles the value of one SUBSCRIBE header (``header``) into a Filter, once.

    An engine may also define ``check_unfiltered(destination) -> None``: it is called for
    each SUBSCRIBE that carries no engine's header, and raises (``FrameRejected``...) to
    refuse it, for destinations that require a filter.
    """

    header: bytes

    def compile(self, value: bytes, destination: Destination) -> Filter:
        """Raise ``FrameRejected`` with a clear message when the value is invalid."""


@dataclass(frozen=True)
class Principal:
    """Who a session authenticated as."""

    login: str
    groups: tuple[str, ...] = ()


class Authenticator(Protocol):
    """One link of the authentication chain.

    Return a Principal to accept, None to let the next authenticator decide, or raise
    ``AuthRejected`` to refuse at once. May return an awaitable of the same.
    """

    def authenticate(
        self, login: str | None, passcode: str | None, session: Session
    ) -> Principal | None | Awaitable[Principal | None]: ...


class AuthenticatorFactory(Protocol):
    def __call__(self, broker: Broker) -> Authenticator: ...


@dataclass(frozen=True)
class ListenAddress:
    """One ``listen`` entry, parsed: ``ws://0.0.0.0:15674/ws`` → ("ws", "0.0.0.0", 15674, "/ws")."""

    scheme: str
    host: str
    port: int
    path: str = ""
    text: str = ""


class Server(Protocol):
    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class Transport(Protocol):
    """A listener kind, registered by URL scheme."""

    async def listen(self, address: ListenAddress, broker: Broker) -> tuple[Server, list[tuple[str, int]]]:
        """Start listening; return the server and the bound (host, port) pairs."""


class DestinationFactory(Protocol):
    def __call__(self, name: bytes, settings: Section, broker: Broker) -> Destination: ...


def describe(obj: Any) -> str:
    """A short name for log lines."""
    return getattr(obj, "__qualname__", type(obj).__qualname__)
