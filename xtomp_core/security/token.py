"""xtomp's shared-secret token scheme (the ``token`` authenticator), with its bugs fixed.

Wire format, as xtomp and its console issue tokens: ``login = "USER TIMESTAMP [RANDOM]"``
(TIMESTAMP in Unix seconds) and ``passcode = base64(MAC)``. The MAC is
HMAC-SHA256(secret, login) by default; ``secret_algorithm = "sha1"`` accepts xtomp's
original ``sha1(login + secret)`` for issuers that cannot change yet.

Fixed: a timestamp in the future is refused (beyond ``secret_clock_skew``; xtomp accepted
any future time, so a far-future token never expired); a short secret is a config error
that does not print the secret (xtomp echoed it to stderr); ``login`` plus ``secret`` no
longer lock everyone out (each is one link of the chain: either may accept).

Not prevented: replay of a token within its lifetime (a reconnecting client reuses its
token). Keep ``secret_timeout`` short and use TLS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..primitives import Principal

if TYPE_CHECKING:
    from ..config.model import Section
    from ..destination import Session
    from ..interfaces import AuthContext

__all__ = ["TokenAuthenticator", "make_token", "MIN_SECRET_LENGTH"]

log = logging.getLogger("xtomp.auth")

MIN_SECRET_LENGTH = 16


# base64, hashlib and hmac are imported where they are used: hashlib and hmac map OpenSSL's
# libcrypto (3.7 MB resident), which a broker without the token authenticator never needs.


def _mac(secret: bytes, login: bytes, algorithm: str) -> bytes:
    import hashlib
    import hmac

    if algorithm == "sha1":
        return hashlib.sha1(login + secret).digest()
    return hmac.new(secret, login, hashlib.sha256).digest()


def make_token(user: str, secret: str, algorithm: str = "hmac-sha256", now: float | None = None, nonce: str = "") -> tuple[str, str]:
    """An issuer's (login, passcode) pair, for tests and for scripts that mint tokens."""
    stamp = int(time.time() if now is None else now)
    login = f"{user} {stamp}" + (f" {nonce}" if nonce else "")
    import base64

    passcode = base64.b64encode(_mac(secret.encode(), login.encode(), algorithm)).decode("ascii")
    return login, passcode


def check_secret(server: Section) -> None:
    """ConfigError for a secret too short to resist guessing (without printing it)."""
    secret = server["secret"]
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{server.origin('secret')}: server.secret: too short ({len(secret)} characters): use at least "
            f"{MIN_SECRET_LENGTH} random characters, e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


class TokenAuthenticator:
    """Accepts a login ``"USER TIMESTAMP [RANDOM]"`` whose passcode is the MAC of that login."""

    def __init__(self, context: AuthContext, clock: Callable[[], float] = time.time) -> None:
        server = context.config.server
        if server["secret"] is None:
            raise ConfigError(
                f"{server.origin('authenticators')}: server.authenticators: \"token\" needs server.secret"
            )
        check_secret(server)
        import base64
        import hmac

        self.b64encode = base64.b64encode
        self.compare_digest = hmac.compare_digest
        self.secret: bytes = server["secret"].encode()
        self.timeout: float = server["secret_timeout"]
        self.skew: float = server["secret_clock_skew"]
        self.algorithm: str = server["secret_algorithm"]
        self.context = context
        self.clock = clock

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Principal | None:
        if login is None or passcode is None:
            return None
        fields = login.split(" ")
        stamp = fields[1] if len(fields) >= 2 else ""
        if not fields[0] or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
            return None  # not a token: another authenticator may know this login
        expected = self.b64encode(_mac(self.secret, login.encode(), self.algorithm))
        if not self.compare_digest(expected, passcode.encode()):
            return None
        age = self.clock() - int(stamp)
        if age > self.timeout:
            log.info("token of %s expired %.0fs ago", fields[0], age - self.timeout)
            return None
        if age < -self.skew:
            log.info("token of %s is dated %.0fs in the future", fields[0], -age)
            return None
        return self.context.principal(fields[0])
