"""The Redis backplane: one pipelined command connection, one pub/sub connection, one supervisor.

Theory of operation
-------------------
* **Commands** (PUBLISH, and whatever queues need) are appended to ``pending`` by
  synchronous calls on the hot path. The first one of a loop pass schedules ``_flush`` with
  ``call_soon``, so that everything one pass produced leaves as **one pipeline** (one write,
  one round trip). At most one pipeline is in flight: what is queued meanwhile leaves as the
  next one as soon as the replies are in, so pipelines grow under load instead of round
  trips multiplying, and commands reach Redis in the order they were queued (which is what
  makes messages of one node arrive in order everywhere).
* **Pub/sub** messages are read by a reader task on a second connection and handed to the
  channel's or pattern's callback, synchronously, on the event loop. Subscribing and
  unsubscribing only change ``channels``/``patterns`` (what is wanted); ``_sync`` sends the
  difference with what Redis was told, once per loop pass.
* **The supervisor** task owns both connections. Any error of either (Redis gone, a reply
  timeout, ``CLIENT KILL TYPE pubsub``, a connection Redis cut for its output buffer) marks
  the backplane down (one warning, ``down_total`` counted, state listeners told), closes both,
  and reconnects with exponential backoff (``reconnect_min`` to ``reconnect_max``); once both
  are back, every wanted channel and pattern is subscribed again in one command each, and
  the listeners are told it is up. No task can die silently: the reader and the writer
  report every exception to the supervisor, and the supervisor itself is restarted if it
  ever ends other than by ``close``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from functools import partial
from typing import Any

from redis.asyncio.connection import Connection, parse_url
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.asyncio.retry import Retry

from .backplane import Arg, Callback, StateListener

__all__ = ["RedisBackplane"]

log = logging.getLogger("xtomp.cluster")

# The states shown in the statistics (``state``) and ``xtomp status``.
CONNECTING, UP, DOWN, CLOSED = "connecting", "up", "down", "closed"
STATE_CODES = {CONNECTING: 0, UP: 1, DOWN: 2, CLOSED: 3}


class RedisBackplane:
    """:class:`~xtomp_cluster.backplane.Backplane` on one Redis server (a URL ``redis://...``)."""

    def __init__(
        self,
        url: str,
        node: str,
        *,
        reconnect_min: float = 0.05,
        reconnect_max: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._node = node
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.timeout = timeout
        self.state = CONNECTING
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Commands queued for the next pipeline, each with its future (None: nobody waits).
        self.pending: list[tuple[tuple[Arg, ...], asyncio.Future[Any] | None]] = []
        self._flush_scheduled = False
        self._in_flight = False
        self._sync_scheduled = False
        #: What is wanted (by callback) and what Redis was told.
        self.channels: dict[bytes, Callback] = {}
        self.patterns: dict[bytes, Callback] = {}
        self._told_channels: set[bytes] = set()
        self._told_patterns: set[bytes] = set()
        self._listeners: list[StateListener] = []
        self._commands: Connection | None = None
        self._pubsub: Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._broken: asyncio.Future[BaseException] | None = None
        self._closing = False
        # Figures (counted as they happen; see stats()).
        self.pipelines = 0
        self.commands_sent = 0
        self.largest_pipeline = 0
        self.published = 0
        self.publish_dropped = 0
        self.received = 0
        self.down_count = 0
        self.reconnects = 0
        self.errors = 0
        self.last_round_trip = 0.0
        self.round_trip_total = 0.0
        self.down_since: float | None = None

    # -- the Backplane interface ------------------------------------------------------------------

    @property
    def node(self) -> str:
        return self._node

    def rename(self, node: str) -> None:
        self._node = node

    @property
    def up(self) -> bool:
        return self.state == UP

    def publish(self, channel: bytes, payload: bytes) -> None:
        if self.state != UP:
            self.publish_dropped += 1
            return
        self.published += 1
        self.pending.append((("PUBLISH", channel, payload), None))
        if not self._flush_scheduled:
            self._schedule_flush()

    def command(self, *args: Arg) -> asyncio.Future[Any]:
        loop = self.loop or asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.state != UP:
            future.set_exception(ConnectionError(f"the Redis backplane is {self.state}"))
            return future
        self.pending.append((args, future))
        if not self._flush_scheduled:
            self._schedule_flush()
        return future

    def subscribe(self, channel: bytes, callback: Callback) -> None:
        self.channels[channel] = callback
        self._schedule_sync()

    def unsubscribe(self, channel: bytes) -> None:
        if self.channels.pop(channel, None) is not None:
            self._schedule_sync()

    def psubscribe(self, pattern: bytes, callback: Callback) -> None:
        self.patterns[pattern] = callback
        self._schedule_sync()

    def punsubscribe(self, pattern: bytes) -> None:
        if self.patterns.pop(pattern, None) is not None:
            self._schedule_sync()

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._closing = False
        self._supervise()

    async def close(self) -> None:
        self._closing = True
        self.state = CLOSED
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._disconnect()
        self._fail_pending(ConnectionError("the Redis backplane is closed"))

    def stats(self) -> dict[str, Any]:
        pipelines = self.pipelines
        return {
            "up": 1 if self.state == UP else 0,
            "state": STATE_CODES[self.state],
            "round_trips_total": pipelines,
            "commands_total": self.commands_sent,
            "pipeline_mean": round(self.commands_sent / pipelines, 2) if pipelines else 0,
            "pipeline_max": self.largest_pipeline,
            "round_trip_ms": round(self.last_round_trip * 1000, 3),
            "round_trip_mean_ms": round(self.round_trip_total / pipelines * 1000, 3) if pipelines else 0,
            "published_total": self.published,
            "publish_dropped_total": self.publish_dropped,
            "received_total": self.received,
            "channels": len(self.channels),
            "patterns": len(self.patterns),
            "down_total": self.down_count,
            "reconnects_total": self.reconnects,
            "errors_total": self.errors,
            "down_seconds": round(time.monotonic() - self.down_since, 3) if self.down_since is not None else 0,
        }

    # -- the pipeline ---------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        self._flush_scheduled = True
        loop = self.loop
        if loop is None:
            return  # not started: the supervisor flushes once connected
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._in_flight or not self.pending or self.state != UP:
            return
        self._in_flight = True
        assert self.loop is not None
        self.loop.create_task(self._write())

    async def _write(self) -> None:
        connection, broken = self._commands, self._broken
        batch: list[tuple[tuple[Arg, ...], asyncio.Future[Any] | None]] = []
        try:
            while self.pending and connection is not None and connection is self._commands:
                batch, self.pending = self.pending, []
                started = time.monotonic()
                await connection.send_packed_command(connection.pack_commands([args for args, _ in batch]), False)
                for _, future in batch:
                    try:
                        reply: Any = await connection.read_response(timeout=self.timeout)
                    except ResponseError as error:
                        if future is not None and not future.done():
                            future.set_exception(error)
                        continue
                    if future is not None and not future.done():
                        future.set_result(reply)
                elapsed = time.monotonic() - started
                self.pipelines += 1
                self.commands_sent += len(batch)
                self.largest_pipeline = max(self.largest_pipeline, len(batch))
                self.last_round_trip = elapsed
                self.round_trip_total += elapsed
                batch = []
        except asyncio.CancelledError:
            self._fail(batch, ConnectionError("the Redis backplane is closed"))
            raise
        except Exception as error:
            self._fail(batch, ConnectionError(f"the Redis backplane failed: {error}"))
            self._break(error, broken)
        finally:
            self._in_flight = False
        if self.pending and self.state == UP and not self._flush_scheduled:
            self._schedule_flush()

    @staticmethod
    def _fail(batch: list[tuple[tuple[Arg, ...], asyncio.Future[Any] | None]], error: BaseException) -> None:
        for _, future in batch:
            if future is not None and not future.done():
                future.set_exception(error)

    def _fail_pending(self, error: BaseException) -> None:
        batch, self.pending = self.pending, []
        self.publish_dropped += sum(1 for args, future in batch if future is None)
        self._fail(batch, error)

    # -- subscriptions --------------------------------------------------------------------------

    def _schedule_sync(self) -> None:
        if self._sync_scheduled or self.loop is None or self.state != UP:
            return  # not up: the supervisor subscribes everything wanted once it is
        self._sync_scheduled = True
        self.loop.call_soon(self._sync_soon)

    def _sync_soon(self) -> None:
        self._sync_scheduled = False
        assert self.loop is not None
        self.loop.create_task(self._sync())

    async def _sync(self) -> None:
        connection, broken = self._pubsub, self._broken
        if connection is None or self.state != UP:
            return
        try:
            await self._tell(connection)
        except Exception as error:
            self._break(error, broken)

    async def _tell(self, connection: Connection) -> None:
        """Send Redis the difference between what is wanted and what it was told."""
        commands: list[tuple[Arg, ...]] = []
        for verb, wanted, told in (
            ("SUBSCRIBE", self.channels, self._told_channels), ("PSUBSCRIBE", self.patterns, self._told_patterns)
        ):
            new = [name for name in wanted if name not in told]
            gone = [name for name in told if name not in wanted]
            if new:
                commands.append((verb, *new))
                told.update(new)
            if gone:
                commands.append(("UNSUBSCRIBE" if verb == "SUBSCRIBE" else "PUNSUBSCRIBE", *gone))
                told.difference_update(gone)
        if commands:
            # Replies (subscribe confirmations) arrive on this connection and are skipped by the reader.
            await connection.send_packed_command(connection.pack_commands(commands), False)

    # -- supervision ----------------------------------------------------------------------------

    def _supervise(self) -> None:
        assert self.loop is not None
        self._supervisor = self.loop.create_task(self._run(), name=f"xtomp-cluster backplane {self.url}")
        self._supervisor.add_done_callback(self._supervisor_ended)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        # Never a supervisor that died silently: say why and start another.
        error = task.exception()
        log.error("cluster: the Redis backplane supervisor ended (%r); restarting it", error)
        self.errors += 1
        if self.loop is not None and not self.loop.is_closed():
            self._supervise()

    def _break(self, error: BaseException, broken: asyncio.Future[BaseException] | None = None) -> None:
        """Report a failure of the current connections (``broken``: of the ones it was seen on)."""
        if broken is None:
            broken = self._broken
        if broken is not None and not broken.done():
            broken.set_result(error)

    async def _run(self) -> None:
        delay = 0.0
        attempts = 0
        while not self._closing:
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                attempts += 1
                self.errors += 1
                if attempts == 1 and self.state != DOWN:
                    log.warning("cluster: cannot reach Redis at %s (%s); topics are local-only, retrying", self.url, error)
                    self._set_state(DOWN)
                else:
                    log.debug("cluster: reconnect attempt %d failed: %s", attempts, error)
                await self._disconnect()
                delay = min(self.reconnect_max, max(self.reconnect_min, delay * 2))
                await asyncio.sleep(delay)
                continue
            if attempts or self.down_count:
                self.reconnects += 1
                log.warning("cluster: Redis at %s is back (node %s); %d channels and %d patterns restored",
                            self.url, self._node, len(self.channels), len(self.patterns))
            else:
                log.info("cluster: node %s connected to Redis at %s", self._node, self.url)
            attempts = 0
            delay = 0.0
            self._set_state(UP)
            if self.pending and not self._flush_scheduled:
                self._schedule_flush()
            assert self._broken is not None
            failure = await self._broken
            self.errors += 1
            if not self._closing:
                log.warning("cluster: lost Redis at %s (%s); topics are local-only until it is back",
                            self.url, failure or "connection closed")
                self._set_state(DOWN)
            await self._disconnect()
            self._fail_pending(ConnectionError(f"the Redis backplane went down: {failure}"))
            # The first retry is at once (a killed connection usually comes straight back).

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._broken = loop.create_future()
        options = parse_url(self.url)
        common: dict[str, Any] = {
            **options, "retry": Retry(NoBackoff(), 0), "socket_connect_timeout": self.timeout,
            # RESP2: pub/sub messages are plain replies read in order (RESP3 would route them to
            # redis-py's push handlers), and what Redis 6 and later all speak.
            "protocol": 2,
        }
        commands = Connection(**{**common, "socket_timeout": self.timeout})
        self._commands = commands
        await commands.connect()  # type: ignore[no-untyped-call]
        await commands.send_command("CLIENT", "SETNAME", f"xtomp:{self._node}:commands")
        await commands.read_response(timeout=self.timeout)
        # The pub/sub connection waits for messages for ever; only the commands one times out.
        pubsub = Connection(**{**common, "socket_timeout": None})
        self._pubsub = pubsub
        await pubsub.connect()  # type: ignore[no-untyped-call]
        await pubsub.send_command("CLIENT", "SETNAME", f"xtomp:{self._node}:pubsub")
        await pubsub.read_response(timeout=self.timeout)
        self._told_channels.clear()
        self._told_patterns.clear()
        await self._tell(pubsub)
        self._reader = loop.create_task(self._read(pubsub))
        self._reader.add_done_callback(partial(self._reader_ended, self._broken))

    def _reader_ended(self, broken: asyncio.Future[BaseException], task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        self._break(error if error is not None else ConnectionError("the pub/sub reader ended"), broken)

    async def _read(self, connection: Connection) -> None:
        channels, patterns = self.channels, self.patterns
        while True:
            reply = await connection.read_response(timeout=math.inf)  # block: messages come when they come
            if not isinstance(reply, list) or not reply:
                continue
            kind = reply[0]
            if kind == b"message":
                callback = channels.get(reply[1])
            elif kind == b"pmessage":
                callback = patterns.get(reply[1])
                reply = reply[1:]
            else:
                continue  # (p)(un)subscribe confirmations
            if callback is None:
                continue  # unsubscribed meanwhile
            self.received += 1
            try:
                callback(reply[1], reply[2])
            except Exception:
                # One bad message (or handler) must not stop the reader.
                self.errors += 1
                log.exception("cluster: handling a message of channel %r failed", reply[1][:80])

    async def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
        for connection in (self._pubsub, self._commands):
            if connection is not None:
                try:
                    await connection.disconnect()
                except Exception:
                    pass
        self._pubsub = self._commands = None

    def _set_state(self, state: str) -> None:
        was_up = self.state == UP
        self.state = state
        if state == DOWN:
            if was_up or self.down_since is None:
                self.down_count += 1
                self.down_since = time.monotonic()
        elif state == UP:
            self.down_since = None
        now_up = state == UP
        if now_up != was_up:
            for listener in self._listeners:
                try:
                    listener(now_up)
                except Exception:
                    log.exception("cluster: a backplane state listener failed")

