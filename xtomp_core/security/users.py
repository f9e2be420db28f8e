"""The users table (``[users."NAME"]``) and the ``users`` authenticator that checks its passwords.

Password checks are slow on purpose (scrypt or PBKDF2), so they run in a small pool of
worker threads (hashlib releases the GIL while hashing): the event loop keeps serving every
other connection while a CONNECT is checked. A login naming no known user is checked
against a dummy hash of the same cost, so response times do not tell which users exist.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Protocol

from .._record import record
from ..errors import ConfigError
from ..primitives import Principal
from ..interfaces import AuthContext

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ..config.model import Section
    from ..destination import Session
    from .passwords import PasswordHash

__all__ = ["User", "UserDirectory", "UsersAuthenticator", "check_password"]

#: Password checks at once; more wait their turn (each scrypt check holds 16 MiB).
HASH_WORKERS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The process-wide hashing pool, created on the first password check."""
    global _pool
    with _pool_lock:
        if _pool is None:
            # Imported at the first password check (concurrent.futures.thread and queue are
            # not otherwise part of an idle broker).
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="xtomp-hash")
        return _pool


async def check_password(hashed: PasswordHash, password: str) -> bool:
    """Verify ``password`` against ``hashed`` in a worker thread."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), hashed.verify, password)


@record(frozen=True)
class User:
    __slots__ = ("name", "password", "groups")
    name: str
    password: PasswordHash | None
    groups: tuple[str, ...]

    def __init__(self, name: str, password: PasswordHash | None, groups: tuple[str, ...]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "groups", groups)

class UserDirectory:
    """The ``[users."NAME"]`` tables, with their hashes parsed (a bad one is a ConfigError)."""

    def __init__(self, sections: Mapping[str, Section]) -> None:
        self.users: dict[str, User] = {}
        problems = []
        for name, section in sections.items():
            password = None
            if section["password"] is not None:
                # here: a broker without passwords does not import the passwords module
                from .passwords import parse_hash

                try:
                    password = parse_hash(section["password"])
                except ValueError as problem:
                    problems.append(f"{section.where('password')}: {section.path}.password: {problem}")
                    continue
            self.users[name] = User(name, password, tuple(section["groups"]))
        if problems:
            raise ConfigError("\n".join(problems))

    def get(self, name: str) -> User | None:
        return self.users.get(name)

    def groups(self, name: str) -> tuple[str, ...]:
        user = self.users.get(name)
        return user.groups if user is not None else ()

    def principal(self, name: str) -> Principal:
        """A principal for ``name`` (authenticated by other means) with its groups, if known."""
        return Principal(name, self.groups(name))

    @property
    def with_passwords(self) -> bool:
        return any(user.password is not None for user in self.users.values())


class UsersContext(AuthContext, Protocol):
    """The core's authentication context, which also carries the users table."""

    users: UserDirectory


_dummy: list[PasswordHash] = []  # DUMMY_HASH parsed at the first unknown login (parsing imports base64)


class UsersAuthenticator:
    """Accepts a CONNECT whose login names a user with a password and whose passcode matches it.

    Declines (None: the next authenticator decides) otherwise.
    """

    def __init__(self, context: UsersContext) -> None:
        self.directory: UserDirectory = context.users

    def authenticate(self, login: str | None, passcode: str | None, session: Session) -> Awaitable[Principal | None] | None:
        if login is None or passcode is None:
            return None
        user = self.directory.get(login)
        return self._check(user, passcode)

    async def _check(self, user: User | None, passcode: str) -> Principal | None:
        if user is not None and user.password is not None:
            hashed = user.password
        else:
            if not _dummy:
                from .passwords import DUMMY_HASH, parse_hash

                _dummy.append(parse_hash(DUMMY_HASH))
            hashed = _dummy[0]
        matches = await check_password(hashed, passcode)
        if matches and user is not None and user.password is not None:
            return Principal(user.name, user.groups)
        return None
