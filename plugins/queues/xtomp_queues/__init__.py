"""The ``queue`` destination type for xtomp: competing consumers, acknowledgements, redelivery, expiry, dead letters."""

from .consumer import not_awaiting, take_settled
from .expiry import EXPIRATION, EXPIRES, deadline
from .queue import Queue
from .temporary import REPLY_PREFIX, TEMP_PREFIX, reply_to_queue, temp_queue_name

# The rest of __all__ is for the cluster plugin, whose clustered queue keeps this plugin's
# semantics (expiry headers, ACK/NACK settling, temporary queue names and reply-to).
__all__ = [
    "Queue",
    "EXPIRATION",
    "EXPIRES",
    "REPLY_PREFIX",
    "TEMP_PREFIX",
    "deadline",
    "not_awaiting",
    "reply_to_queue",
    "take_settled",
    "temp_queue_name",
]
