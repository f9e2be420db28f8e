"""STOMP over WebSocket for xtomp: the ``ws`` and ``wss`` transports (RFC 6455 on the broker's own loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import WebSocketSettings

if TYPE_CHECKING:
    from .connection import WebSocketFraming

__all__ = ["WebSocketFraming", "WebSocketSettings"]


def __getattr__(name: str) -> Any:
    # WebSocketFraming imports the websockets library: only when it is asked for (the
    # transports ask at the first WebSocket connection), not when the plugin is enabled.
    if name == "WebSocketFraming":
        from .connection import WebSocketFraming

        return WebSocketFraming
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
