"""Sans-IO STOMP: frames, parsing, escaping, encoding and CONNECT negotiation.

Nothing here imports asyncio, socket or ssl: bytes go in, frames come out, and back.
"""

from .constants import SUPPORTED_VERSIONS, V1_0, V1_1, V1_2
from .encoder import connected_frame, encode_frame, error_frame, message_prefix, message_tail, receipt_frame
from .escape import escape, needs_escape, unescape
from .frame import Frame
from .negotiation import negotiate_heart_beat, negotiate_version, parse_heart_beat
from .parser import FrameParser

__all__ = [
    "Frame",
    "FrameParser",
    "SUPPORTED_VERSIONS",
    "V1_0",
    "V1_1",
    "V1_2",
    "connected_frame",
    "encode_frame",
    "error_frame",
    "escape",
    "message_prefix",
    "message_tail",
    "needs_escape",
    "negotiate_heart_beat",
    "negotiate_version",
    "parse_heart_beat",
    "receipt_frame",
    "unescape",
]
