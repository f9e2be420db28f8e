"""Sans-IO STOMP: frames, parsing, escaping, encoding and CONNECT negotiation.

Nothing here imports asyncio, socket or ssl: bytes go in, frames come out, and back.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .constants import SUPPORTED_VERSIONS, V1_0, V1_1, V1_2

if TYPE_CHECKING:
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

#: Where each name lives. The constants are imported with the package; the rest when first
#: asked for: the parser and the CONNECT negotiation (with the C scanner) are the first
#: connection's, and an idle broker, which imports the constants, does without them.
_HOMES = {
    "Frame": "frame",
    "FrameParser": "parser",
    "connected_frame": "encoder",
    "encode_frame": "encoder",
    "error_frame": "encoder",
    "message_prefix": "encoder",
    "message_tail": "encoder",
    "receipt_frame": "encoder",
    "escape": "escape",
    "needs_escape": "escape",
    "unescape": "escape",
    "negotiate_heart_beat": "negotiation",
    "negotiate_version": "negotiation",
    "parse_heart_beat": "negotiation",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next lookup finds it without this function
    return value
