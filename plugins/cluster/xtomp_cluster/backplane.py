"""The backplane interface: what the cluster's topics and queues ask of a shared engine.

Redis (``redis_backend.RedisBackplane``) is the one implementation today; the interface is
kept narrow so that another engine (NATS JetStream) can stand behind it later. Everything a
destination calls here is synchronous and never waits: commands are queued and sent as one
pipeline per event-loop pass, replies come back as futures, and pub/sub messages arrive
through callbacks on the event loop.

Delivery contract of ``publish``/``subscribe``: at most once, in order per publishing node
while the backplane is up; what is published while it is down is dropped (and counted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, Union

from xtomp_core import StashKey

__all__ = ["Arg", "Backplane", "BACKPLANE", "Callback", "StateListener", "backplane_of"]

#: A pub/sub message handler: ``callback(channel, payload)``, run on the event loop.
Callback = Callable[[bytes, bytes], None]
#: Told ``True`` when the backplane comes up (every subscription restored), ``False`` when it goes down.
StateListener = Callable[[bool], None]
#: One argument of a command.
Arg = Union[bytes, str, int, float]


class Backplane(Protocol):
    """A shared message engine, as the cluster plugin's destinations use it."""

    @property
    def node(self) -> str:
        """This broker's stable node id (unique in the cluster)."""

    def rename(self, node: str) -> None:
        """Take another node id, before ``start``: a worker process (``workers`` above 1) was
        forked from the master after the configuration built this backplane."""

    @property
    def up(self) -> bool:
        """Connected, with every subscription in place."""

    def publish(self, channel: bytes, payload: bytes) -> None:
        """Publish to a pub/sub channel with the next pipeline; dropped (counted) while down."""

    def skip_own(self, prefix: bytes | None) -> None:
        """Payloads starting with ``prefix`` are this node's own messages coming back from the
        engine: dropped as they arrive, before any callback, and counted in ``echoes``
        (None: every payload goes to its callback)."""

    @property
    def echoes(self) -> int:
        """How many of this node's own messages ``skip_own`` dropped."""

    def subscribe(self, channel: bytes, callback: Callback) -> None:
        """Receive the channel's messages from now on (and again after every reconnect)."""

    def unsubscribe(self, channel: bytes) -> None:
        """Stop receiving the channel (messages already on their way may still arrive)."""

    def psubscribe(self, pattern: bytes, callback: Callback) -> None:
        """Receive the messages of every channel matching a glob pattern (Redis PSUBSCRIBE);
        the callback gets the channel the message was published to."""

    def punsubscribe(self, pattern: bytes) -> None:
        """Stop receiving a pattern."""

    def subscribed(self, channel: bytes, done: Callable[[], None]) -> None:
        """Call ``done`` (on a later loop pass) once the engine confirmed the subscription to
        ``channel``: at once when it already had, or while the backplane is not up (the node
        is local-only then), or when it goes down before confirming."""

    def psubscribed(self, pattern: bytes, done: Callable[[], None]) -> None:
        """``subscribed`` for a pattern."""

    def command(self, *args: Arg) -> asyncio.Future[Any]:
        """Queue one command for the next pipeline (in order with ``publish``). Its future
        gets the reply; an error reply sets its exception (``redis.ResponseError``), and so
        does ``ConnectionError`` when the backplane is down or goes down before the reply."""

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(up)`` on every change of ``up``."""

    async def start(self) -> None:
        """Start connecting (returns at once; the supervisor keeps reconnecting while down)."""

    async def close(self) -> None:
        """Stop: close the connections, fail what waits for a reply."""

    def stats(self) -> dict[str, Any]:
        """Figures for ``xtomp_collect_stats`` (numbers only)."""


#: The broker's backplane, in its stash (made by the cluster plugin's ``xtomp_configure``).
BACKPLANE = StashKey[Backplane]("cluster backplane")


def backplane_of(stash: Any) -> Backplane:
    """The broker's backplane (``context.stash`` or ``broker.stash``)."""
    return stash[BACKPLANE]  # type: ignore[no-any-return]
