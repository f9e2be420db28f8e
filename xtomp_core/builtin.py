"""The core's own hook implementations: its directives, the tcp transport, the static authenticator."""

from __future__ import annotations

from typing import Any

from .config.core_directives import declare_core_directives
from .config.directives import DirectiveSet
from .hookspecs import hookimpl
from .registry import Registrar


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    declare_core_directives(directives)


@hookimpl
def xtomp_register_transports(registry: Registrar[Any]) -> None:
    from .server.tcp import TcpTransport

    registry.register("tcp", TcpTransport())


@hookimpl
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    from .broker.auth import StaticAuthenticator

    registry.register("static", StaticAuthenticator)
