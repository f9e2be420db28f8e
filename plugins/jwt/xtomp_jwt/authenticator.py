"""The ``jwt`` authenticator: a JSON Web Token in CONNECT's ``passcode`` (as RabbitMQ's OAuth 2 backend).

The token's signature, ``exp`` (required by default), ``nbf``, audience and issuer are
checked by PyJWT with the configured algorithms only (never ``none``, never an HMAC
algorithm with a public key: the classic algorithm-confusion attack). The login comes from
``login_claim`` (``sub``); the ``login`` header is ignored, since the token names its
subject. Groups come from ``groups_claim`` plus the ``[users."NAME"]`` table of that login.

A passcode that is not shaped like a JWT (three dot-separated parts) is left to the next
authenticator; a JWT that fails a check is refused at once (``auth err - token expired`` or
``auth err - invalid token``): it cannot be anyone's password, and an expired token is worth
telling the client, which should fetch a new one. Checking costs microseconds (HS256) to
tens of microseconds (RS256), so it runs on the event loop.

The HMAC algorithms need PyJWT alone (hmac and hashlib); the public-key ones need the
``cryptography`` package (``pip install 'xtomp-jwt[crypto]'``), and configuring one without
it is a config error naming the file and the key, found by ``xtomp -t``, not at a CONNECT.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from xtomp_core import AuthRejected, ConfigError, Principal

if TYPE_CHECKING:
    from xtomp_core import AuthContext, Session

__all__ = ["JwtAuthenticator"]

log = logging.getLogger("xtomp.jwt")

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MIN_SECRET_LENGTH = 32
MAX_TOKEN_LENGTH = 16 * 1024


class JwtAuthenticator:
    def __init__(self, context: AuthContext) -> None:
        settings = context.config.plugins["jwt"]

        def fail(key: str, problem: str) -> ConfigError:
            return ConfigError(f"{settings.where(key)}: plugins.jwt.{key}: {problem}")

        secret, key_file = settings["secret"], settings["public_key_file"]
        if (secret is None) == (key_file is None):
            raise fail("secret", "set exactly one of secret (HS256...) and public_key_file (RS256, ES256...)")
        algorithms = list(settings["algorithms"]) or (["HS256"] if secret is not None else ["RS256"])
        allowed = HMAC_ALGORITHMS if secret is not None else PUBLIC_KEY_ALGORITHMS
        wrong = [name for name in algorithms if name not in allowed]
        if wrong:
            kind = "secret (HMAC)" if secret is not None else "public key"
            raise fail("algorithms", f"{', '.join(wrong)} cannot be used with a {kind}; use {', '.join(sorted(allowed))}")
        self.key: Any
        if secret is not None:
            if len(secret) < MIN_SECRET_LENGTH:
                raise fail("secret", f"too short ({len(secret)} characters): use at least {MIN_SECRET_LENGTH}")
            self.key = secret
        else:
            try:
                from cryptography.hazmat.primitives.serialization import load_pem_public_key
            except ImportError:  # PyJWT installed without its crypto extra: it would refuse every token
                raise fail(
                    "algorithms" if settings["algorithms"] else "public_key_file",
                    f"{', '.join(algorithms)} {'needs' if len(algorithms) == 1 else 'need'} the cryptography package, "
                    "which is not installed: "
                    "pip install 'xtomp-jwt[crypto]' (HS256/HS384/HS512 with a secret need only PyJWT)",
                ) from None
            try:
                pem = Path(key_file).read_bytes()
            except OSError as error:
                raise fail("public_key_file", f"cannot read {key_file}: {error.strerror or error}") from None

            try:
                self.key = load_pem_public_key(pem)
            except ValueError:
                raise fail("public_key_file", f"{key_file} holds no PEM public key") from None
        self.algorithms = algorithms
        self.audience: str | None = settings["audience"]
        self.issuer: str | None = settings["issuer"]
        self.login_claim: str = settings["login_claim"]
        self.groups_claim: str = settings["groups_claim"]
        self.leeway: float = settings["leeway"]
        required = [self.login_claim]
        if settings["require_expiry"]:
            required.append("exp")
        if self.audience is not None:
            required.append("aud")
        if self.issuer is not None:
            required.append("iss")
        self.options = {"require": required}
        self.context = context

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Principal | None:
        if not passcode or passcode.count(".") != 2 or len(passcode) > MAX_TOKEN_LENGTH:
            return None  # not a JWT: perhaps a password for the next authenticator
        try:
            claims = jwt.decode(
                passcode,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self.options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise AuthRejected("token expired") from None
        except jwt.InvalidTokenError as problem:
            log.info("session %s: JWT refused: %s", session.describe(), problem)
            raise AuthRejected("invalid token") from None
        name = claims.get(self.login_claim)
        if not isinstance(name, str) or not name:
            log.info("session %s: JWT refused: claim %r is not a string", session.describe(), self.login_claim)
            raise AuthRejected("invalid token")
        groups = _groups(claims.get(self.groups_claim))
        known = self.context.groups(name)
        return Principal(name, tuple(dict.fromkeys(groups + known)))


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()
