"""Authentication at CONNECT: the chain of authenticators, and xtomp's static login/passcode.

A refused CONNECT gets its ERROR ``auth err`` after ``auth_failure_delay`` (an
``asyncio.sleep`` while the connection's reading is paused: the loop keeps serving everyone
else), and each refusal counts against the client's address
(:class:`~xtomp_core.security.ratelimit.FailureTable`); an address over
``auth_max_failures`` is refused without asking any authenticator.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AuthRejected, ConfigError, XtompError
from ..plugin_errors import plugin_failure
from ..primitives import Principal
from ..security.ratelimit import FailureTable, client_address
from ..security.users import UserDirectory

if TYPE_CHECKING:
    from ..config.model import Config
    from ..destination import Session
    from ..interfaces import AuthContext, Authenticator
    from ..primitives import Stash
    from ..registry import Registry

__all__ = ["AuthServices", "build_auth_chain", "AuthChain", "StaticAuthenticator", "ANONYMOUS", "WRONG_CREDENTIALS", "LOCKED_OUT"]

ANONYMOUS = Principal("anonymous")
PROTECTED = (
    "protected mode: this broker has no authenticator, so only clients on this machine may connect; configure "
    "login and passcode, [users] passwords or an authenticator, or set protected_mode = false"
)
WRONG_CREDENTIALS = "wrong login or passcode"
LOCKED_OUT = "too many failed logins from this address, try again later"


class StaticAuthenticator:
    """xtomp's check: CONNECT must carry exactly ``[server] login`` and ``passcode``.

    ``passcode`` may be a hash from ``xtomp passwd`` instead of plain text; it is then
    checked in a worker thread like a ``[users."NAME"]`` password.
    """

    def __init__(self, context: AuthContext) -> None:
        server = context.config.server
        self.login: str | None = server["login"]
        self.passcode: str = server["passcode"] or ""
        self.hashed = None
        from ..security.passwords import looks_like_hash, parse_hash  # here: only a configured login needs it

        if looks_like_hash(self.passcode):
            try:
                self.hashed = parse_hash(self.passcode)
            except ValueError as problem:
                raise ConfigError(f"{server.origin('passcode')}: server.passcode: {problem}") from None

    def authenticate(
        self, login: str | None, passcode: str | None, session: Session
    ) -> Principal | None | Awaitable[Principal | None]:
        if self.login is None or login is None:
            return None
        import hmac  # here: it maps OpenSSL's libcrypto, 3.7 MB a broker without a login never needs

        # compare_digest on both so the time taken does not reveal which one was wrong
        login_ok = hmac.compare_digest(login.encode(), self.login.encode())
        if self.hashed is not None:
            return self._check_hash(login, passcode or "", login_ok)
        passcode_ok = hmac.compare_digest((passcode or "").encode(), self.passcode.encode())
        return Principal(login) if login_ok and passcode_ok else None

    async def _check_hash(self, login: str, passcode: str, login_ok: bool) -> Principal | None:
        from ..security.users import check_password

        assert self.hashed is not None
        passcode_ok = await check_password(self.hashed, passcode)
        return Principal(login) if login_ok and passcode_ok else None


class AuthChain:
    """Ask each authenticator in config order; the first Principal wins.

    An empty chain lets everyone in (as xtomp without ``login``). A chain in which nobody
    accepts, or an authenticator raising ``AuthRejected``, refuses with ``auth err`` after
    ``failure_delay`` seconds, and counts the failure against the client's address in
    ``failures`` (when given).
    """

    def __init__(
        self,
        authenticators: Sequence[Authenticator],
        *,
        failure_delay: float = 0.0,
        failures: FailureTable | None = None,
        protected: bool = False,
    ) -> None:
        self.authenticators = tuple(authenticators)
        #: With no authenticator, refuse clients that are not on loopback (protected_mode).
        self.protected = protected and not self.authenticators
        self.failure_delay = failure_delay
        self.failures = failures
        #: CONNECTs refused so far (for the stats).
        self.refused = 0

    def __bool__(self) -> bool:
        return bool(self.authenticators)

    def authenticate(
        self, login: str | None, passcode: str | None, session: Session
    ) -> Principal | Awaitable[Principal]:
        """A Principal now, or an awaitable of one when an authenticator is asynchronous
        (or the refusal is delayed); raises ``AuthRejected`` when refusing at once."""
        if not self.authenticators:
            if self.protected and not is_loopback(session.link.peer_host):
                self.refused += 1
                raise AuthRejected(PROTECTED)
            return Principal(login) if login else ANONYMOUS
        address = client_address(session.link)
        if self.failures is not None and self.failures.locked(address):
            return self._refuse(AuthRejected(LOCKED_OUT), None)
        try:
            for position, authenticator in enumerate(self.authenticators):
                result = authenticator.authenticate(login, passcode, session)
                if inspect.isawaitable(result):
                    return self._finish(result, position, login, passcode, session, address)
                if result is not None:
                    return result
        except AuthRejected as rejected:
            return self._refuse(rejected, address)
        return self._refuse(AuthRejected(WRONG_CREDENTIALS), address)

    def _refuse(self, error: AuthRejected, address: str | None) -> Awaitable[Principal]:
        """Count the failure (``address`` None: do not) and raise ``error``, after the delay."""
        self.refused += 1
        if address is not None and self.failures is not None:
            self.failures.failed(address)
        if self.failure_delay <= 0:
            raise error
        return self._raise_later(error)

    async def _raise_later(self, error: AuthRejected) -> Principal:
        await asyncio.sleep(self.failure_delay)
        raise error

    async def _finish(
        self,
        pending: Awaitable[Principal | None],
        position: int,
        login: str | None,
        passcode: str | None,
        session: Session,
        address: str,
    ) -> Principal:
        try:
            result = await pending
            if result is not None:
                return result
            for authenticator in self.authenticators[position + 1 :]:
                answer = authenticator.authenticate(login, passcode, session)
                if inspect.isawaitable(answer):
                    answer = await answer
                if answer is not None:
                    return answer
        except AuthRejected as rejected:
            error = rejected
        else:
            error = AuthRejected(WRONG_CREDENTIALS)
        self.refused += 1
        if self.failures is not None:
            self.failures.failed(address)
        if self.failure_delay > 0:
            await asyncio.sleep(self.failure_delay)
        raise error


class AuthServices:
    """What authenticator factories are given (an :class:`~xtomp_core.AuthContext`), plus
    the users table for the core's own ``users`` authenticator."""

    __slots__ = ("_config", "_stash", "users")

    def __init__(self, config: Config, stash: Stash, users: UserDirectory) -> None:
        self._config = config
        self._stash = stash
        self.users = users

    @property
    def config(self) -> Config:
        return self._config

    @property
    def stash(self) -> Stash:
        return self._stash

    def groups(self, login: str) -> tuple[str, ...]:
        return self.users.groups(login)

    def principal(self, login: str) -> Principal:
        return self.users.principal(login)


