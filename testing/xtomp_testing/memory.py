"""A broker in memory for unit tests and benchmarks: real sessions and destinations, no sockets, no loop.

``InMemoryBroker`` builds the broker exactly as ``xtomp`` would from configuration text (the
plugins it enables are loaded through their entry points, or given in-process); each
``client()`` is a real session whose connection is a :class:`FakeLink` that keeps what the
broker sends. Frames go in whole (``send``) or as raw bytes (``feed``), and come out parsed
(``frames``). Nothing runs in the background, so a test is a plain function, and what
happens between two statements is exactly what the broker did synchronously.

Asynchronous authenticators need a running loop: use the ``xtomp`` fixtures for those.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xtomp_core.bootstrap import build_broker
from xtomp_core.broker.broker import Broker
from xtomp_core.broker.session import Session as CoreSession
from xtomp_core.destination import Destination, DestinationContext, Session
from xtomp_core.interfaces import AuthContext, BrokerView
from xtomp_core.plugins import PluginHost
from xtomp_core.protocol.constants import SERVER_COMMANDS
from xtomp_core.protocol.frame import Frame
from xtomp_core.protocol.parser import FrameParser
from .client import HeadersLike, frame_bytes
from .runner import BASE_CONFIG, write_config

__all__ = ["FakeLink", "FakeClient", "InMemoryBroker", "check_config", "load_broker"]


class FakeLink:
    """A :class:`~xtomp_core.Link` that keeps everything the broker sends in ``out``.

    ``push`` costs what a real connection's does (two appends), so benchmarks can use it.
    ``written`` keeps the whole frames written (CONNECTED, RECEIPT, ERROR: not MESSAGEs).
    ``paused`` may be set by a test to play a slow consumer; ``closed`` is None while
    open, else the ``linger`` flag of the close; ``reading`` follows pause/resume_reading.
    """

    __slots__ = ("out", "written", "paused", "web", "transport_name", "frames_out", "peer_host", "closed", "reading",
                 "heart_beats", "certificate")

    def __init__(
        self,
        transport_name: str = "test",
        *,
        paused: bool = False,
        web: bool = False,
        peer_host: str = "127.0.0.1",
        certificate: dict[str, Any] | None = None,
    ) -> None:
        self.out: list[bytes] = []
        self.written: list[bytes] = []
        self.paused = paused
        self.web = web
        self.transport_name = transport_name
        self.frames_out = 0
        self.peer_host = peer_host
        self.closed: bool | None = None
        self.reading = True
        #: (send, receive) intervals in seconds given at CONNECT, or None before.
        self.heart_beats: tuple[float, float] | None = None
        self.certificate = certificate

    @property
    def peer(self) -> str:
        return f"{self.peer_host}:0"

    def push(self, prefix: bytes, tail: bytes) -> None:
        self.frames_out += 1
        out = self.out
        out.append(prefix)
        out.append(tail)

    def write(self, data: bytes) -> None:
        self.frames_out += 1
        self.out.append(data)
        self.written.append(data)

    def close(self, linger: bool) -> None:
        if self.closed is None:
            self.closed = linger

    def connected(self, send_interval: float, receive_interval: float) -> None:
        self.heart_beats = (send_interval, receive_interval)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def peer_certificate(self) -> dict[str, Any] | None:
        return self.certificate

    def take(self) -> bytes:
        """Everything sent since the last ``take``, as one byte string."""
        data = b"".join(self.out)
        self.out.clear()
        return data


class FakeClient:
    """One client of an :class:`InMemoryBroker`: a real session on a :class:`FakeLink`."""

    def __init__(self, broker: Broker, link: FakeLink) -> None:
        self.link = link
        self._session = CoreSession(broker, link)
        broker.session_created(self._session)
        self._parser = FrameParser(max_frame_size=1 << 30, commands=SERVER_COMMANDS)

    @property
    def session(self) -> Session:
        return self._session

    def feed(self, data: bytes) -> None:
        """Raw bytes from the client, as a socket read would deliver them."""
        self._session.receive(data)

    def send(self, command: str, headers: HeadersLike | None = None, body: bytes | str = b"") -> None:
        """One whole frame from the client (escaped for the negotiated version)."""
        self.feed(frame_bytes(command, headers, body, self._session.version))

    def connect(self, version: str = "1.2", headers: HeadersLike | None = None) -> Frame:
        """CONNECT (``accept-version`` = ``version``, plus ``headers``); the broker's answer."""
        pairs = [("accept-version", version), ("host", "localhost")]
        if headers is not None:
            pairs += list(headers.items() if isinstance(headers, Mapping) else headers)
        self.send("CONNECT", pairs)
        answer = self.frames()
        assert answer, "the broker did not answer CONNECT"
        return answer[0]

    def subscribe(self, destination: str, id: str = "0", ack: str = "auto", **headers: str) -> None:
        """SUBSCRIBE (extra headers by keyword, ``_`` for ``-``: ``prefetch_count="1"``)."""
        pairs = [("destination", destination), ("id", id), ("ack", ack)]
        pairs += [(name.replace("_", "-"), value) for name, value in headers.items()]
        self.send("SUBSCRIBE", pairs)

    def frames(self) -> list[Frame]:
        """The frames the broker sent since the last call, parsed (heart-beat EOLs skipped)."""
        parser = self._parser
        parser.version = self._session.version
        return list(parser.feed(self.link.take()))

    def drained(self) -> None:
        """The client caught up: its connection is no longer paused, and destinations that
        waited for it (queues, topics holding producers) are told, as a real connection's
        ``resume_writing`` would. Set ``link.paused = True`` to play the opposite."""
        self.link.paused = False
        self._session.writable()

    def disconnect(self, reason: str = "connection closed by client") -> None:
        """The connection went away (as a socket's EOF would tell the session)."""
        self._session.connection_lost(reason)


