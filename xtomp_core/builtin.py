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

    from .interfaces import AuthContext, Authenticator, TransportContext
    from .primitives import ListenAddress
    from .security.users import UsersContext


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


def users_authenticator(context: UsersContext) -> Authenticator:
    from .security.users import UsersAuthenticator

    return UsersAuthenticator(context)


def token_authenticator(context: AuthContext) -> Authenticator:
    from .security.token import TokenAuthenticator

    return TokenAuthenticator(context)


def tls_client_authenticator(context: AuthContext) -> Authenticator:
    from .security.tls_client import TlsClientAuthenticator

    return TlsClientAuthenticator(context)


@hookimpl
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    from .broker.auth import StaticAuthenticator

    # Factories that import their authenticator when the chain names it: a broker
    # without [users] passwords, a secret or tls_client_auth imports none of them.
    registry.register("static", StaticAuthenticator)
    registry.register("users", users_authenticator)
    registry.register("token", token_authenticator)
    registry.register("tls_client_auth", tls_client_authenticator)
