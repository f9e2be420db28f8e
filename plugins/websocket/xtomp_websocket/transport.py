"""The ``ws`` and ``wss`` transports: listeners whose connections speak STOMP over WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xtomp_core import ConfigError, listen_host

from .settings import WebSocketSettings

if TYPE_CHECKING:
    from xtomp_core import Framing, ListenAddress, Section, TransportContext

__all__ = ["WebSocketTransport", "PLUGIN", "tls_context"]

PLUGIN = "websocket"


def plugin_section(context: TransportContext) -> Section:
    section = context.config.plugins.get(PLUGIN)
    if section is None:  # the transports are registered only when the plugin is enabled
        raise ConfigError(f"the {PLUGIN} plugin is not enabled: add a [plugins.{PLUGIN}] table")
    return section


def tls_context(section: Section) -> Any:
    """An ``ssl.SSLContext`` from the plugin's certificate and private_key (imports ssl)."""
    certificate, key = section["certificate"], section["private_key"]
    if not certificate or not key:
        missing = "certificate" if not certificate else "private_key"
        raise ConfigError(
            f"{section.where(missing)}: plugins.{PLUGIN}.{missing}: a wss:// listener needs "
            "certificate and private_key (PEM files)"
        )
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"{section.where('certificate')}: plugins.{PLUGIN}.certificate: cannot load {certificate} "
            f"with {key}: {error}"
        ) from None
    return context


class WebSocketTransport:
    """``ws://HOST:PORT[/PATH]`` (or ``wss://`` with TLS): STOMP over WebSocket."""

    def __init__(self, secure: bool) -> None:
        self.secure = secure
        self.name = "wss" if secure else "ws"
        #: Built by :meth:`prepare` when the configuration is checked (wss only).
        self.ssl_context: Any = None

    def prepare(self, address: ListenAddress, context: TransportContext) -> None:
        """Check the configuration for one listener (``xtomp -t`` runs this too)."""
        section = plugin_section(context)
        if self.secure and self.ssl_context is None:
            self.ssl_context = tls_context(section)

    async def listen(
        self, address: ListenAddress, context: TransportContext
    ) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        self.prepare(address, context)
        settings = WebSocketSettings.build(
            address,
            plugin_section(context),
            context.limits.max_frame_size,
            context.server_header,
            self.ssl_context,
        )
        factory: Callable[[], asyncio.Protocol]
        if settings.plain_stomp:
            factory = lambda: FirstBytes(context, settings)  # noqa: E731
        else:
            factory = lambda: context.connection(websocket_framing(settings))  # noqa: E731
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory,
            listen_host(address.host),
            address.port,
            reuse_address=True,
            reuse_port=context.reuse_port,
            backlog=context.listen_backlog,
            ssl=self.ssl_context,
        )
        bound = [sock.getsockname()[:2] for sock in server.sockets]
        return server, bound


def websocket_framing(settings: WebSocketSettings) -> Framing:
    """A new connection's :class:`~.connection.WebSocketFraming`.

    The websockets library is imported here, at the first WebSocket connection, not when the
    plugin is enabled: with its ``importlib.metadata``, ``email``, ``http`` and ``hashlib``
    imports it is 2.5 MB of an idle broker's memory, and about 25 ms once, on the event
    loop, for the first browser that connects (bench/RESULTS.md, "Where the idle memory goes").
    """
    from .connection import WebSocketFraming

    return WebSocketFraming(settings)


class FirstBytes(asyncio.Protocol):
    """``plain_stomp``: tells a WebSocket handshake (``GET ``) from plain STOMP by the first bytes.

    Then it hands the transport to the core's connection, with a :class:`WebSocketFraming`
    or without, and steps aside, so neither pays for the choice per frame. A STOMP
    client's first bytes are a command (CONNECT, STOMP) or EOLs, never ``GET ``.
    """

    __slots__ = ("context", "settings", "transport", "buffer", "timer")

    def __init__(self, context: TransportContext, settings: WebSocketSettings) -> None:
        self.context = context
        self.settings = settings
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.timer = asyncio.get_running_loop().call_later(self.context.limits.timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if buffer.startswith(b"GET "):
            connection = self.context.connection(websocket_framing(self.settings))
        elif len(buffer) < 4 and b"GET ".startswith(buffer):
            self.buffer = buffer
            return
        else:
            connection = self.context.connection(transport_name="tls" if self.settings.ssl is not None else "tcp")
        self._stop_timer()
        transport = self.transport
        assert transport is not None
        transport.set_protocol(connection)
        connection.connection_made(transport)
        connection.data_received(buffer)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
