"""Which delivery an ACK or NACK names, in each STOMP version's style."""

from __future__ import annotations

from collections.abc import Mapping

from ..destination import Subscription
from ..errors import FrameRejected
from ..protocol import constants as c
from ..protocol.frame import Frame

__all__ = ["find_delivery", "show"]


def show(raw: bytes, limit: int = 60) -> str:
    """A header value as it goes into an ERROR text: decoded, cut at ``limit`` bytes."""
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("..." if len(raw) > limit else "")


def find_delivery(
    subscriptions: Mapping[bytes, Subscription], frame: Frame, version: int = c.V1_2
) -> tuple[Subscription, int]:
    """The subscription and message id an ACK/NACK names.

    1.2 sends ``id`` = the MESSAGE's ``ack`` header (``SUBSCRIPTION-ID.MESSAGE-ID``);
    1.1 sends ``message-id`` and ``subscription``; 1.0 may send ``message-id`` alone, and
    then the subscription awaiting that message is searched (``Destination.owns``). Either
    style is accepted in every version; ``version`` only picks the header a refusal names.
    """
    headers = frame.headers
    command = frame.command.decode()
    ack_id = headers.get(c.H_ID)
    if ack_id is not None:
        subscription_id, dot, message_text = ack_id.rpartition(b".")
        if dot and message_text.isdigit():
            subscription = subscriptions.get(subscription_id)
            if subscription is None:
                raise FrameRejected(f"{command} for {show(ack_id)!r}: no such subscription on this connection")
            return subscription, int(message_text)
        message_text = ack_id
    else:
        message_text = headers.get(c.H_MESSAGE_ID, b"")
        if not message_text:
            if version == c.V1_2:
                raise FrameRejected(f"{command} needs an id header (the MESSAGE's ack header)")
            raise FrameRejected(f"{command} needs a message-id header (the MESSAGE's message-id header)")
    if not message_text.isdigit():
        raise FrameRejected(f"{command} names {show(message_text)!r}, which is not a message this broker sent")
    message_id = int(message_text)
    named = headers.get(c.H_SUBSCRIPTION)
    if named is not None:
        subscription = subscriptions.get(named)
        if subscription is None:
            raise FrameRejected(f"{command}: no subscription {show(named)!r} on this connection")
        return subscription, message_id
    for subscription in subscriptions.values():
        if subscription.client_ack and subscription.destination.owns(subscription, message_id):
            return subscription, message_id
    raise FrameRejected(f"{command}: no subscription of this connection awaits message {message_id}")
