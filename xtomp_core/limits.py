"""The server's limits, read once from the configuration and converted (milliseconds, bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config.model import Section

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Server settings read per connection, converted once (milliseconds, bytes)."""

    max_frame_size: int
    max_headers: int
    max_header_length: int
    max_subscriptions: int
    max_transactions: int
    max_transaction_frames: int
    max_destinations: int
    heart_beat_read_ms: int
    heart_beat_write_min_ms: int
    heart_beat_write_max_ms: int
    heart_beat_grace: float
    timeout: float
    linger: float
    write_buffer_high: int
    write_buffer_low: int
    write_buffer_max: int
    max_frame_size_unauthenticated: int
    frame_timeout: float

    @classmethod
    def from_section(cls, server: Section) -> Limits:
        return cls(
            max_frame_size=server["max_frame_size"],
            max_headers=server["max_headers"],
            max_header_length=server["max_header_length"],
            max_subscriptions=server["max_subscriptions"],
            max_transactions=server["max_transactions"],
            max_transaction_frames=server["max_transaction_frames"],
            max_destinations=server["max_destinations"],
            heart_beat_read_ms=round(server["heart_beat_read"] * 1000),
            heart_beat_write_min_ms=round(server["heart_beat_write_min"] * 1000),
            heart_beat_write_max_ms=round(server["heart_beat_write_max"] * 1000),
            heart_beat_grace=server["heart_beat_grace"],
            timeout=server["timeout"],
            linger=server["linger"],
            write_buffer_high=server["write_buffer_high"],
            write_buffer_low=(
                server["write_buffer_low"] if server["write_buffer_low"] is not None else server["write_buffer_high"] // 4
            ),
            write_buffer_max=server["write_buffer_max"],
            max_frame_size_unauthenticated=min(server["max_frame_size_unauthenticated"], server["max_frame_size"]),
            frame_timeout=server["frame_timeout"],
        )
