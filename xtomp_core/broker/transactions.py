"""A session's open transactions: BEGIN, the frames buffered for COMMIT, and COMMIT's room check."""

from __future__ import annotations

from collections.abc import Callable

from ..destination import Destination, Session
from ..errors import DestinationFull, FrameRejected, LimitExceeded
from ..protocol import constants as c
from ..protocol.frame import Frame
from .acks import show

__all__ = ["Transactions", "check_room"]


class Transactions:
    """Open transactions by id, each the SEND, ACK and NACK frames to replay on COMMIT."""

    __slots__ = ("open", "max_transactions", "max_frames")

    def __init__(self, max_transactions: int, max_frames: int) -> None:
        self.open: dict[bytes, list[Frame]] = {}
        self.max_transactions = max_transactions
        self.max_frames = max_frames

    def begin(self, transaction: bytes) -> None:
        if transaction in self.open:
            raise FrameRejected(f"transaction {show(transaction)!r} has already begun")
        if len(self.open) >= self.max_transactions:
            raise LimitExceeded("tx flup", f"this connection already has max_transactions ({self.max_transactions}) open")
        self.open[transaction] = []

    def buffer(self, transaction: bytes, frame: Frame) -> None:
        frames = self.open.get(transaction)
        if frames is None:
            raise FrameRejected(f"no open transaction {show(transaction)!r}: send BEGIN first")
        if len(frames) >= self.max_frames:
            raise LimitExceeded(
                "tx flup", f"transaction {show(transaction)!r} holds max_transaction_frames ({self.max_frames})"
            )
        frames.append(frame)

    def take(self, transaction: bytes) -> list[Frame]:
        """End a transaction (COMMIT or ABORT): its frames, in order."""
        frames = self.open.pop(transaction, None)
        if frames is None:
            raise FrameRejected(f"no open transaction {show(transaction)!r}")
        return frames


def check_room(frames: list[Frame], destination_of: Callable[[Frame], Destination], sender: Session) -> None:
    """Refuse a COMMIT whose SENDs a destination could not all take, before any is delivered."""
    counts: dict[Destination, int] = {}
    for buffered in frames:
        if buffered.command == c.SEND:
            destination = destination_of(buffered)
            counts[destination] = counts.get(destination, 0) + 1
    for destination, count in counts.items():
        room = destination.room(sender)
        if room is not None and count > room:
            raise DestinationFull(
                f"{show(destination.name)} has room for {room} more messages and the transaction "
                f"sends it {count}: nothing of the transaction was delivered"
            )
