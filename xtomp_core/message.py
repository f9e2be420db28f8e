"""A published message and its encoded MESSAGE tail, built once and shared by every delivery."""

from __future__ import annotations

from .errors import ProtocolError
from .protocol.constants import BACKSLASH, COLON, CR, LF, NOT_FORWARDED, V1_0, V1_1, V1_2
from .protocol.encoder import message_tail
from .protocol.escape import escape, unescape

__all__ = ["Message"]


def _special(value: bytes) -> bool:
    """True when a value needs escaping in some version."""
    return COLON in value or BACKSLASH in value or LF in value or CR in value


class Message:
    """What a SEND produced: id, destination, the SEND's headers and body.

    ``headers`` is the SEND frame's header dict, kept as received; the headers the broker
    consumes (``destination``, ``receipt``, ``transaction``, ``content-length``...) are
    skipped when the tail is encoded. The tail is encoded lazily, once:

    * ``tail()`` is the STOMP 1.2 encoding, the one nearly every subscriber takes;
    * ``uniform`` is then True when no header needs escaping in any version, so that one
      tail object serves every subscriber; otherwise ``tail_for(version)`` encodes the
      1.0 (raw) or 1.1 (no ``\\r`` escape) form, once each, when a subscriber needs it.
    """

    __slots__ = ("id", "destination", "headers", "body", "uniform", "_tail", "_other_tails")

    def __init__(self, message_id: int, destination: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        self.id = message_id
        self.destination = destination
        self.headers = headers
        self.body = body
        self.uniform = True
        self._tail: bytes | None = None
        self._other_tails: dict[int, bytes] | None = None

    def forwarded_headers(self) -> list[tuple[bytes, bytes]]:
        return [(name, value) for name, value in self.headers.items() if name not in NOT_FORWARDED]

    def tail(self) -> bytes:
        """The tail for STOMP 1.2 subscribers (and for all of them when ``uniform``)."""
        tail = self._tail
        if tail is None:
            tail = self._tail = self._encode()
        return tail

    def _encode(self) -> bytes:
        parts: list[bytes] = []
        for name, value in self.headers.items():
            if name not in NOT_FORWARDED:
                parts += (name, b":", value, b"\n")
        block = b"".join(parts)
        count = len(parts) >> 2
        destination = self.destination
        # The checks run on the joined block at C speed, not per header.
        if block.count(b"\n") != count or BACKSLASH in block or CR in block or _special(destination):
            # EOLs, backslashes or CRs in a name or value (rare): the general encoder.
            return self._encode_general()
        if block.count(b":") != count:
            # Colons in values (times, URLs...): 1.1 and 1.2 send them as \c, 1.0 raw.
            if COLON in b"".join(parts[0::4]):
                return self._encode_general()
            self.uniform = False
            parts[2::4] = [value.replace(b":", b"\\c") for value in parts[2::4]]
            block = b"".join(parts)
        body = self.body
        return b"".join(
            (b"destination:", destination, b"\nmessage-id:%d\n" % self.id, block,
             b"content-length:%d\n\n" % len(body), body, b"\x00")
        )

    def _encode_general(self) -> bytes:
        self.uniform = False
        return message_tail(self.destination, b"%d" % self.id, self.forwarded_headers(), self.body, V1_2)

    def tail_for(self, version: int) -> bytes:
        """The tail encoded for one STOMP version (10, 11, 12)."""
        tail = self.tail()
        if self.uniform or version == V1_2:
            return tail
        if version == V1_1 and not self._has_cr():
            return tail  # 1.1 escapes like 1.2 except for CR
        others = self._other_tails
        if others is None:
            others = self._other_tails = {}
        encoded = others.get(version)
        if encoded is None:
            encoded = others[version] = message_tail(
                self.destination, b"%d" % self.id, self.forwarded_headers(), self.body, V1_0 if version == V1_0 else V1_1
            )
        return encoded

    def encoded_rest(self) -> bytes:
        """The STOMP 1.2 MESSAGE frame after its ``message-id`` line: the forwarded headers,
        ``content-length``, the blank line, the body and the NUL, as every 1.2 subscriber gets
        them. What a plugin carrying messages to another broker sends, so that the other side
        need not encode them again (:meth:`from_encoded_rest`)."""
        tail = self.tail()
        destination = self.destination
        if _special(destination):
            destination = escape(destination, V1_2)
        # b"destination:" + destination + b"\nmessage-id:" + id + b"\n" come first (12 + 12 + 1).
        return tail[len(destination) + len(b"%d" % self.id) + 25:]

    @classmethod
    def from_encoded_rest(cls, message_id: int, destination: bytes, rest: bytes) -> Message:
        """The message another broker's :meth:`encoded_rest` describes, with this broker's id and
        destination name; ``rest`` becomes the message's own 1.2 encoding (nothing is encoded
        again). ``rest`` is checked at once (``ValueError`` when it is not such bytes); the
        headers are decoded from it when first read (a topic without filters never does)."""
        return _CarriedMessage(message_id, destination, rest)

    def _has_cr(self) -> bool:
        return CR in self.destination or any(CR in n or CR in v for n, v in self.forwarded_headers())

    def __repr__(self) -> str:
        return f"Message({self.id}, {self.destination!r}, {len(self.body)} bytes)"


class _CarriedMessage(Message):
    """A message another broker encoded (:meth:`Message.from_encoded_rest`): checked when it
    arrives, its ``headers`` decoded from the carried bytes at their first use (kept in a slot
    of its own: the inherited one stays unused)."""

    __slots__ = ("_section", "_headers")

    def __init__(self, message_id: int, destination: bytes, rest: bytes) -> None:
        end = rest.find(b"\n\n")
        if end < 0 or rest[-1] != 0:
            raise ValueError("not the rest of a MESSAGE frame (no blank line or no NUL)")
        section = rest[:end]
        body = rest[end + 2:-1]
        lines = section.split(b"\n")
        # What would reach subscribers malformed: a line without a colon or with two (1.2
        # escapes the others), a CR or NUL, no matching content-length last.
        if lines.pop() != b"content-length:%d" % len(body):
            raise ValueError("the content-length line is not the last header or does not match the body")
        for line in lines:
            if line.count(b":") != 1:
                raise ValueError("a header line without a colon, or with two")
        if CR in section or 0 in section:  # ints: see protocol/constants.py
            raise ValueError("a CR or NUL in a header line")
        self.id = message_id
        self.destination = destination
        self.body = body
        self._section = section
        self._headers: dict[bytes, bytes] | None = None
        escaped = BACKSLASH in section
        if escaped and section.count(b"\\") != section.count(b"\\c"):
            self.headers  # escapes other than \c (rare): decoded, and so checked, now
        special = _special(destination)
        # Escapes in the rest are exactly what made the sender's tail not uniform (a colon in
        # a value, or an EOL, backslash or CR anywhere), or a destination needing them.
        self.uniform = not escaped and not special
        self._other_tails = None
        self._tail = b"destination:%s\nmessage-id:%d\n%s" % (
            escape(destination, V1_2) if special else destination, message_id, rest)

    @property
    def headers(self) -> dict[bytes, bytes]:
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            try:
                for line in self._section.split(b"\n")[:-1]:  # the last is content-length
                    name, _, value = line.partition(b":")
                    if BACKSLASH in line:
                        name, value = unescape(name, V1_2), unescape(value, V1_2)
                    headers[name] = value
            except ProtocolError as error:  # an invalid escape (found in __init__: never later)
                self._headers = None
                raise ValueError(str(error)) from None
        return headers

    @headers.setter
    def headers(self, headers: dict[bytes, bytes]) -> None:
        self._headers = headers
