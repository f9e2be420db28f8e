"""Hook implementations of the jwt plugin (entry point ``jwt`` in group ``xtomp.plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import ConfigError, DirectiveSet, Registrar, hookimpl, plugin_scope

if TYPE_CHECKING:
    from xtomp_core import BrokerView, Config

SCOPE = plugin_scope("jwt")


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    d("secret", "str", None, SCOPE,
      "Shared key for the HMAC algorithms (HS256, HS384, HS512); at least 32 characters.")
    d("public_key_file", "str", None, SCOPE,
      "PEM file with the issuer's public key for RS256/RS384/RS512, PS256..., ES256/ES384/ES512 or EdDSA "
      "(these need the cryptography package: pip install 'xtomp-jwt[crypto]').")
    d("algorithms", "list", (), SCOPE,
      "Accepted \"alg\" values. Unset: [\"HS256\"] with secret, [\"RS256\"] with public_key_file. "
      "\"none\" is never accepted, nor an HMAC algorithm together with a public key.")
    d("audience", "str", None, SCOPE, "When set, a token's \"aud\" must contain it.")
    d("issuer", "str", None, SCOPE, "When set, a token's \"iss\" must equal it.")
    d("login_claim", "str", "sub", SCOPE, "The claim whose value becomes the session's login.")
    d("groups_claim", "str", "groups", SCOPE,
      "The claim listing the user's groups for access rules: a list of strings, or one space-separated "
      "string (as OAuth2 \"scope\").")
    d("leeway", "duration", 10.0, SCOPE, "Clock skew allowed when checking \"exp\", \"nbf\" and \"iat\".",
      minimum=0.0)
    d("require_expiry", "bool", True, SCOPE, "Refuse tokens without an \"exp\" claim.")


@hookimpl
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    from .authenticator import JwtAuthenticator  # imports PyJWT only when the chain uses it

    registry.register("jwt", JwtAuthenticator)


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    server = config.server
    if "jwt" not in server["authenticators"]:
        raise ConfigError(
            f"{server.origin('authenticators')}: server.authenticators: [plugins.jwt] is enabled but \"jwt\" "
            "is not in the chain: add it (e.g. authenticators = [\"jwt\", \"users\"])"
        )
