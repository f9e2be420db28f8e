"""The core's own hook implementations: directives, the tcp and tls transports, authenticators, checks, stats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config.core_directives import declare_core_directives
from .config.directives import DirectiveSet
from .hookspecs import hookimpl
from .registry import Registrar
from .security.directives import declare_security_directives

if TYPE_CHECKING:
    import asyncio

    from .broker.broker import Broker
    from .config import Config
    from .interfaces import ListenAddress


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    declare_core_directives(directives)
    declare_security_directives(directives)


class LazyTlsTransport:
    """Stands in for :class:`~xtomp_core.server.tls.TlsTransport` so that ``ssl`` is imported
    only when a ``tls://`` listener actually starts."""

    name = "tls"

    async def listen(self, address: ListenAddress, broker: Broker) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        from .server.tls import TlsTransport

        return await TlsTransport().listen(address, broker)


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


@hookimpl
def xtomp_configure(config: Config, broker: Broker) -> None:
    from .security.checks import check_security

    check_security(broker)


@hookimpl
def xtomp_collect_stats(broker: Broker, stats: dict[str, Any]) -> None:
    """Security figures: open and refused connections, refused logins, locked-out addresses."""
    admission = broker.admission
    failures = broker.auth.failures
    stats["security"] = {
        "connections": admission.total,
        "refused_connections": admission.refused,
        "refused_logins": broker.auth.refused,
        "failing_addresses": len(failures) if failures is not None else 0,
    }
