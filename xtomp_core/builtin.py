"""The core's own hook implementations: its directives, the tcp and tls transports, its authenticators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config.core_directives import declare_core_directives
from .config.directives import DirectiveSet
from .hookspecs import hookimpl
from .registry import Registrar
from .security.directives import declare_security_directives

if TYPE_CHECKING:
    import asyncio

    from .interfaces import TransportContext
    from .primitives import ListenAddress


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    declare_core_directives(directives)
    declare_security_directives(directives)


class LazyTlsTransport:
    """Stands in for :class:`~xtomp_core.server.tls.TlsTransport` so that ``ssl`` is imported
    only when a ``tls://`` listener actually starts (its files are checked at start-up)."""

    def prepare(self, address: ListenAddress, context: TransportContext) -> None:
        from .server.tls import TlsTransport

        TlsTransport().prepare(address, context)

    async def listen(
        self, address: ListenAddress, context: TransportContext
    ) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        from .server.tls import TlsTransport

        return await TlsTransport().listen(address, context)


@hookimpl
def xtomp_register_transports(registry: Registrar[Any]) -> None:
    from .server.tcp import TcpTransport

    registry.register("tcp", TcpTransport())
    registry.register("tls", LazyTlsTransport())


@hookimpl
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    from .broker.auth import StaticAuthenticator
    from .security.tls_client import TlsClientAuthenticator
    from .security.token import TokenAuthenticator
    from .security.users import UsersAuthenticator

    registry.register("static", StaticAuthenticator)
    registry.register("users", UsersAuthenticator)
    registry.register("token", TokenAuthenticator)
    registry.register("tls_client_auth", TlsClientAuthenticator)
