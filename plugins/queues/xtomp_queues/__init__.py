"""The ``queue`` destination type for xtomp: competing consumers, acknowledgements, redelivery, expiry, dead letters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .consumer import holds_unacked, not_awaiting, take_settled
from .headers import EXPIRATION, EXPIRES
from .queue import Queue
from .temporary import REPLY_PREFIX, TEMP_PREFIX, reply_to_queue, temp_queue_name

if TYPE_CHECKING:
    from .expiry import deadline

# The rest of __all__ is for the cluster plugin, whose clustered queue keeps this plugin's
# semantics (expiry headers, ACK/NACK settling, temporary queue names and reply-to).
__all__ = [
    "Queue",
    "EXPIRATION",
    "EXPIRES",
    "REPLY_PREFIX",
    "TEMP_PREFIX",
    "deadline",
    "holds_unacked",
    "not_awaiting",
    "reply_to_queue",
    "take_settled",
    "temp_queue_name",
]


def __getattr__(name: str) -> Any:
    # Expiry is imported by the first message with a deadline (or by whoever asks for it).
    if name == "deadline":
        from .expiry import deadline

        return deadline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
