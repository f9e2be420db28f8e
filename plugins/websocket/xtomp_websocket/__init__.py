"""STOMP over WebSocket for xtomp: the ``ws`` and ``wss`` transports (RFC 6455 on the broker's own loop)."""

from .connection import WebSocketFraming
from .settings import WebSocketSettings

__all__ = ["WebSocketFraming", "WebSocketSettings"]
