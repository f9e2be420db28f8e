"""The WebSocket settings of one listener, and the handshake decisions made from them (no I/O).

Paths: a listener accepts the opening handshake on the path of its ``listen`` URL (if it
has one) and on each entry of ``paths``; ``"*"`` accepts any path, as xtomp did.

Origins (``websockets_origin``): empty means any ``Origin`` is accepted (STOMP logs in
with CONNECT's login/passcode, not with cookies, so a page from another site gains
nothing a script elsewhere could not do). Otherwise a request that carries ``Origin``
must match an entry, compared case-insensitively and without a trailing slash; ``"*"``
matches every origin. A request without ``Origin`` (not from a browser: node, Python,
Java clients) is always accepted. xtomp refused every Origin when the list was unset,
which locked out every browser by default.

Subprotocols: among ``v12.stomp``, ``v11.stomp`` and ``v10.stomp`` the highest offered
wins and caps the STOMP version CONNECT may negotiate; otherwise ``stomp`` (xtomp's) is
chosen without a cap; a client that offers none gets none (stomp.py, Spring). A client
that offers only protocols the broker does not speak is refused with 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xtomp_core import V1_0, V1_1, V1_2, record

if TYPE_CHECKING:
    from xtomp_core import ListenAddress, Section

__all__ = [
    "WebSocketSettings",
    "choose_subprotocol",
    "origin_allowed",
    "path_allowed",
    "SUBPROTOCOLS",
    "HEALTH_CHECK_PATH",
]

#: Subprotocol → the highest STOMP version it allows, best first.
SUBPROTOCOLS: dict[str, int] = {"v12.stomp": V1_2, "v11.stomp": V1_1, "v10.stomp": V1_0, "stomp": V1_2}
_VERSIONED = ("v12.stomp", "v11.stomp", "v10.stomp")

HEALTH_CHECK_PATH = "/health_check"


class NoCommonSubprotocol(ValueError):
    """The client offered subprotocols, none of them STOMP."""


def choose_subprotocol(offered: Sequence[str]) -> tuple[str | None, int]:
    """``(subprotocol or None, version cap)`` for the client's ``Sec-WebSocket-Protocol`` list."""
    if not offered:
        return None, V1_2
    for name in _VERSIONED:
        if name in offered:
            return name, SUBPROTOCOLS[name]
    if "stomp" in offered:
        return "stomp", V1_2
    raise NoCommonSubprotocol(
        f"no STOMP subprotocol among {', '.join(offered)[:200]}; this broker speaks "
        + ", ".join(SUBPROTOCOLS)
    )


def normalize_origin(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    if origin is None or not allowed or "*" in allowed:
        return True
    return normalize_origin(origin) in allowed


def path_allowed(path: str, allowed: frozenset[str]) -> bool:
    return "*" in allowed or path in allowed


def split_target(target: str) -> str:
    """The path of a request target, without its query string."""
    return target.partition("?")[0]


@record(frozen=True)
class WebSocketSettings:
    """What one ``ws``/``wss`` listener needs per connection, converted once at start-up (frozen:
    compared, hashed and shown by its fields)."""

    __slots__ = ("transport_name", "paths", "origins", "max_message_size", "frame_type", "plain_stomp", "server_header", "ssl")
    transport_name: str
    paths: frozenset[str]
    origins: frozenset[str]
    max_message_size: int
    #: ``"auto"`` (text frames for UTF-8 STOMP frames, binary otherwise), ``"text"`` or ``"binary"``.
    frame_type: str
    plain_stomp: bool
    server_header: str
    ssl: Any  # an ssl.SSLContext for wss; typed loosely so ssl is never imported for ws

    def __init__(
        self,
        transport_name: str,
        paths: frozenset[str],
        origins: frozenset[str],
        max_message_size: int,
        frame_type: str,
        plain_stomp: bool,
        server_header: str,
        ssl: Any = None,
    ) -> None:
        object.__setattr__(self, "transport_name", transport_name)
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "origins", origins)
        object.__setattr__(self, "max_message_size", max_message_size)
        object.__setattr__(self, "frame_type", frame_type)
        object.__setattr__(self, "plain_stomp", plain_stomp)
        object.__setattr__(self, "server_header", server_header)
        object.__setattr__(self, "ssl", ssl)

    @classmethod
    def build(
        cls,
        address: ListenAddress,
        section: Section,
        max_frame_size: int,
        server_header: str,
        ssl: Any = None,
    ) -> WebSocketSettings:
        paths = set(section["paths"])
        if address.path and address.path != "/":
            paths.add(address.path)
        limit = section["max_message_size"]
        return cls(
            transport_name=address.scheme,
            paths=frozenset(paths),
            origins=frozenset(normalize_origin(origin) for origin in section["websockets_origin"]),
            max_message_size=limit if limit is not None else max_frame_size,
            frame_type=section["frame_type"],
            plain_stomp=section["plain_stomp"],
            server_header=server_header,
            ssl=ssl,
        )
