"""The ``ws`` and ``wss`` transports: listeners whose connections speak STOMP over WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xtomp_core import ConfigError

from .connection import FirstBytes, WebSocketFraming
from .settings import WebSocketSettings

if TYPE_CHECKING:
    from xtomp_core import ListenAddress, Section, TransportContext

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
            factory = lambda: context.connection(WebSocketFraming(settings))  # noqa: E731
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory,
            address.host or None,
            address.port,
            reuse_address=True,
            reuse_port=context.reuse_port,
            backlog=context.listen_backlog,
            ssl=self.ssl_context,
        )
        bound = [sock.getsockname()[:2] for sock in server.sockets]
        return server, bound
