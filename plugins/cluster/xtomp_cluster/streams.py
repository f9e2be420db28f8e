"""What a clustered queue needs of the backplane: a replicated log with consumer groups (the interface).

Theory of operation
-------------------
A clustered queue is one log (a Redis stream; a JetStream stream would do) read by one
consumer group, in which every node is one consumer. A node appends each SEND, reads only
as many entries as its local consumers have room for (so the backlog stays in the log),
and settles each entry it read: ``settle`` (ACK: acknowledged and deleted), ``requeue``
(NACK or a departed consumer: a copy with its delivery count goes to the end of the log,
atomically with the settle) or ``dead_letter``. An entry a node read and never settled is
*pending* on that node; ``touch`` keeps a live node's pending entries from looking idle, and
``claim`` takes over entries idle longer than ``claim_after`` (those of a node that died).

Every operation is asynchronous and batched: calls made during one event-loop pass go out
as one pipeline, and results come back to callbacks (an ``Exception`` instead of a result
when the backplane failed). ``wait`` is the only blocking read: one per node, over every
queue whose consumers have room but found the log empty, so an idle node sends nothing.

An entry's payload is the message's forwarded headers in STOMP 1.2 form (``name:value``
lines, escaped when needed), an empty line, then the body: what a node needs to rebuild the
message, independent of the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from xtomp_core import NOT_FORWARDED

__all__ = ["Entry", "QueueStreams", "encode_entry", "decode_entry", "Done"]

#: A callback for a batched operation: its result, or the Exception that failed it.
Done = Callable[[object], None]


class Entry:
    """One log entry a node read: its id in the log, its payload, and how often it was delivered."""

    __slots__ = ("entry_id", "data", "deliveries", "expires", "message")

    def __init__(self, entry_id: bytes, data: bytes, deliveries: int, expires: float = 0.0) -> None:
        self.entry_id = entry_id
        self.data = data
        #: Deliveries before this one (a claimed or requeued entry has 1 or more).
        self.deliveries = deliveries
        #: When it expires (seconds since the epoch), 0.0 = never.
        self.expires = expires
        self.message: object = None  # the local Message, built when first delivered

    def __repr__(self) -> str:
        return f"Entry({self.entry_id!r}, deliveries={self.deliveries})"


class QueueStreams(Protocol):
    """The stream operations of a backplane (implemented by ``redis_backend``'s Redis streams)."""

    @property
    def node(self) -> bytes:
        """This node's id: its consumer name in every group."""

    @property
    def available(self) -> bool:
        """The backplane answered its last command (False from a failure until it reconnects)."""

    def start(self) -> None:
        """Start (on the running loop): the waiting read."""

    async def close(self) -> None:
        """Stop."""

    def key(self, queue: bytes) -> bytes:
        """The log's name (key) for a queue name."""

    def dead_key(self, queue: bytes) -> bytes:
        """The dead-letter log of a queue without ``dead_letter``."""

    def open(self, key: bytes, done: Done | None = None) -> None:
        """Create the log and its consumer group if missing (idempotent)."""

    def append(
        self, key: bytes, payload: bytes, done: Done | None, *, create: bool = True, expires: float = 0.0
    ) -> None:
        """Append one entry (expiring at ``expires``, seconds since the epoch, 0 = never); with
        ``create=False`` a missing log is not created (done gets None)."""

    def length(self, key: bytes, done: Done) -> None:
        """How many entries the log holds (waiting and pending)."""

    def read(self, key: bytes, count: int, done: Done) -> None:
        """Take up to ``count`` new entries for this node: done gets a ``list[Entry]``."""

    def settle(self, key: bytes, entry_ids: Collection[bytes]) -> None:
        """Acknowledge and delete entries this node read."""

    def requeue(self, key: bytes, entry: Entry, deliveries: int) -> None:
        """Atomically: append a copy of ``entry`` that counts ``deliveries``, and settle the original."""

    def dead_letter(self, key: bytes, entry: Entry, target: bytes, reason: bytes, max_length: int) -> None:
        """Atomically: append ``entry`` to the log ``target`` (trimmed to about ``max_length``), settle it here."""

    def touch(self, key: bytes, entry_ids: Collection[bytes]) -> None:
        """Mark entries this node holds as recently used (so ``claim`` leaves them alone)."""

    def claim(self, key: bytes, min_idle: float, count: int, done: Done) -> None:
        """Take over up to ``count`` entries idle ``min_idle`` seconds: done gets ``list[Entry]``."""

    def lag(self, key: bytes, done: Done) -> None:
        """Entries no node has read yet: done gets an int (None when the backend cannot tell)."""

    def pending(self, key: bytes, done: Done) -> None:
        """Entries read and not settled: done gets ``(total, of_this_node)``."""

    def wait(self, key: bytes, wake: Done) -> None:
        """Block (on the node's one waiting read) until the log has a new entry; wake gets
        ``list[Entry]`` (one entry, now this node's) or an Exception. Replaces an earlier wait."""

    def unwait(self, key: bytes) -> None:
        """Stop waiting on ``key``."""

    def drop(self, key: bytes) -> None:
        """Delete a log and its group (a temporary queue whose owner left)."""

    def on_available(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the backplane is reachable again after a failure."""


# -- the payload -------------------------------------------------------------------------------

def _escape(value: bytes) -> bytes:
    return value.replace(b"\\", b"\\\\").replace(b"\r", b"\\r").replace(b"\n", b"\\n").replace(b":", b"\\c")


def encode_entry(headers: Mapping[bytes, bytes], body: bytes) -> bytes:
    """A message's forwarded headers as ``name:value`` lines, an empty line, the body.

    Names and values are written raw unless one of them would break the lines: an EOL in a
    name or value, a colon in a name (a value's colons are fine: a line splits at its first),
    or a backslash anywhere; then every name and value is escaped as in STOMP 1.2."""
    parts: list[bytes] = []
    for name, value in headers.items():
        if name not in NOT_FORWARDED:
            parts += (name, b":", value, b"\n")
    block = b"".join(parts)
    count = len(parts) >> 2
    if (
        block.count(b"\n") != count
        or b"\\" in block
        or (block.count(b":") != count and b":" in b"".join(parts[0::4]))
    ):
        # Something needs escaping (rare): escape every name and value.
        block = b"".join(_escape(parts[i]) + b":" + _escape(parts[i + 2]) + b"\n" for i in range(0, len(parts), 4))
    return block + b"\n" + body


def _unescape(value: bytes) -> bytes:
    if b"\\" not in value:
        return value
    out = bytearray()
    i = 0
    while True:
        j = value.find(b"\\", i)
        if j < 0 or j + 1 >= len(value):
            out += value[i:]
            return bytes(out)
        out += value[i:j]
        out += {b"n": b"\n", b"r": b"\r", b"c": b":", b"\\": b"\\"}.get(value[j + 1 : j + 2], value[j : j + 2])
        i = j + 2


def decode_entry(payload: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """The headers and body ``encode_entry`` wrote."""
    if payload[:1] == b"\n":
        return {}, payload[1:]
    end = payload.find(b"\n\n")
    if end < 0:
        return {}, payload  # not ours: deliver it as a body
    block = payload[:end]
    headers: dict[bytes, bytes] = {}
    escaped = b"\\" in block
    for line in block.split(b"\n"):
        name, _, value = line.partition(b":")
        if escaped:
            name, value = _unescape(name), _unescape(value)
        headers.setdefault(name, value)
    return headers, payload[end + 2 :]
