"""The clustered queues' streams on Redis: stream commands through the backplane, and one blocking reader.

Theory of operation
-------------------
Every command goes through the backplane's pipeline (``Backplane.command``): what one loop
pass asks for leaves as one round trip, in order with the topics' PUBLISHes, and its reply
(or the exception that failed it) goes to the caller's callback. The backplane supervises
the connection; when it is up again after an outage, the ``on_available`` callbacks run
(queues recreate their groups, resend what was kept, and read again).

The one blocking read (``XREADGROUP ... COUNT 1 BLOCK 0 STREAMS k1 k2 ... > > ...``) runs on
a connection of its own over every queue that waits; when that set changes ``CLIENT
UNBLOCK`` (sent through the pipeline) makes it restart with the new set. It never times
out: an idle node with idle consumers sends no command at all. A failed read is retried
with a capped backoff once the backplane is up; the task is restarted if it ever ends.

Requeue and dead-lettering are Lua scripts, so that the copy and the settle of the original
happen together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from .backplane import Backplane
from .streams import Done, Entry

__all__ = ["RedisStreams"]

log = logging.getLogger("xtomp.cluster")

#: Consumer group every node reads a queue's stream in.
GROUP = b"xtomp"

#: XADD a copy of an entry (with its delivery count) to the end, settle the original.
_REQUEUE = b"""
if ARGV[5] == '0' then
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[3], 'n', ARGV[4])
else
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[3], 'n', ARGV[4], 'e', ARGV[5])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
"""
#: XADD an entry to the dead-letter stream (trimmed), settle it in its queue.
_DEAD_LETTER = b"""
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'm', ARGV[3], 'n', ARGV[4], 'reason', ARGV[5], 'from', KEYS[1])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
"""


def _entries(pairs: Any, extra: int = 0) -> list[Entry]:
    """Raw RESP2 ``[[id, [field, value, ...]], ...]`` as Entries (``extra``: deliveries to add, 1 for a claim)."""
    out = []
    for entry_id, fields in pairs:
        if not fields:
            continue  # deleted meanwhile (XDEL of an entry still pending somewhere)
        payload = b""
        count = 0
        expires = 0.0
        for i in range(0, len(fields) - 1, 2):
            field = fields[i]
            if field == b"m":
                payload = fields[i + 1]
            elif field == b"n":
                count = int(fields[i + 1])
            elif field == b"e":
                expires = int(fields[i + 1]) / 1000.0
        out.append(Entry(entry_id, payload, count + extra, expires))
    return out


class RedisStreams:
    """Stream operations for clustered queues: commands through the backplane's pipeline (RESP2
    replies), the one blocking read on a connection of its own."""

    def __init__(self, backplane: Backplane, url: str, prefix: bytes = b"xtomp:") -> None:
        self.backplane = backplane
        self.url = url
        self.node = backplane.node.encode()
        self.prefix = prefix
        self._reader: Any = None
        self._reader_id: int | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[bytes, Done] = {}
        self._waiting_changed: asyncio.Event | None = None  # made in start(), on the loop
        self._blocked_on: frozenset[bytes] = frozenset()
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        self.wakeups = 0
        backplane.add_state_listener(self._state)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        # The node id again: a worker process (workers above 1) took its own after configure.
        self.node = self.backplane.node.encode()
        self._waiting_changed = asyncio.Event()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_forever(), name="xtomp-cluster-wait")
        self._reader_task.add_done_callback(self._reader_ended)

    async def close(self) -> None:
        self._closed = True
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._reader is not None:
            try:
                await self._reader.aclose()
            except Exception:
                pass

    def _reader_ended(self, task: asyncio.Task[None]) -> None:
        # Never a reader that died silently: log it and start another.
        if self._closed or task.cancelled():
            return
        log.error("cluster: the queues' waiting read ended (%r); restarting it", task.exception())
        self.start()

    @property
    def available(self) -> bool:
        return self.backplane.up

    def on_available(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _state(self, up: bool) -> None:
        if self._waiting_changed is not None:
            self._waiting_changed.set()
        if not up:
            return
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:
                log.exception("cluster: restoring %r after the reconnection failed", callback)

    def key(self, queue: bytes) -> bytes:
        return self.prefix + b"queue:" + queue

    def dead_key(self, queue: bytes) -> bytes:
        return self.prefix + b"dead:" + queue

    # -- commands ---------------------------------------------------------------------------

    def call(self, args: tuple[Any, ...], done: Done | None = None) -> None:
        """Send one command with the other commands of this loop pass; ``done`` gets the reply
        (or the exception: ``ConnectionError`` when Redis is unreachable)."""
        future = self.backplane.command(*args)
        future.add_done_callback(partial(_replied, done, args[0]))

    # -- stream operations ------------------------------------------------------------------

    def open(self, key: bytes, done: Done | None = None) -> None:
        self.call((b"XGROUP", b"CREATE", key, GROUP, b"0", b"MKSTREAM"), done or _ignore_busygroup)

    def append(
        self, key: bytes, payload: bytes, done: Done | None, *, create: bool = True, expires: float = 0.0
    ) -> None:
        args: tuple[Any, ...] = (b"XADD", key, b"*", b"m", payload) if create else (
            b"XADD", key, b"NOMKSTREAM", b"*", b"m", payload
        )
        if expires:
            args += (b"e", int(expires * 1000))
        self.call(args, done)

    def length(self, key: bytes, done: Done) -> None:
        self.call((b"XLEN", key), done)

    def read(self, key: bytes, count: int, done: Done) -> None:
        def parse(result: Any) -> None:
            if isinstance(result, Exception):
                done(result)
            else:
                done(_entries(result[0][1]) if result else [])  # [[key, [[id, fields], ...]]] or nil

        self.call((b"XREADGROUP", b"GROUP", GROUP, self.node, b"COUNT", count, b"STREAMS", key, b">"), parse)

    def settle(self, key: bytes, entry_ids: Collection[bytes]) -> None:
        self.call((b"XACK", key, GROUP, *entry_ids))
        self.call((b"XDEL", key, *entry_ids))

    def requeue(self, key: bytes, entry: Entry, deliveries: int) -> None:
        self.call((b"EVAL", _REQUEUE, 1, key, GROUP, entry.entry_id, entry.data, deliveries,
                   int(entry.expires * 1000)))

    def dead_letter(self, key: bytes, entry: Entry, target: bytes, reason: bytes, max_length: int) -> None:
        self.call((b"EVAL", _DEAD_LETTER, 2, key, target, GROUP, entry.entry_id, entry.data, entry.deliveries,
                   reason, max_length))

    def touch(self, key: bytes, entry_ids: Collection[bytes]) -> None:
        self.call((b"XCLAIM", key, GROUP, self.node, 0, *entry_ids, b"JUSTID"))

    def claim(self, key: bytes, min_idle: float, count: int, done: Done) -> None:
        def parse(result: object) -> None:
            if isinstance(result, Exception):
                done(result)
            else:
                done(_entries(result[1], extra=1))  # type: ignore[index]

        self.call((b"XAUTOCLAIM", key, GROUP, self.node, int(min_idle * 1000), b"0-0", b"COUNT", count), parse)

    def lag(self, key: bytes, done: Done) -> None:
        def parse(result: Any) -> None:
            if isinstance(result, Exception):
                done(result)
                return
            for group in result or ():  # [[b"name", b"xtomp", ..., b"lag", 3], ...] (lag is nil when unknown)
                fields = dict(zip(group[0::2], group[1::2]))
                if fields.get(b"name") == GROUP:
                    lag = fields.get(b"lag")
                    done(int(lag) if lag is not None else None)
                    return
            done(0)

        self.call((b"XINFO", b"GROUPS", key), parse)

    def pending(self, key: bytes, done: Done) -> None:
        node = self.node

        def parse(result: object) -> None:
            if isinstance(result, Exception):
                done(result)
                return
            summary: Any = result  # [count, smallest id, greatest id, [[consumer, count], ...]]
            mine = sum(int(count) for name, count in summary[3] or () if name == node)
            done((int(summary[0]), mine))

        self.call((b"XPENDING", key, GROUP), parse)

    def drop(self, key: bytes) -> None:
        self.call((b"DEL", key))

    # -- the one blocking read --------------------------------------------------------------

    def wait(self, key: bytes, wake: Done) -> None:
        self._waiting[key] = wake
        self._changed()

    def unwait(self, key: bytes) -> None:
        if self._waiting.pop(key, None) is not None:
            self._changed()

    def _changed(self) -> None:
        assert self._waiting_changed is not None
        self._waiting_changed.set()
        if self._blocked_on and self._reader_id is not None and frozenset(self._waiting) != self._blocked_on:
            self._blocked_on = frozenset()  # one CLIENT UNBLOCK per change of the set
            self.call((b"CLIENT", b"UNBLOCK", self._reader_id))

    async def _read_forever(self) -> None:
        changed = self._waiting_changed
        assert changed is not None
        backoff = 0.05
        while not self._closed:
            if not self._waiting or not self.available:
                changed.clear()
                await changed.wait()
                continue
            keys = list(self._waiting)
            try:
                if self._reader is None:
                    import redis.asyncio as aioredis  # lazy: only a broker with clustered queues pays for it

                    # No socket timeout: this read blocks until there is something (redis-py's
                    # default would end it every few seconds, a command at idle).
                    self._reader = aioredis.Redis.from_url(
                        self.url, single_connection_client=True, protocol=2, socket_timeout=None, socket_keepalive=True
                    )
                if self._reader_id is None:
                    self._reader_id = int(await self._reader.execute_command(b"CLIENT", b"ID"))
                changed.clear()
                if frozenset(self._waiting) != frozenset(keys):
                    continue
                self._blocked_on = frozenset(keys)
                result = await self._reader.execute_command(
                    b"XREADGROUP", b"GROUP", GROUP, self.node, b"COUNT", 1, b"BLOCK", 0,
                    b"STREAMS", *keys, *([b">"] * len(keys)),
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._blocked_on = frozenset()
                self._reader_id = None
                if "NOGROUP" in str(error) and self.available:
                    # A stream deleted (Redis restarted without persistence): recreate, then wait again.
                    for key in keys:
                        self.open(key)
                elif not self._closed:
                    log.debug("cluster: the queues' waiting read failed: %r", error)
                await asyncio.sleep(backoff)  # the backplane tells when Redis is back; this connection retries
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            self._blocked_on = frozenset()
            if not result:
                continue  # CLIENT UNBLOCK: the set changed
            self.wakeups += 1
            for key, pairs in result:
                wake = self._waiting.pop(key, None)
                entries = _entries(pairs)
                if wake is None:
                    # Nobody waits any more (the queue lost its consumers meanwhile): give it back.
                    for entry in entries:
                        self.requeue(key, entry, entry.deliveries)
                    continue
                try:
                    wake(entries)
                except Exception:
                    log.exception("cluster: handing a read entry to %r failed", key)


def _replied(done: Done | None, command: object, future: asyncio.Future[Any]) -> None:
    error = future.exception() if not future.cancelled() else ConnectionError("cancelled")
    if done is None:
        if error is not None and not isinstance(error, ConnectionError):
            log.warning("cluster: Redis refused %s: %s", command, error)
        return
    try:
        done(error if error is not None else future.result())
    except Exception:
        log.exception("cluster: handling the reply to %s failed", command)


def _ignore_busygroup(result: object) -> None:
    if isinstance(result, Exception) and "BUSYGROUP" not in str(result) and not isinstance(result, ConnectionError):
        log.warning("cluster: creating a consumer group failed: %s", result)
