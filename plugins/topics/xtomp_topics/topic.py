"""Topic: every matching subscriber gets every message; nothing is kept when nobody listens."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from xtomp_core import Destination, LimitExceeded

if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Message, Section, Session, Subscription

__all__ = ["Topic"]

log = logging.getLogger("xtomp.topics")


class Topic(Destination):
    """Synchronous fan-out with encode-once frames and a slow-consumer policy.

    ``publish`` never waits: ``fan_out`` appends the shared tail (and each subscription's
    prefix) to the subscribers' output lists, which the server flushes once per loop pass.
    A subscriber whose connection is paused (over ``write_buffer_high``) is a slow
    consumer: it misses the message (``drop``) or is disconnected (``disconnect``), and no
    other subscriber waits for it or pays for its backlog.
    """

    __slots__ = ("disconnect_slow",)

    type_name = "topic"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        self.disconnect_slow = settings["slow_consumer"] == "disconnect"

    def publish(self, message: Message, sender: Session | None) -> None:
        self.enqueued += 1
        slow = self.fan_out(message)
        if slow is not None:
            for subscription in slow:
                self._slow(subscription)

    def _slow(self, subscription: Subscription) -> None:
        self.dropped += 1
        session = subscription.session
        if self.disconnect_slow and session.connected:
            name = self.name.decode("utf-8", "replace")
            log.info("session %s: slow consumer on %s, disconnecting", session.describe(), name)
            session.fail(LimitExceeded("slow consumer", f"more than write_buffer_high bytes unsent on {name}"))

    def owns(self, subscription: Subscription, message_id: int) -> bool:
        # A topic keeps nothing to acknowledge; ACKs in client modes are accepted as no-ops.
        return subscription.client_ack
