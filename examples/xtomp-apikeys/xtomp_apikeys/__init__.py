"""Example xtomp plugin: ``apikeys``, an authenticator for API keys listed in a file.

A client connects with an API key as its passcode (the login header is ignored: the key
says who it is). The keys file holds one key per line, with the login it stands for and,
optionally, that login's groups for the access rules::

    # KEY                              LOGIN      GROUPS
    xk_4QZ5bTz0m2kYc8Wq1vN7sHdE        ci-robot   deploy,metrics
    xk_Jb1o9Xw2Lr6Ue3Ta5Pk8Gq4Fy       grafana    metrics

Enable it, and put it in the authentication chain::

    [plugins.apikeys]
    keys_file = "/etc/xtomp/apikeys"

    [server]
    authenticators = ["apikeys", "users"]

Each authenticator of the chain answers a CONNECT in one of three ways, and this one
shows all three: a known key is accepted (a ``Principal``); an unknown passcode that looks
like a key (it starts with ``key_prefix``, ``xk_``) is refused at once with
``AuthRejected``, since it cannot be anybody's password and the client should be told; any
other passcode is declined (``None``), so the next authenticator (``users``) may accept it
as a password.

It also shows a factory that checks its configuration and raises ``ConfigError`` naming
the file and the key, a configure hook that cross-checks ``[server]``, and figures kept
per broker in the ``Stash``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtomp_core import (
    AuthContext,
    AuthRejected,
    BrokerView,
    Config,
    ConfigError,
    DirectiveSet,
    Principal,
    Registrar,
    Session,
    StashKey,
    hookimpl,
    plugin_scope,
)

__all__ = ["ApiKeyAuthenticator", "read_keys"]

PLUGIN = "apikeys"
SCOPE = plugin_scope(PLUGIN)
#: Shorter keys are refused when the file is read: a key is a password nobody has to remember.
MIN_KEY_LENGTH = 20

log = logging.getLogger("xtomp.apikeys")


@dataclass
class Figures:
    """What ``xtomp_collect_stats`` reports; one per broker, kept in the broker's stash."""

    keys: int = 0
    accepted: int = 0
    refused: int = 0


# A module-level counter would be shared by every broker of the process (tests start many);
# a StashKey names state that lives and dies with one broker.
FIGURES = StashKey[Figures]("apikeys figures")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def read_keys(text: str, where: str, prefix: str) -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """Parse a keys file: the SHA-256 of each key -> (login, groups).

    ``where`` starts every error message (the config file and key naming the keys file);
    messages name the line, never the key itself.
    """
    keys: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    lines: dict[bytes, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        # "#" starts a comment, on a line of its own or after the fields.
        for position, field in enumerate(fields):
            if field.startswith("#"):
                del fields[position:]
                break
        if not fields:
            continue
        if len(fields) > 3:
            raise ConfigError(f"{where}: line {number}: expected KEY LOGIN [GROUP,GROUP...], found {len(fields)} fields")
        if len(fields) < 2:
            raise ConfigError(f"{where}: line {number}: the key has no login: expected KEY LOGIN [GROUP,GROUP...]")
        key, login = fields[0], fields[1]
        if not key.startswith(prefix):
            # Otherwise a mistyped copy of this key would not look like a key, and would be
            # passed down the chain instead of refused.
            raise ConfigError(f"{where}: line {number}: the key does not start with key_prefix {prefix!r}")
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{where}: line {number}: the key is too short ({len(key)} characters, at least {MIN_KEY_LENGTH}): "
                f"make one with python3 -c 'import secrets; print(\"{prefix}\" + secrets.token_urlsafe(24))'"
            )
        groups = tuple(group for group in fields[2].split(",") if group) if len(fields) == 3 else ()
        digest = _digest(key)
        if digest in keys:
            raise ConfigError(f"{where}: line {number}: the same key is on line {lines[digest]} already")
        keys[digest] = (login, groups)
        lines[digest] = number
    return keys


class ApiKeyAuthenticator:
    """The authenticator (its class is the factory: ``ApiKeyAuthenticator(context)``).

    The core calls the factory once, after every ``xtomp_configure``, and only when
    ``apikeys`` is in the chain; a ``ConfigError`` raised here reaches the user as it is
    (``xtomp -t`` shows it), any other exception is reported as a config error naming the
    plugin.
    """

    def __init__(self, context: AuthContext) -> None:
        section = context.config.plugins[PLUGIN]
        self.prefix: str = section["key_prefix"]
        path: str | None = section["keys_file"]
        # Section.where(key): the file that set the key, or the one declaring the table.
        where = f"{section.where('keys_file')}: plugins.{PLUGIN}.keys_file"
        if path is None:
            raise ConfigError(f"{where}: is required: the file of API keys, one KEY LOGIN [GROUP,GROUP...] per line")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{where}: cannot read {path}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: {path} is not UTF-8 text") from None
        # Keys are kept only as SHA-256 digests, looked up in a dict: the lookup compares
        # digests, so how long it takes tells an attacker about the digest of their own
        # guess, which says nothing about any real key (and no key sits in memory in clear).
        self.keys: dict[bytes, Principal] = {
            digest: Principal(login, tuple(dict.fromkeys(groups + context.groups(login))))
            for digest, (login, groups) in read_keys(text, f"{where}: {path}", self.prefix).items()
        }
        if not self.keys:
            log.warning("%s holds no API key: every key will be refused", path)
        self.figures = context.stash.setdefault(FIGURES, Figures)
        self.figures.keys = len(self.keys)

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Principal | None:
        # Runs on the event loop once per CONNECT: one SHA-256 and one dict lookup, a few
        # microseconds, so no need for a thread (a password hash would need one: return a
        # coroutine then, and the chain awaits it).
        if not passcode:
            return None
        principal = self.keys.get(_digest(passcode))
        if principal is not None:
            self.figures.accepted += 1
            return principal
        if self.prefix and passcode.startswith(self.prefix):
            self.figures.refused += 1
            log.info("session %s: unknown API key", session.describe())
            # The text reaches the client after "auth err - ": never put the key in it.
            raise AuthRejected("unknown API key")
        return None  # not a key: perhaps a password, for the next authenticator


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "keys_file", "str", None, SCOPE,
        "The API keys file: one KEY LOGIN [GROUP,GROUP...] per line, # starts a comment. Read at start-up.",
    )
    directives.declare(
        "key_prefix", "str", "xk_", SCOPE,
        "What every API key starts with: a passcode with this prefix that is no known key is refused at once "
        "instead of being passed to the next authenticator.",
    )


@hookimpl
def xtomp_register_authenticators(registry: Registrar[Any]) -> None:
    registry.register(PLUGIN, ApiKeyAuthenticator)


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    # The chain is what [server] authenticators lists: an enabled plugin that is not in it
    # would never be asked, which is surely not what the user meant.
    server = config.server
    if PLUGIN not in server["authenticators"]:
        raise ConfigError(
            f"{server.where('authenticators')}: server.authenticators: [plugins.{PLUGIN}] is enabled but "
            f"\"{PLUGIN}\" is not in the chain: add it (e.g. authenticators = [\"{PLUGIN}\", \"users\"])"
        )


@hookimpl
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    figures = broker.stash.get(FIGURES)
    if figures is not None:
        stats[PLUGIN] = {"keys": figures.keys, "accepted_total": figures.accepted, "refused_total": figures.refused}
