"""CONNECT negotiation: protocol version and heart-beat intervals (STOMP 1.2 "Protocol
Negotiation" and "Heart-beating").

Heart-beats: the client sends ``heart-beat:cx,cy`` (it can send every cx ms, it wants to
receive every cy ms; 0 = no). The server answers ``sx,sy``. Each direction is active only
when both sides are non-zero, at the larger of the two values. The broker's side comes from
three directives, kept from xtomp but with its bugs fixed:

* ``heart_beat_read`` - the shortest interval the broker reads beats at (sy): a client
  offering to send every cx ms is held to max(cx, sy), never rejected.
* ``heart_beat_write_min`` / ``heart_beat_write_max`` - the range the broker sends in. A
  client asking for beats more often than the minimum gets the minimum (xtomp refused it);
  ``heart_beat_write_max = 0`` disables broker beats.

Both floors default to 1 s, so what clients ask for is honoured (stompjs detects a dead
connection only as fast as it asked to hear from the broker); xtomp's floors (120 s and
60 s) are directive values away, for deployments that would rather sleep.

A missing header means ``0,0`` (xtomp imposed beats instead). CONNECTED carries the
effective intervals, so both sides compute the same values.
"""

from __future__ import annotations

from ..errors import FrameRejected
from .constants import SUPPORTED_VERSIONS, V1_0, V1_2, VERSION_BY_TEXT

_MAX_INTERVAL_MS = 24 * 3600 * 1000


def negotiate_version(accept_version: bytes | None, max_version: int = V1_2) -> int | None:
    """The highest common version, 1.0 when the header is absent, None when none is common.

    ``max_version`` caps what the broker offers on this connection: a transport may have
    agreed on less than 1.2 before CONNECT (a WebSocket client that asked for the
    ``v11.stomp`` subprotocol gets at most 1.1).
    """
    if accept_version is None:
        return V1_0
    offered = {VERSION_BY_TEXT.get(item.strip()) for item in accept_version.split(b",")}
    common = [version for version in SUPPORTED_VERSIONS if version in offered and version <= max_version]
    return max(common) if common else None


def parse_heart_beat(header: bytes | None) -> tuple[int, int]:
    """``(cx, cy)`` from the client's header; absent means no heart-beats."""
    if header is None:
        return 0, 0
    send, comma, receive = header.partition(b",")
    if not comma or not send.isdigit() or not receive.isdigit():
        raise FrameRejected(f"ecg err - invalid heart-beat header {header[:40]!r}: expected two integers like 10000,10000")
    client_send, client_receive = int(send), int(receive)
    if client_send > _MAX_INTERVAL_MS or client_receive > _MAX_INTERVAL_MS:
        raise FrameRejected("ecg err - heart-beat interval longer than one day")
    return client_send, client_receive


def negotiate_heart_beat(
    client: tuple[int, int], read_ms: int, write_min_ms: int, write_max_ms: int
) -> tuple[int, int]:
    """Return ``(broker_send_ms, broker_receive_ms)``; 0 disables a direction."""
    client_send, client_receive = client
    receive = max(client_send, read_ms) if client_send and read_ms else 0
    send = 0
    if client_receive and write_max_ms:
        send = min(max(client_receive, write_min_ms), write_max_ms)
    return send, receive
