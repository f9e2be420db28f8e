"""What plugins implement (filter engines, authenticators, transports, framings) and the contexts they are given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .destination import Destination, DestinationContext, Session
from .limits import Limits
from .primitives import Filter, ListenAddress, Principal, Server, Stash

if TYPE_CHECKING:
    import asyncio

    from .config.model import Config, Section

__all__ = [
    "AuthContext",
    "Authenticator",
    "AuthenticatorFactory",
    "BrokerView",
    "DestinationFactory",
    "FilterEngine",
    "FramedStream",
    "Framing",
    "SendHeaderRewrite",
    "SessionDestinationResolver",
    "Transport",
    "TransportContext",
]


class FilterEngine(Protocol):
    """Compiles the value of one SUBSCRIBE header (``header``) into a Filter, once per SUBSCRIBE."""

    #: The SUBSCRIBE header it reads (``b"selector"``).
    header: bytes

    def compile(self, value: bytes, destination: Destination) -> Filter:
        """Raise ``FrameRejected`` with a clear message when the value is invalid."""

    def check_unfiltered(self, destination: Destination) -> None:
        """Called for each SUBSCRIBE that carries no engine's header: raise
        (``FrameRejected``...) to refuse it on a destination that requires a filter."""


class AuthContext(Protocol):
    """What an authenticator factory may use: ``factory(context) -> Authenticator``."""

    @property
    def config(self) -> Config: ...

    @property
    def stash(self) -> Stash: ...

    def groups(self, login: str) -> tuple[str, ...]:
        """The groups of ``[users."LOGIN"]``, or ``()``."""

    def principal(self, login: str) -> Principal:
        """A principal for ``login`` (authenticated by other means) with its configured groups."""


class Authenticator(Protocol):
    """One link of the authentication chain.

    Return a Principal to accept, None to let the next authenticator decide, or raise
    ``AuthRejected`` to refuse at once. May return an awaitable of the same (run on the
    loop while the session waits; slow work belongs in a thread, as password hashing).
    """

    def authenticate(
        self, login: str | None, passcode: str | None, session: Session
    ) -> Principal | None | Awaitable[Principal | None]: ...


class AuthenticatorFactory(Protocol):
    """What ``xtomp_register_authenticators`` registers (a class taking the context will do)."""

    def __call__(self, context: AuthContext) -> Authenticator: ...


class DestinationFactory(Protocol):
    """What ``xtomp_register_destination_types`` registers (a Destination subclass will do)."""

    def __call__(self, name: bytes, settings: Section, context: DestinationContext) -> Destination: ...


#: ``resolve(context, session, name)``: the destination a session-private name means (``/temp-queue/``).
SessionDestinationResolver = Callable[[DestinationContext, Session, bytes], Destination]
#: ``rewrite(context, session, value)``: the value subscribers see for a SEND header, or None to keep it.
SendHeaderRewrite = Callable[[DestinationContext, Session, bytes], "bytes | None"]


class FramedStream(Protocol):
    """What a :class:`Framing` may use of the connection it frames."""

    @property
    def peer(self) -> str: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def closing(self) -> bool:
        """The connection is closing: deliver no more STOMP bytes."""

    @property
    def close_reason(self) -> str:
        """Why the session ended (for a close frame's reason)."""

    def receive(self, data: bytes) -> None:
        """STOMP bytes unwrapped from the framing, in order, for the session's parser."""

    def write_raw(self, data: bytes) -> None:
        """Write framing bytes (a handshake response, a pong) after the STOMP frames already queued."""

    def limit_version(self, version: int) -> None:
        """The framing's handshake agreed on at most this STOMP version (``v11.stomp``)."""

    def end(self, reason: str) -> None:
        """The framing ended the connection (close handshake done, protocol error): end the
        session now and close the socket."""


class Framing(Protocol):
    """How a transport carries STOMP frames (WebSocket...), given to the core's connection.

    One object per connection; the core keeps the STOMP side (parser, session, write
    coalescing, heart-beats, timeouts, flow control) and asks the framing only to unwrap
    input, to put a header before each outgoing STOMP frame, and to close.
    """

    #: The transport name in logs and statistics (``ws``, ``wss``).
    transport_name: str
    #: A browser-facing transport: ``web_read_block`` / ``web_write_block`` apply.
    web: bool

    def attach(self, stream: FramedStream) -> None:
        """The connection is admitted and its session exists."""

    def data_received(self, data: bytes) -> None:
        """Bytes from the socket: pass the STOMP bytes inside them to ``stream.receive``."""

    def holds_partial_frame(self) -> bool:
        """Part of a framing-level frame is buffered (timed by ``frame_timeout``)."""

    def header(self, length: int) -> bytes:
        """The bytes that go before one outgoing STOMP frame of ``length`` bytes."""

    #: None, or ``header_for(prefix, tail)`` (then :meth:`header` is not called): the bytes that go before one outgoing STOMP frame made of
    #: ``prefix + tail``, for a header that depends on the frame's bytes and not only on their
    #: length (WebSocket: a text frame for UTF-8, binary otherwise). ``tail`` is often one
    #: object shared by every subscriber of a fanned-out MESSAGE: look at its bytes once per
    #: object (memoize by identity), not once per call. A frame the core writes whole
    #: (CONNECTED, RECEIPT, ERROR, a heart-beat) comes as ``(frame, b"")``.
    header_for: Callable[[bytes, bytes], bytes] | None

    def goodbye(self, reason: str) -> bytes | None:
        """The session ended from the broker side and its last frames are queued: the bytes
        that close the framing (a close frame), or None to just close the socket."""

    def timed_out(self) -> bool:
        """The connect timeout passed without CONNECT: True when the framing ended the
        connection itself (its own handshake never completed)."""


class TransportContext(Protocol):
    """What a transport may use: the limits, its settings, and the core's connections."""

    @property
    def config(self) -> Config: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def stash(self) -> Stash: ...

    #: ``xtomp/VERSION``, for a transport's own responses (HTTP ``Server``).
    server_header: str
    #: A listen backlog for bursts of thousands of connects.
    listen_backlog: int
    #: Bind with ``SO_REUSEPORT`` (``create_server(..., reuse_port=context.reuse_port)``): True
    #: when several worker processes (``workers``) share every listener, False otherwise.
    reuse_port: bool

    def connection(
        self, framing: Framing | None = None, transport_name: str = "tcp", web: bool = False
    ) -> asyncio.Protocol:
        """A new STOMP connection for an accepted socket (an ``asyncio.Protocol``); with a
        framing, STOMP travels inside it and ``transport_name`` and ``web`` come from the
        framing. ``web`` sessions are subject to ``web_read_block`` / ``web_write_block``."""


class Transport(Protocol):
    """A listener kind, registered by URL scheme."""

    def prepare(self, address: ListenAddress, context: TransportContext) -> None:
        """Check the configuration for one listener (``xtomp -t`` runs this); raise ``ConfigError``."""

    async def listen(self, address: ListenAddress, context: TransportContext) -> tuple[Server, list[tuple[str, int]]]:
        """Start listening; return the server and the bound (host, port) pairs."""


class BrokerView(Protocol):
    """What the lifecycle, configuration and statistics hooks see of the broker."""

    @property
    def config(self) -> Config: ...

    @property
    def stash(self) -> Stash: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop; None during configuration."""

    @property
    def destinations(self) -> Mapping[bytes, Destination]:
        """The live destinations by name (read-only: change them through ``context``)."""

    @property
    def context(self) -> DestinationContext:
        """The context destinations get (to create one in ``xtomp_resolve_destination``)."""

    @property
    def sessions(self) -> Collection[Session]:
        """The open connections' sessions (connected or not yet): O(n) to walk, so not per message."""

    @property
    def listen_addresses(self) -> Sequence[ListenAddress]:
        """Every configured listener."""

    @property
    def listening(self) -> Sequence[tuple[ListenAddress, list[tuple[str, int]]]]:
        """The listeners started so far, with their bound (host, port) pairs."""

    @property
    def accepting(self) -> bool:
        """Listening and not shutting down (what a health check asks)."""

    @property
    def started_at(self) -> float:
        """When the broker started, in seconds since the epoch."""

    @property
    def worker(self) -> tuple[int, int]:
        """``(index, count)``: which of the ``workers`` processes this is (index 0 to count - 1).

        ``(0, 1)`` for a single process. With several workers the configuration hooks run once,
        in the master, before the workers exist (they see index 0); from ``xtomp_startup`` on each
        worker sees its own index. A backplane plugin makes its node id from it, and a plugin
        with a listener of its own binds it with ``reuse_port=count > 1``.
        """

    def add_listener(self, address: ListenAddress) -> None:
        """Add a listener (from ``xtomp_configure``: a plugin's own ``listen`` directive)."""

    def registered(self, kind: str, name: str) -> Any:
        """What a plugin registered: ``kind`` is ``"destination type"``, ``"filter engine"``,
        ``"transport"``, ``"authenticator"``, ``"session destination prefix"`` or ``"SEND header"``."""

    def stats(self, destinations: bool = True) -> dict[str, Any]:
        """The broker's figures, as ``/xtomp/stat`` and the admin plugin show them."""

    def stop(self) -> None:
        """Ask the broker to shut down gracefully."""
