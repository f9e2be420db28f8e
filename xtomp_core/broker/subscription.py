"""One SUBSCRIBE: its id, ack mode, filter, and the MESSAGE prefix built once for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.constants import ACK_AUTO, ACK_CLIENT
from ..protocol.encoder import message_prefix
from ..protocol.escape import escape

if TYPE_CHECKING:
    from ..interfaces import Filter, Link
    from .destination import Destination
    from .session import Session

__all__ = ["Subscription"]


class Subscription:
    """A subscription of one session to one destination.

    ``prefix`` is ``MESSAGE\\nsubscription:ID\\n`` in the session's escaping; in client ack
    modes ``ack_prefix`` (``ack:ID.``) is followed per delivery by the message id, so an
    ACK names both the subscription and the message without any per-delivery bookkeeping
    in the session. ``state`` belongs to the destination (a queue keeps its unacked
    messages and prefetch window there).
    """

    __slots__ = ("session", "link", "id", "destination", "ack", "filter", "prefix", "ack_prefix", "version", "state")

    def __init__(
        self,
        session: Session,
        subscription_id: bytes,
        destination: Destination,
        ack: bytes = ACK_AUTO,
        filter: Filter | None = None,
    ) -> None:
        self.session = session
        self.link: Link = session.link
        self.id = subscription_id
        self.destination = destination
        self.ack = ack
        self.filter = filter
        self.version = session.version
        self.prefix = message_prefix(subscription_id, session.version)
        self.ack_prefix = b"ack:" + escape(subscription_id, session.version) + b"." if ack != ACK_AUTO else b""
        self.state: Any = None

    @property
    def client_ack(self) -> bool:
        """True in ``client`` and ``client-individual`` modes."""
        return self.ack != ACK_AUTO

    @property
    def cumulative(self) -> bool:
        """True in ``client`` mode: an ACK covers every earlier message of the subscription."""
        return self.ack == ACK_CLIENT

    def delivery_prefix(self, message_id: int) -> bytes:
        """The prefix of one delivery, with its ``ack`` header in client modes."""
        if self.ack_prefix:
            return b"%s%s%d\n" % (self.prefix, self.ack_prefix, message_id)
        return self.prefix

    def __repr__(self) -> str:
        return f"Subscription({self.id!r} on {self.destination.name!r}, ack={self.ack.decode()})"
