"""Topic: every matching subscriber gets every message; nothing is kept when nobody listens.

Slow consumers (theory of operation)
------------------------------------
A subscriber is slow while its connection holds more than ``write_buffer_high`` unsent
bytes (``link.paused``). What the topic does about it is its ``slow_consumer`` policy:

* ``pause`` (the default, lossless): the slow subscriber still gets every message, and the
  topic holds each producer that publishes to it meanwhile (it stops reading that
  producer's connection: per-destination credit, as RabbitMQ's flow control and ActiveMQ's
  producer flow control do). When the last slow subscriber drained below
  ``write_buffer_low`` (or left), the producers are released. A subscriber stuck longer than
  ``slow_consumer_timeout`` is disconnected with ERROR "slow consumer", so one dead reader
  cannot stall a topic for ever. The memory a slow subscriber can pile up is its write
  buffer plus what each producer had already read when it was held.
* ``drop``: the slow subscriber misses the message (counted in ``dropped``); producers and
  the other subscribers never wait (market data, telemetry).
* ``disconnect``: the slow subscriber gets ERROR "slow consumer" and is closed at once.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from xtomp_core import Destination, LimitExceeded

if TYPE_CHECKING:
    import asyncio

    from xtomp_core import DestinationContext, Message, Section, Session, Subscription

__all__ = ["Topic"]

log = logging.getLogger("xtomp.topics")

PAUSE, DROP, DISCONNECT = "pause", "drop", "disconnect"


class Topic(Destination):
    """Synchronous fan-out with encode-once frames and a slow-consumer policy (see the module doc).

    ``publish`` never waits: ``fan_out`` appends the shared tail (and each subscription's
    prefix) to the subscribers' output lists, which the server flushes once per loop pass.
    """

    __slots__ = ("policy", "lossless", "stuck_timeout", "stuck", "held", "producer_pauses", "slow_disconnects", "_timer")

    type_name = "topic"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        self.policy: str = settings["slow_consumer"]
        self.lossless = self.policy == PAUSE
        self.stuck_timeout: float = settings["slow_consumer_timeout"]
        #: Slow subscribers (pause policy) and since when (time.monotonic()).
        self.stuck: dict[Subscription, float] = {}
        #: Producers this topic holds until its slow subscribers drain.
        self.held: dict[Session, None] = {}
        self.producer_pauses = 0
        self.slow_disconnects = 0
        self._timer: asyncio.TimerHandle | None = None

    def publish(self, message: Message, sender: Session | None) -> None:
        self.enqueued += 1
        if self.lossless:
            slow = self.fan_out(message, False)
            if slow is not None:
                self._hold(slow, sender)
            return
        slow = self.fan_out(message)
        if slow is not None:
            for subscription in slow:
                self.dropped += 1
                if self.policy == DISCONNECT:
                    self._disconnect(subscription, "more than write_buffer_high bytes unsent")

    # -- the pause policy ---------------------------------------------------------------------

    def _hold(self, slow: list[Subscription], sender: Session | None) -> None:
        now = time.monotonic()
        stuck = self.stuck
        for subscription in slow:
            if subscription not in stuck:
                stuck[subscription] = now
        if sender is not None and sender not in self.held and sender.connected:
            self.held[sender] = None
            self.producer_pauses += 1
            sender.hold(self)
        if self._timer is None and self.stuck_timeout > 0:
            loop = self.context.loop
            if loop is not None:
                self._timer = loop.call_later(self.stuck_timeout, self._check_stuck)

    def writable(self, subscription: Subscription) -> None:
        self._unstuck(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        self._unstuck(subscription)

    def _unstuck(self, subscription: Subscription) -> None:
        stuck = self.stuck
        if stuck and stuck.pop(subscription, None) is not None and not stuck:
            self._release()

    def _release(self) -> None:
        """No subscriber is slow any more: let every held producer go (on the next loop pass,
        not from inside the drained connection's callback)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self.held = self.held, {}
        for session in held:
            self.context.call_soon(partial(session.release, self))

    def _check_stuck(self) -> None:
        """Disconnect the subscribers slow for longer than slow_consumer_timeout; re-arm for the rest."""
        self._timer = None
        now = time.monotonic()
        timeout = self.stuck_timeout
        for subscription, since in list(self.stuck.items()):
            if now - since >= timeout:
                self._disconnect(subscription, f"stuck over write_buffer_high for {timeout:g}s (slow_consumer_timeout)")
        if self.stuck:
            loop = self.context.loop
            if loop is not None:
                earliest = min(self.stuck.values())
                self._timer = loop.call_later(max(earliest + timeout - now, 0.01), self._check_stuck)

    def _disconnect(self, subscription: Subscription, why: str) -> None:
        session = subscription.session
        self.slow_disconnects += 1
        if session.connected:
            name = self.name.decode("utf-8", "replace")
            log.info("session %s: slow consumer on %s, disconnecting: %s", session.describe(), name, why)
            session.fail(LimitExceeded("slow consumer", f"{why} on {name}"))
        self._unstuck(subscription)  # its session's end unsubscribed it already, unless it had ended

    # -- the rest ---------------------------------------------------------------------------------

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        # A topic keeps nothing to acknowledge; ACKs in client modes are accepted as no-ops.
        return subscription.client_ack

    def close(self) -> None:
        super().close()
        self.stuck.clear()
        self._release()

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures.update(
            slow_consumer=self.policy,
            slow_subscribers=len(self.stuck),
            held_producers=len(self.held),
            producer_pauses=self.producer_pauses,
            slow_disconnects=self.slow_disconnects,
        )
        return figures
