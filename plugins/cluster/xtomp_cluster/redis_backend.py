"""The Redis backplane: one pipelined command connection, one pub/sub connection, one supervisor.

Theory of operation
-------------------
* **Commands** (PUBLISH, and whatever queues need) are appended to ``pending`` by
  synchronous calls on the hot path. The first one of a loop pass schedules ``_flush`` with
  ``call_soon``, so that everything one pass produced leaves as **one pipeline**: one
  ``write``, one round trip. Replies come back in order and resolve the commands' futures
  (None for a PUBLISH: nobody waits). Pipelines do not wait for each other's replies, so a
  slow round trip never stalls the next loop pass; while the connection is congested
  (asyncio's ``pause_writing``: Redis reads slower than we write) the pending commands wait
  and leave together, and beyond ``max_pending`` a PUBLISH is dropped and counted rather
  than buffered without bound (topics are at most once across trouble).
* **Pub/sub** messages are parsed by hiredis as they arrive on a second connection and
  handed to the channel's or pattern's callback, synchronously, on the event loop (resp.py).
  Subscribing and unsubscribing only change ``channels``/``patterns`` (what is wanted);
  ``_sync`` sends Redis the difference with what it was told, once per loop pass.
* **The supervisor** task owns both connections. Any failure of either (Redis gone, a reply
  later than ``timeout``, ``CLIENT KILL TYPE pubsub``, a connection Redis cut for its output
  buffer) marks the backplane down (one warning; ``down_total``; state listeners told),
  closes both, and reconnects with exponential backoff (``reconnect_min`` to
  ``reconnect_max``; the first retry at once); once both are back, every wanted channel and
  pattern is subscribed again with one command each, and the listeners are told it is up. No
  task can die silently: the connections report their loss to the supervisor, and the
  supervisor itself is restarted (and says so) if it ever ends other than by ``close``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .backplane import Callback, StateListener
from .resp import Arg, RespConnection, connect, pack

__all__ = ["RedisBackplane"]

log = logging.getLogger("xtomp.cluster")

# The states shown in the statistics (``state``) and ``xtomp status``.
CONNECTING, UP, DOWN, CLOSED = "connecting", "up", "down", "closed"
STATE_CODES = {CONNECTING: 0, UP: 1, DOWN: 2, CLOSED: 3}

#: Redis INFO fields reported under ``cluster.redis``.
_INFO_KEYS = {
    b"connected_clients": "clients",
    b"used_memory": "used_memory_bytes",
    b"instantaneous_ops_per_sec": "ops_per_s",
    b"pubsub_channels": "pubsub_channels",
    b"pubsub_patterns": "pubsub_patterns",
}


#: A run of at least this many PUBLISHes is sent between CLIENT REPLY OFF and ON (when the
#: server understands them): Redis then answers the run with one +OK, not a reply per PUBLISH
#: for the node to read and skip (about 1,000 instructions per SEND less on the publishing node).
_QUIET_RUN = 3
_REPLY_OFF = pack(("CLIENT", "REPLY", "OFF"))
_REPLY_ON = pack(("CLIENT", "REPLY", "ON"))


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
        max_pending: int = 100_000,
    ) -> None:
        self.url = url
        self._node = node
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.timeout = timeout
        self.max_pending = max_pending
        self.state = CONNECTING
        #: ``state == UP``, kept as a plain attribute: every SEND reads it.
        self.up = False
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Commands queued for the next pipeline, packed (RESP), and the futures waiting for
        #: some of their replies, by position (a PUBLISH has none: nobody waits for its reply).
        self.pending: list[bytes] = []
        self._futures: list[tuple[int, asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._sync_scheduled = False
        #: What is wanted (by callback) and what Redis was told.
        self.channels: dict[bytes, Callback] = {}
        self.patterns: dict[bytes, Callback] = {}
        self._told_channels: set[bytes] = set()
        self._told_patterns: set[bytes] = set()
        #: Channels and patterns Redis was (or is about to be) told and has not confirmed yet,
        #: with who waits for the confirmation (a SUBSCRIBE's RECEIPT).
        self._unconfirmed_channels: dict[bytes, list[Callable[[], None]]] = {}
        self._unconfirmed_patterns: dict[bytes, list[Callable[[], None]]] = {}
        self._listeners: list[StateListener] = []
        self._commands: RespConnection | None = None
        self._pubsub: RespConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._broken: asyncio.Future[BaseException | None] | None = None
        self._closing = False
        #: Pipelines written and not answered yet: (replies still due, when written).
        self._in_flight: deque[list[Any]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        # Figures (counted as they happen; see stats()).
        self.pipelines = 0
        self.commands_sent = 0
        self.largest_pipeline = 0
        self.published = 0
        self.publish_dropped = 0
        self.received = 0
        #: Payloads starting with this are this node's own echoes (``skip_own``), and how many were dropped.
        self._own: bytes | None = None
        self.echoes = 0
        self.down_count = 0
        self.reconnects = 0
        self.errors = 0
        self.last_round_trip = 0.0
        self.round_trip_total = 0.0
        self.round_trips_timed = 0
        self.down_since: float | None = None
        #: Cluster-wide figures from Redis, refreshed (asynchronously) each time stats are taken.
        self.nodes_seen = 0
        self.redis_figures: dict[str, int] = {}
        self._refreshing = False

    # -- the Backplane interface ------------------------------------------------------------------

    @property
    def node(self) -> str:
        return self._node

    def rename(self, node: str) -> None:
        self._node = node

    def publish(self, channel: bytes, payload: bytes) -> None:
        pending = self.pending
        if self.state != UP or len(pending) >= self.max_pending:
            self.publish_dropped += 1
            return
        self.published += 1
        # Packed here with one format (not pack()'s loop over arguments): one per SEND.
        pending.append(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(channel), channel, len(payload), payload))
        if not self._flush_scheduled:
            self._schedule_flush()

    def command(self, *args: Arg) -> asyncio.Future[Any]:
        loop = self.loop or asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.state != UP:
            future.set_exception(ConnectionError(f"the Redis backplane is {self.state}"))
            return future
        self._futures.append((len(self.pending), future))
        self.pending.append(pack(args))
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

    def subscribed(self, channel: bytes, done: Callable[[], None]) -> None:
        self._when_confirmed(channel, done, self.channels, self._told_channels, self._unconfirmed_channels)

    def psubscribed(self, pattern: bytes, done: Callable[[], None]) -> None:
        self._when_confirmed(pattern, done, self.patterns, self._told_patterns, self._unconfirmed_patterns)

    def _when_confirmed(
        self, name: bytes, done: Callable[[], None], wanted: dict[bytes, Callback], told: set[bytes],
        unconfirmed: dict[bytes, list[Callable[[], None]]],
    ) -> None:
        loop = self.loop
        if loop is None or self.state != UP or name not in wanted or (name in told and name not in unconfirmed):
            if loop is not None:
                loop.call_soon(done)
            else:
                done()
            return
        unconfirmed.setdefault(name, []).append(done)  # told by the next _sync, or already

    def _confirmed(self, name: bytes, unconfirmed: dict[bytes, list[Callable[[], None]]]) -> None:
        waiting = unconfirmed.pop(name, None)
        if waiting and self.loop is not None and not self.loop.is_closed():
            for done in waiting:
                self.loop.call_soon(done)  # not from inside the reply parser

    def _confirm_all(self) -> None:
        """The pub/sub connection is gone: nobody waits for a confirmation any more (local-only)."""
        for unconfirmed in (self._unconfirmed_channels, self._unconfirmed_patterns):
            for name in list(unconfirmed):
                self._confirmed(name, unconfirmed)

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._closing = False
        self._supervise()

    async def close(self) -> None:
        self._closing = True
        self.state = CLOSED
        self.up = False
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._disconnect()
        self._fail_pending(ConnectionError("the Redis backplane is closed"))

    def stats(self) -> dict[str, Any]:
        self._refresh_cluster_figures()
        pipelines = self.pipelines
        timed = self.round_trips_timed
        return {
            "up": 1 if self.state == UP else 0,
            "state": STATE_CODES[self.state],
            "round_trips_total": pipelines,
            "commands_total": self.commands_sent,
            "pipeline_mean": round(self.commands_sent / pipelines, 2) if pipelines else 0,
            "pipeline_max": self.largest_pipeline,
            "round_trip_ms": round(self.last_round_trip * 1000, 3),
            "round_trip_mean_ms": round(self.round_trip_total / timed * 1000, 3) if timed else 0,
            "in_flight": len(self._in_flight),
            "pending": len(self.pending),
            "published_total": self.published,
            "publish_dropped_total": self.publish_dropped,
            "received_total": self.received,
            "channels": len(self.channels),
            "patterns": len(self.patterns),
            "down_total": self.down_count,
            "reconnects_total": self.reconnects,
            "errors_total": self.errors,
            "down_seconds": round(time.monotonic() - self.down_since, 3) if self.down_since is not None else 0,
            "nodes": self.nodes_seen,  # cluster-wide: as Redis saw them at the previous stats
            "redis": dict(self.redis_figures),
        }

    def _refresh_cluster_figures(self) -> None:
        """Ask Redis for the cluster-wide figures (shown at the next stats: no wait, and no
        work at all while nobody takes statistics): the nodes connected (their pub/sub
        connections, named ``xtomp:NODE:pubsub``) and Redis's own load."""
        if self.state != UP or self._refreshing:
            return
        self._refreshing = True
        clients = self.command("CLIENT", "LIST", "TYPE", "pubsub")
        info = self.command("INFO")

        def done(answered: asyncio.Future[Any]) -> None:
            self._refreshing = False
            if clients.cancelled() or info.cancelled() or clients.exception() or info.exception():
                return
            names = {
                field[5:] for line in bytes(clients.result()).splitlines() for field in line.split()
                if field.startswith(b"name=xtomp:") and field.endswith(b":pubsub")
            }
            self.nodes_seen = len(names)
            figures: dict[str, int] = {}
            for line in bytes(info.result()).splitlines():
                key, _, value = line.partition(b":")
                if key in _INFO_KEYS and value.strip().isdigit():
                    figures[_INFO_KEYS[key]] = int(value)
            self.redis_figures = figures

        info.add_done_callback(done)

    # -- the pipeline ---------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        loop = self.loop
        if loop is None:
            return  # not started: the supervisor flushes once connected
        self._flush_scheduled = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        connection = self._commands
        if not self.pending or self.state != UP or connection is None or connection.congested:
            return  # congested: resume_writing's next pass (or the next publish) sends them together
        batch, self.pending = self.pending, []
        futures, self._futures = self._futures, []
        count = len(batch)
        quiet = connection.can_silence
        waiters: list[asyncio.Future[Any] | int] = []
        if not futures and (count < _QUIET_RUN or not quiet):
            waiters.append(count)  # only PUBLISHes: their replies are one number to skip
            data = b"".join(batch)
        else:
            parts: list[bytes] = []
            at = 0
            for index, future in [*futures, (count, None)]:
                if index > at:  # a run of PUBLISHes, whose replies nobody waits for
                    if quiet and index - at >= _QUIET_RUN:
                        parts += (_REPLY_OFF, *batch[at:index], _REPLY_ON)
                        waiters.append(1)  # Redis answers only the CLIENT REPLY ON
                    else:
                        parts += batch[at:index]
                        waiters.append(index - at)
                if future is not None:
                    parts.append(batch[index])
                    waiters.append(future)
                at = index + 1
            data = b"".join(parts)
        connection.write(data, waiters)
        now = time.monotonic()
        self._in_flight.append([sum(w if type(w) is int else 1 for w in waiters), now])
        self.pipelines += 1
        self.commands_sent += count
        if count > self.largest_pipeline:
            self.largest_pipeline = count
        if self._timer is None and self.loop is not None:
            self._timer = self.loop.call_at(now + self.timeout, self._check_timeout)

    def _replies(self, count: int) -> None:
        """The command connection consumed ``count`` replies: time the pipelines they complete."""
        in_flight = self._in_flight
        now = time.monotonic()
        while count and in_flight:
            head = in_flight[0]
            taken = min(count, head[0])
            head[0] -= taken
            count -= taken
            if head[0] == 0:
                in_flight.popleft()
                elapsed = now - head[1]
                self.last_round_trip = elapsed
                self.round_trip_total += elapsed
                self.round_trips_timed += 1
        if self.pending and not self._flush_scheduled and self._commands is not None and not self._commands.congested:
            self._schedule_flush()

    def _resumed(self) -> None:
        if self.pending and not self._flush_scheduled:
            self._schedule_flush()

    def _check_timeout(self) -> None:
        self._timer = None
        if not self._in_flight or self.loop is None:
            return
        due = self._in_flight[0][1] + self.timeout
        if time.monotonic() >= due:
            self._break(TimeoutError(f"Redis did not answer within {self.timeout}s"))
        else:
            self._timer = self.loop.call_at(due, self._check_timeout)

    def _fail_pending(self, error: BaseException) -> None:
        batch, self.pending = self.pending, []
        futures, self._futures = self._futures, []
        self.publish_dropped += len(batch) - len(futures)
        for _, future in futures:
            if not future.done():
                future.set_exception(error)

    # -- subscriptions --------------------------------------------------------------------------

    def _schedule_sync(self) -> None:
        if self._sync_scheduled or self.loop is None or self.state != UP:
            return  # not up: the supervisor subscribes everything wanted once it is
        self._sync_scheduled = True
        self.loop.call_soon(self._sync)

    def _sync(self) -> None:
        self._sync_scheduled = False
        connection = self._pubsub
        if connection is not None and self.state == UP:
            self._tell(connection)

    def _tell(self, connection: RespConnection) -> None:
        """Send Redis the difference between what is wanted and what it was told (one write).
        The confirmations arrive on the pub/sub connection and are skipped by ``_on_push``."""
        commands: list[bytes] = []
        for subscribe, unsubscribe, wanted, told, unconfirmed in (
            ("SUBSCRIBE", "UNSUBSCRIBE", self.channels, self._told_channels, self._unconfirmed_channels),
            ("PSUBSCRIBE", "PUNSUBSCRIBE", self.patterns, self._told_patterns, self._unconfirmed_patterns),
        ):
            new = [name for name in wanted if name not in told]
            gone = [name for name in told if name not in wanted]
            if new:
                commands.append(pack((subscribe, *new)))
                told.update(new)
                for name in new:
                    unconfirmed.setdefault(name, [])
            if gone:
                commands.append(pack((unsubscribe, *gone)))
                told.difference_update(gone)
        if commands:
            connection.write(b"".join(commands), [])

    def skip_own(self, prefix: bytes | None) -> None:
        self._own = prefix

    def _on_push(self, reader: Any) -> None:
        """What one read of the pub/sub connection brought: messages, and (un)subscribe
        confirmations. One call per read: the loop over the messages is here, with this
        node's own echoes dropped by their first bytes before anything else looks at them."""
        channels = self.channels
        own = self._own
        while (reply := reader.gets()) is not False:
            if type(reply) is not list:
                continue
            kind = reply[0]
            if kind == b"message":
                payload = reply[2]
                if own is not None and payload.startswith(own):
                    self.echoes += 1
                    continue
                channel = reply[1]
                callback = channels.get(channel)
            elif kind == b"pmessage":
                channel, payload = reply[2], reply[3]
                if own is not None and payload.startswith(own):
                    self.echoes += 1
                    continue
                callback = self.patterns.get(reply[1])
            else:
                if kind == b"subscribe":
                    self._confirmed(reply[1], self._unconfirmed_channels)
                elif kind == b"psubscribe":
                    self._confirmed(reply[1], self._unconfirmed_patterns)
                continue  # (p)(un)subscribe confirmations
            if callback is None:
                continue  # unsubscribed meanwhile
            self.received += 1
            try:
                callback(channel, payload)
            except Exception:
                # One bad message (or handler) must not take the connection down.
                self.errors += 1
                log.exception("cluster: handling a message of channel %r failed", channel[:80])

    # -- supervision ----------------------------------------------------------------------------

    def _supervise(self) -> None:
        assert self.loop is not None
        self._supervisor = self.loop.create_task(self._run(), name=f"xtomp-cluster backplane {self._node}")
        self._supervisor.add_done_callback(self._supervisor_ended)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        # Never a supervisor that died silently: say why and start another.
        log.error("cluster: the Redis backplane supervisor ended (%r); restarting it", task.exception())
        self.errors += 1
        if self.loop is not None and not self.loop.is_closed():
            self._supervise()

    def _break(self, error: BaseException | None) -> None:
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
                self._disconnect()
                raise
            except Exception as error:
                attempts += 1
                self.errors += 1
                if attempts == 1 and self.state != DOWN:
                    log.warning("cluster: cannot reach Redis at %s (%s); topics are local-only, retrying",
                                self.url, error or type(error).__name__)
                    self._set_state(DOWN)
                else:
                    log.debug("cluster: reconnect attempt %d failed: %r", attempts, error)
                self._disconnect()
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
            self._disconnect()
            self._fail_pending(ConnectionError(f"the Redis backplane went down: {failure}"))
            # The first retry is at once (a killed connection usually comes straight back).

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        broken: asyncio.Future[BaseException | None] = loop.create_future()
        self._broken = broken
        commands = await connect(self.url, self.timeout, f"xtomp:{self._node}:commands")
        self._commands = commands
        commands.on_replies = self._replies
        commands.on_resume = self._resumed
        commands.lost.add_done_callback(lambda lost: self._lost(broken, lost))
        pubsub = await connect(self.url, self.timeout, f"xtomp:{self._node}:pubsub", on_push=self._on_push)
        self._pubsub = pubsub
        pubsub.lost.add_done_callback(lambda lost: self._lost(broken, lost))
        self._told_channels.clear()
        self._told_patterns.clear()
        self._tell(pubsub)

    def _lost(self, broken: asyncio.Future[BaseException | None], lost: asyncio.Future[BaseException | None]) -> None:
        """A connection was lost: break the connections it belonged to (not newer ones)."""
        if not broken.done():
            broken.set_result(lost.result() or ConnectionError("connection closed"))

    def _disconnect(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._in_flight.clear()
        self._confirm_all()
        for connection in (self._pubsub, self._commands):
            if connection is not None:
                connection.close()
        self._pubsub = self._commands = None

    def _set_state(self, state: str) -> None:
        was_up = self.state == UP
        self.state = state
        self.up = state == UP
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
