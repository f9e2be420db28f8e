"""The ``tls`` transport: STOMP over TLS (``listen = ["tls://0.0.0.0:61614"]``), stdlib ssl.

This is the only module of xtomp that imports :mod:`ssl`, and it is imported only when a
``tls://`` listener is configured (the core registers a lazy stand-in, see
:mod:`xtomp_core.builtin`). The context is built from the ``tls_*`` directives: certificate
chain and key, minimum version (1.2 by default), optional cipher list, and client
certificate verification against ``tls_client_ca`` ("optional" or "required"). A verified
client certificate is offered to authenticators through the link's
``peer_certificate()`` (see ``tls_client_auth``). The handshake must finish
within ``timeout``, like the CONNECT after it.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

from ..config.listen import listen_host
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config.model import Section
    from ..interfaces import TransportContext
    from ..primitives import ListenAddress

__all__ = ["TlsTransport", "build_context"]

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def build_context(server: Section) -> ssl.SSLContext:
    """The server-side SSLContext; ConfigError names the file and key of any problem."""

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{server.origin(key)}: server.{key}: {problem}")

    certificate, key = server["tls_certificate"], server["tls_key"]
    if certificate is None:
        raise fail("tls_certificate", "a tls:// listener needs a certificate (PEM file)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[server["tls_min_version"]]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(certificate, key)
    except FileNotFoundError as error:
        raise fail("tls_key" if key is not None and error.filename == key else "tls_certificate",
                   f"no such file: {error.filename or certificate}") from None
    except (ssl.SSLError, OSError) as error:
        raise fail("tls_certificate", f"cannot load the certificate and key: {error}") from None
    if server["tls_ciphers"] is not None:
        try:
            context.set_ciphers(server["tls_ciphers"])
        except ssl.SSLError:
            raise fail("tls_ciphers", "OpenSSL accepts none of these ciphers") from None
    verify = server["tls_verify_client"]
    if verify != "none":
        if server["tls_client_ca"] is None:
            raise fail("tls_verify_client", f"{verify!r} needs tls_client_ca (the CAs of client certificates)")
        try:
            context.load_verify_locations(cafile=server["tls_client_ca"])
        except (ssl.SSLError, OSError) as error:
            raise fail("tls_client_ca", f"cannot load the CA certificates: {error}") from None
        context.verify_mode = _VERIFY[verify]
    return context


class TlsTransport:
    """``tls://HOST:PORT``: the core's STOMP connection behind asyncio's TLS."""

    def prepare(self, address: ListenAddress, context: TransportContext) -> None:
        build_context(context.config.server)  # certificate, key and CA files load

    async def listen(
        self, address: ListenAddress, context: TransportContext
    ) -> tuple[asyncio.AbstractServer, list[tuple[str, int]]]:
        ssl_context = build_context(context.config.server)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: context.connection(transport_name="tls"),
            listen_host(address.host),
            address.port,
            ssl=ssl_context,
            ssl_handshake_timeout=context.limits.timeout,
            reuse_address=True,
            reuse_port=context.reuse_port,
            backlog=context.listen_backlog,
        )
        bound = [sock.getsockname()[:2] for sock in server.sockets]
        return server, bound
