"""A published message and its encoded MESSAGE tail, built once and shared by every delivery."""

from __future__ import annotations

from ..protocol.constants import NOT_FORWARDED, V1_2
from ..protocol.encoder import message_tail
from ..protocol.escape import needs_escape

__all__ = ["Message"]


class Message:
    """What a SEND produced: id, destination, the SEND's headers and body.

    ``headers`` is the SEND frame's header dict, kept as received; the headers the broker
    consumes (``destination``, ``receipt``, ``transaction``, ``content-length``...) are
    skipped when the tail is encoded. The tail is encoded lazily, once: when no header
    needs escaping (nearly always) one tail serves subscribers of every STOMP version.
    """

    __slots__ = ("id", "destination", "headers", "body", "_tail", "_tails")

    def __init__(self, message_id: int, destination: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        self.id = message_id
        self.destination = destination
        self.headers = headers
        self.body = body
        self._tail: bytes | None = None
        self._tails: dict[int, bytes] | None = None

    @property
    def id_bytes(self) -> bytes:
        return b"%d" % self.id

    def forwarded_headers(self) -> list[tuple[bytes, bytes]]:
        return [(name, value) for name, value in self.headers.items() if name not in NOT_FORWARDED]

    def shared_tail(self) -> bytes | None:
        """The tail every subscriber can take, or None when escaping differs by version."""
        tail = self._tail
        if tail is None and self._tails is None:
            forwarded = self.forwarded_headers()
            if needs_escape(self.destination, V1_2) or any(
                needs_escape(name, V1_2) or needs_escape(value, V1_2) for name, value in forwarded
            ):
                self._tails = {}
                return None
            tail = self._tail = message_tail(self.destination, self.id_bytes, forwarded, self.body, V1_2)
        return tail

    def tail_for(self, version: int) -> bytes:
        """The tail encoded for one STOMP version (10, 11, 12)."""
        tail = self.shared_tail()
        if tail is not None:
            return tail
        tails = self._tails
        assert tails is not None
        tail = tails.get(version)
        if tail is None:
            tail = tails[version] = message_tail(
                self.destination, self.id_bytes, self.forwarded_headers(), self.body, version
            )
        return tail

    def __repr__(self) -> str:
        return f"Message({self.id}, {self.destination!r}, {len(self.body)} bytes)"
