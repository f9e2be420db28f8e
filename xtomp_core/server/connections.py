"""The context transports are given: the limits, and the core's STOMP connection for each accepted socket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..broker.broker import Broker
    from ..config.model import Config
    from ..interfaces import Framing
    from ..limits import Limits
    from ..primitives import Stash
    from .connection import Kind, StompConnection
    from .framed import FramedConnection

__all__ = ["Connections", "LISTEN_BACKLOG", "prepare_listeners"]

LISTEN_BACKLOG = 4096  # bursts of thousands of connects (benchmarks, reconnect storms)


class Connections:
    """A :class:`~xtomp_core.TransportContext` for one broker."""

    __slots__ = ("broker", "server_header", "listen_backlog", "reuse_port", "_kinds", "_classes")

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        #: (transport name, web) -> what the connections of that kind share.
        self._kinds: dict[tuple[str, bool], Kind] = {}
        self.server_header = broker.server_header.decode()
        self.listen_backlog = LISTEN_BACKLOG
        self.reuse_port = broker.worker[1] > 1
        self._classes: tuple[type[Kind], type[StompConnection], type[FramedConnection]] | None = None

    @property
    def config(self) -> Config:
        return self.broker.config

    @property
    def limits(self) -> Limits:
        return self.broker.limits

    @property
    def stash(self) -> Stash:
        return self.broker.stash

    def connection(
        self, framing: Framing | None = None, transport_name: str = "tcp", web: bool = False
    ) -> asyncio.Protocol:
        kind_class, stomp, framed = self._classes or self._import_classes()
        if framing is not None:
            transport_name, web = framing.transport_name, framing.web
        kind = self._kinds.get((transport_name, web))
        if kind is None or kind.flusher is not self.broker.flusher:
            kind = self._kinds[transport_name, web] = kind_class(self.broker, transport_name, web)
        if framing is None:
            return stomp(kind)
        return framed(kind, framing)

    def _import_classes(self) -> tuple[type[Kind], type[StompConnection], type[FramedConnection]]:
        # At the first connection, not at start-up: the connection's modules and the session's
        # (acks, receipts, transactions) are 0.2 MB an idle broker does without.
        from .connection import Kind, StompConnection
        from .framed import FramedConnection

        self._classes = Kind, StompConnection, FramedConnection
        return self._classes


def prepare_listeners(broker: Broker) -> Connections:
    """Let each listener's transport check its configuration (``xtomp -t`` does this too)."""
    from ..errors import XtompError
    from ..plugin_errors import plugin_failure

    context = Connections(broker)
    transports = broker.registries.transports
    for address in broker.listen_addresses:
        try:
            transports.get(address.scheme).prepare(address, context)
        except XtompError:
            raise
        except Exception as error:
            raise plugin_failure(transports.owner(address.scheme), f"transport {address.scheme!r}", error) from error
    return context
