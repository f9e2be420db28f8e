"""The ``tls_client_auth`` authenticator: a verified client certificate's subject is the login.

The TLS transport verifies the certificate during the handshake (``tls_verify_client``,
``tls_client_ca``); this authenticator only reads the verified subject through the link's
``peer_certificate()`` (any transport that authenticates clients may offer it). It needs no
``ssl`` import. A CONNECT without a certificate, or whose (non-empty) ``login`` names someone else, is
left to the next authenticator of the chain; the principal gets the groups of the
``[users."NAME"]`` table of that name, when there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..primitives import Principal

if TYPE_CHECKING:
    from ..destination import Session
    from ..interfaces import AuthContext

__all__ = ["TlsClientAuthenticator", "subject_field"]


def subject_field(certificate: dict[str, Any], field: str) -> str | None:
    """The first value of ``field`` in the subject of a certificate as ``SSLSocket.getpeercert()`` gives it."""
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == field:
                return str(value)
    return None


class TlsClientAuthenticator:
    def __init__(self, context: AuthContext) -> None:
        self.field: str = context.config.server["tls_login_field"]
        self.context = context

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Principal | None:
        peer_certificate = getattr(session.link, "peer_certificate", None)
        certificate = peer_certificate() if peer_certificate is not None else None
        if not certificate:
            return None
        name = subject_field(certificate, self.field)
        if not name or (login and login != name):
            return None
        return self.context.principal(name)
