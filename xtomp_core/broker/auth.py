"""Authentication at CONNECT: the chain of authenticators, and xtomp's static login/passcode."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from ..errors import AuthRejected
from ..interfaces import Authenticator, Principal

if TYPE_CHECKING:
    from .broker import Broker
    from .session import Session

__all__ = ["AuthChain", "StaticAuthenticator", "ANONYMOUS"]

ANONYMOUS = Principal("anonymous")


class StaticAuthenticator:
    """xtomp's check: CONNECT must carry exactly ``[server] login`` and ``passcode``."""

    def __init__(self, broker: Broker) -> None:
        server = broker.config.server
        self.login: str | None = server["login"]
        self.passcode: str = server["passcode"] or ""

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Principal | None:
        if self.login is None or login is None:
            return None
        # compare_digest on both so the time taken does not reveal which one was wrong
        login_ok = hmac.compare_digest(login.encode(), self.login.encode())
        passcode_ok = hmac.compare_digest((passcode or "").encode(), self.passcode.encode())
        return Principal(login) if login_ok and passcode_ok else None


class AuthChain:
    """Ask each authenticator in config order; the first Principal wins.

    An empty chain lets everyone in (as xtomp without ``login``). A chain in which nobody
    accepts refuses with ``auth err``.
    """

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = tuple(authenticators)

    def __bool__(self) -> bool:
        return bool(self.authenticators)

    def authenticate(
        self, login: str | None, passcode: str | None, session: Session
    ) -> Principal | Awaitable[Principal]:
        """A Principal now, or an awaitable of one when an authenticator is asynchronous."""
        if not self.authenticators:
            return Principal(login) if login else ANONYMOUS
        for position, authenticator in enumerate(self.authenticators):
            result = authenticator.authenticate(login, passcode, session)
            if inspect.isawaitable(result):
                return self._finish(result, position, login, passcode, session)
            if result is not None:
                return result
        raise AuthRejected("wrong login or passcode")

    async def _finish(
        self,
        pending: Awaitable[Principal | None],
        position: int,
        login: str | None,
        passcode: str | None,
        session: Session,
    ) -> Principal:
        result = await pending
        if result is not None:
            return result
        for authenticator in self.authenticators[position + 1 :]:
            answer = authenticator.authenticate(login, passcode, session)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not None:
                return answer
        raise AuthRejected("wrong login or passcode")
