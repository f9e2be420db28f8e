"""The server's limits, read once from the configuration and converted (milliseconds, bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._record import record

if TYPE_CHECKING:
    from .config.model import Section

__all__ = ["Limits"]


@record(frozen=True)
class Limits:
    """Server settings read per connection, converted once (milliseconds, bytes)."""

    __slots__ = (
        "max_frame_size",
        "max_headers",
        "max_header_length",
        "max_subscriptions",
        "max_transactions",
        "max_transaction_frames",
        "max_destinations",
        "heart_beat_read_ms",
        "heart_beat_write_min_ms",
        "heart_beat_write_max_ms",
        "heart_beat_grace",
        "timeout",
        "linger",
        "write_buffer_high",
        "write_buffer_low",
        "write_buffer_max",
        "max_frame_size_unauthenticated",
        "frame_timeout",
    )
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

    def __init__(
        self,
        max_frame_size: int,
        max_headers: int,
        max_header_length: int,
        max_subscriptions: int,
        max_transactions: int,
        max_transaction_frames: int,
        max_destinations: int,
        heart_beat_read_ms: int,
        heart_beat_write_min_ms: int,
        heart_beat_write_max_ms: int,
        heart_beat_grace: float,
        timeout: float,
        linger: float,
        write_buffer_high: int,
        write_buffer_low: int,
        write_buffer_max: int,
        max_frame_size_unauthenticated: int,
        frame_timeout: float,
    ) -> None:
        object.__setattr__(self, "max_frame_size", max_frame_size)
        object.__setattr__(self, "max_headers", max_headers)
        object.__setattr__(self, "max_header_length", max_header_length)
        object.__setattr__(self, "max_subscriptions", max_subscriptions)
        object.__setattr__(self, "max_transactions", max_transactions)
        object.__setattr__(self, "max_transaction_frames", max_transaction_frames)
        object.__setattr__(self, "max_destinations", max_destinations)
        object.__setattr__(self, "heart_beat_read_ms", heart_beat_read_ms)
        object.__setattr__(self, "heart_beat_write_min_ms", heart_beat_write_min_ms)
        object.__setattr__(self, "heart_beat_write_max_ms", heart_beat_write_max_ms)
        object.__setattr__(self, "heart_beat_grace", heart_beat_grace)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "linger", linger)
        object.__setattr__(self, "write_buffer_high", write_buffer_high)
        object.__setattr__(self, "write_buffer_low", write_buffer_low)
        object.__setattr__(self, "write_buffer_max", write_buffer_max)
        object.__setattr__(self, "max_frame_size_unauthenticated", max_frame_size_unauthenticated)
        object.__setattr__(self, "frame_timeout", frame_timeout)

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