def chain_names(config: Config, users: UserDirectory) -> list[str]:
    """The authenticators of the chain, in order: ``[server] authenticators``, then those
    that xtomp's own settings imply (``login``, ``[users]`` passwords, ``secret``)."""
    server = config.server
    names = list(server["authenticators"])
    implied = (
        ("static", server["login"] is not None),
        ("users", users.with_passwords),
        ("token", server["secret"] is not None),
    )
    for name, configured in implied:
        if configured and name not in names:
            names.append(name)
    return names


def check_chain(config: Config, names: list[str], registry: Registry[Any]) -> None:
    """Every authenticator of the chain is registered (before any configure hook runs)."""
    for name in names:
        if name not in registry:
            where = config.server.origin("authenticators")
            raise ConfigError(f"{where}: server.authenticators: {registry.missing(name)}")


def build_auth_chain(names: list[str], registry: Registry[Any], context: AuthServices) -> AuthChain:
    """Run each authenticator factory once; a failure is a config error naming its plugin."""
    server = context.config.server
    authenticators = []
    for name in names:
        try:
            authenticators.append(registry.get(name)(context))
        except XtompError:
            raise
        except Exception as error:
            raise plugin_failure(registry.owner(name), f"authenticator {name!r}", error) from error
    failures = None
    if server["auth_max_failures"]:
        failures = FailureTable(server["auth_max_failures"], server["auth_failure_window"], server["auth_failure_table_size"])
    return AuthChain(
        authenticators, failure_delay=server["auth_failure_delay"], failures=failures, protected=server["protected_mode"]
    )


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1``, or either mapped into IPv6."""
    # socket.inet_pton, not the ipaddress module: 0.3 MB of an idle broker for this test.
    host = host.split("%", 1)[0]
    try:
        return socket.inet_pton(socket.AF_INET, host)[0] == 127
    except (OSError, ValueError):
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except (OSError, ValueError):
        return False
    return packed == _IPV6_LOOPBACK or (packed[:12] == _IPV4_MAPPED and packed[12] == 127)


_IPV6_LOOPBACK = bytes(15) + b"\x01"
_IPV4_MAPPED = bytes(10) + b"\xff\xff"
