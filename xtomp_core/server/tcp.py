"""The ``tcp`` transport: plain STOMP over TCP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .connection import StompConnection

if TYPE_CHECKING:
    from ..broker.broker import Broker
    from ..interfaces import ListenAddress

__all__ = ["TcpTransport", "LISTEN_BACKLOG"]

LISTEN_BACKLOG = 4096  # bursts of thousands of connects (benchmarks, reconnect storms)


class TcpTransport:
    name = "tcp"

    async def listen(self, address: ListenAddress, broker: Broker) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: StompConnection(broker, "tcp"),
            address.host or None,
            address.port,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
        )
        bound = [sock.getsockname()[:2] for sock in server.sockets]
        return server, bound