class InMemoryBroker:
    """A broker built from configuration text, for tests without sockets (see the module doc).

    ``extra`` is added to ``base`` (by default :data:`~xtomp_testing.BASE_CONFIG`:
    topics under ``/topic/``); ``plugins`` are in-process ``(name, module_or_object)``
    pairs registered before the configuration is read, for a plugin under test that is not
    installed. A configuration error raises ``ConfigError`` from the constructor.
    """

    def __init__(
        self,
        extra: str = "",
        base: str = BASE_CONFIG,
        plugins: Iterable[tuple[str, object]] = (),
    ) -> None:
        host = PluginHost()
        for name, plugin in plugins:
            host.register(name, plugin)
        with tempfile.TemporaryDirectory(prefix="xtomp-memory-") as directory:  # read at once, then gone
            self._broker = build_broker(write_config(Path(directory), extra, base), host)
        self.clients: list[FakeClient] = []

    @property
    def broker(self) -> BrokerView:
        return self._broker

    @property
    def context(self) -> DestinationContext:
        return self._broker.context

    @property
    def auth_context(self) -> AuthContext:
        """What authenticator factories of this broker are given (to build one in a test)."""
        return self._broker.auth_context

    def destination(self, name: bytes | str) -> Destination:
        """The destination called ``name``, created by the configured rules if needed."""
        return self._broker.context.destination(name.encode() if isinstance(name, str) else name)

    def client(self, version: str | None = "1.2", link: FakeLink | None = None, **connect: str) -> FakeClient:
        """A new client; connected (CONNECT with ``version`` and the ``connect`` headers,
        e.g. ``login="a"``) unless ``version`` is None."""
        client = FakeClient(self._broker, link if link is not None else FakeLink())
        self.clients.append(client)
        if version is not None:
            answer = client.connect(version, connect)
            if answer.command != b"CONNECTED":
                raise AssertionError(f"CONNECT refused: {answer.headers.get(b'message', b'')!r}")
        return client

    def stats(self) -> dict[str, Any]:
        return self._broker.stats()

    def close(self) -> None:
        for client in self.clients:
            client.disconnect("test finished")
        self._broker.table.close_all()

    def __enter__(self) -> InMemoryBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_broker(path: str | Path) -> BrokerView:
    """The broker ``xtomp -c PATH`` would run, built and checked but not started (what
    ``xtomp -t`` does); raises ``ConfigError`` with the message a user would see."""
    return build_broker(path)


def check_config(extra: str = "", base: str = BASE_CONFIG, plugins: Iterable[tuple[str, object]] = ()) -> None:
    """Build a broker from configuration text and throw it away: what ``xtomp -t`` checks.
    Raises ``ConfigError`` with the message a user would see."""
    InMemoryBroker(extra, base, plugins).close()

