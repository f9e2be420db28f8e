"""The ``tcp`` transport: plain STOMP over TCP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..config.listen import listen_host

if TYPE_CHECKING:
    from ..interfaces import TransportContext
    from ..primitives import ListenAddress

__all__ = ["TcpTransport"]


class TcpTransport:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``): the core's STOMP connection on a plain socket."""

    def prepare(self, address: ListenAddress, context: TransportContext) -> None:
        """Nothing to check beyond the address itself."""

    async def listen(
        self, address: ListenAddress, context: TransportContext
    ) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: context.connection(transport_name="tcp"),
            listen_host(address.host),
            address.port,
            reuse_address=True,
            reuse_port=context.reuse_port,
            backlog=context.listen_backlog,
        )
        bound = [sock.getsockname()[:2] for sock in server.sockets]
        return server, bound
