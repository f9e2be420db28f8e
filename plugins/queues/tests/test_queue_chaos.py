"""Chaos under load, over real sockets: a lossless queue (``when_full = "pause"``) fed by
unpaced producers while consumers in ``client-individual`` mode are killed mid-stream.

Three producers each write 10,000 messages of 1 KiB as fast as their sockets take them
(no receipt per message, no window: only the last SEND asks for a RECEIPT, to know the
producer is done); the queue pauses them while it holds ``max_messages``. Four consumers
(prefetch 50) read and ACK every message; a chaos thread kills a random one every
100-300 ms or 300-900 deliveries, whichever comes first (its socket closed abruptly, by a
reset, a close or a half-close: with messages received but not ACKed, with ACKs written but
not confirmed, or in the middle of an ACK frame) and starts a new one in its place, until
the producers are done and the queue is drained.

What counts as ACKed: a consumer asks for a RECEIPT after each batch of ACKs, and an ACK
is *confirmed* when a RECEIPT after it arrives (the broker handles a connection's frames
in order). The ACKs a consumer sent after its last RECEIPT and before it was killed are
*uncertain*: the broker may or may not have read them. Then, for every message:

* each delivery the consumers read has a distinct ``x-delivery-count`` (none on the first
  delivery, ``redelivered:true`` with it on every later one): no message is delivered
  twice with the same count, so never to two consumers at once;
* it was confirmed at most once, and only on its last delivery (nothing is delivered
  after a confirmed ACK); a message never confirmed had an uncertain ACK on its last
  delivery, which the broker took (else it would have been delivered again);
* the queue's own figures end with nothing waiting or in flight, every message enqueued
  and ACKed exactly once (``acked`` = number of messages: the broker counts an ACK only
  for a message the subscription holds) and nothing dead-lettered or dropped.

Memory stays bounded: messages held (waiting + in flight) never exceed what the
configuration allows (max_messages, one SEND over it per paused producer, a prefetch
window per consumer), and the growth of the process's RSS over the run (broker and test
share this process) stays under a bound derived from the same figures. No duration is
asserted: timeouts are safety nets that only end a hung run.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from array import array
from collections.abc import Callable

from xtomp_testing import BrokerThread, RawClient, frame_bytes, wait_until

QUEUE = "/queue/chaos"
PRODUCERS = 3
PER_PRODUCER = 10000
TOTAL = PRODUCERS * PER_PRODUCER
CONSUMERS = 4
PREFETCH = 50
MAX_MESSAGES = 1000
MAX_REDELIVERIES = 100
BODY_SIZE = 1024
WRITE_BUFFER_HIGH = 64 * 1024
SEND_BATCH = 50  # SEND frames per sendall: unpaced, the socket takes what it can
KILL_EVERY = (0.1, 0.3)  # seconds between kills, at most
KILL_EVERY_DELIVERIES = (300, 900)  # deliveries between kills, at most
SEED = 14
SAFETY = 60.0  # only bounds a hung run

KIB = 1024
MIB = 1024 * KIB


def body_of(producer: int, seq: int) -> bytes:
    head = b"%d:%d:" % (producer, seq)
    return head + b"x" * (BODY_SIZE - len(head))


def key_of(body: bytes) -> int:
    producer, seq, _ = body.split(b":", 2)
    return int(producer) * PER_PRODUCER + int(seq)


def rss() -> int:
    """This process's resident set size, in bytes (the broker runs in one of its threads)."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * KIB
    raise AssertionError("no VmRSS in /proc/self/status")


def queue_figures(broker: BrokerThread) -> dict:
    def figures() -> dict:
        queue = broker.broker.destinations.get(QUEUE.encode())
        return queue.stats() if queue is not None else {}

    return broker.call(figures)


class Ledger:
    """What the consumers saw, per message (preallocated: the test's own memory must not
    grow with the number of messages while the broker's is measured)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Bit n set: the delivery with x-delivery-count n (0: the first) was read.
        self.seen = array("Q", bytes(8 * TOTAL))
        #: ACKs confirmed by a later RECEIPT, and the delivery count of the last one.
        self.confirmed = array("H", bytes(2 * TOTAL))
        self.confirmed_at = array("h", [-1]) * TOTAL
        #: Bit n set: the ACK of delivery n was written by a consumer killed before a RECEIPT after it.
        self.uncertain = array("Q", bytes(8 * TOTAL))
        self.anomalies: list[str] = []
        self.anomaly_count = 0
        self.deliveries = 0
        self.redeliveries = 0
        self.kills: dict[str, int] = {}
        self.killed_holding = 0  # kills of a consumer holding unacknowledged messages
        #: Messages whose ACK was uncertain (a killed consumer's) and taken by the broker.
        self.taken_uncertain = 0

    def anomaly(self, text: str) -> None:
        self.anomaly_count += 1
        if len(self.anomalies) < 20:
            self.anomalies.append(text)

    def delivered(self, key: int, headers: dict[bytes, bytes], consumer: str) -> int:
        count_text = headers.get(b"x-delivery-count")
        count = int(count_text) if count_text is not None else 0
        redelivered = headers.get(b"redelivered") == b"true"
        with self.lock:
            self.deliveries += 1
            if count_text is None and redelivered:
                self.anomaly(f"{consumer}: message {key} has redelivered:true without x-delivery-count")
            if count_text is not None and (count < 1 or not redelivered):
                self.anomaly(f"{consumer}: message {key} has x-delivery-count:{count} and redelivered={redelivered}")
            if count >= 64:
                self.anomaly(f"{consumer}: message {key} delivered {count} times before")
                return count
            if count:
                self.redeliveries += 1
            bit = 1 << count
            if self.seen[key] & bit:
                self.anomaly(f"{consumer}: message {key} delivered twice with x-delivery-count {count}")
            self.seen[key] |= bit
        return count

    def confirm(self, acks: list[tuple[int, int]]) -> None:
        with self.lock:
            for key, count in acks:
                self.confirmed[key] += 1
                self.confirmed_at[key] = max(self.confirmed_at[key], count)

    def unconfirmed(self, acks: list[tuple[int, int]]) -> None:
        with self.lock:
            for key, count in acks:
                if count < 64:
                    self.uncertain[key] |= 1 << count

    def killed(self, mode: str, holding: bool) -> None:
        with self.lock:
            self.kills[mode] = self.kills.get(mode, 0) + 1
            self.killed_holding += holding

    def problems(self) -> list[str]:
        """Every message read, ACKed exactly once, on its last delivery."""
        found = list(self.anomalies)
        if self.anomaly_count > len(self.anomalies):
            found.append(f"... {self.anomaly_count - len(self.anomalies)} more anomalies")
        for key in range(TOTAL):
            if len(found) >= 30:
                found.append("...")
                break
            seen = self.seen[key]
            where = f"message {key} (producer {key // PER_PRODUCER}, seq {key % PER_PRODUCER})"
            if not seen:
                found.append(f"{where}: never delivered")
                continue
            last = seen.bit_length() - 1
            confirmed = self.confirmed[key]
            if confirmed > 1:
                found.append(f"{where}: ACKed and confirmed {confirmed} times")
            elif confirmed == 1 and self.confirmed_at[key] != last:
                found.append(
                    f"{where}: delivered again (x-delivery-count {last}) after an ACK confirmed on delivery "
                    f"{self.confirmed_at[key]}"
                )
            elif confirmed == 0:
                if self.uncertain[key] >> last & 1:
                    self.taken_uncertain += 1
                else:
                    found.append(f"{where}: its last delivery ({last}) was never ACKed")
        return found


class Consumer(threading.Thread):
    """A client-individual consumer: ACKs each message, asking for a RECEIPT after every batch."""

    MODES = ("unacked", "acks-in-flight", "half-ack")

    def __init__(self, broker: BrokerThread, ledger: Ledger, name: str, seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.broker = broker
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.kill_mode: str | None = None
        self.stopping = False
        self.error: BaseException | None = None
        self.subscribed = threading.Event()
        self.to_ack: list[tuple[int, int, bytes]] = []  # (key, delivery count, ack id) read, not yet ACKed
        self.pending: list[tuple[int, list[tuple[int, int]]]] = []  # ACKs written, awaiting RECEIPT n
        self.batches = 0
        self.client: RawClient | None = None

    def kill(self, mode: str) -> None:
        self.kill_mode = mode

    def stop(self) -> None:
        self.stopping = True

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by the test thread
            self.error = error
        finally:
            self.subscribed.set()
            if self.client is not None:
                self.client.close()

    def _run(self) -> None:
        self.client = client = RawClient(self.broker.host, self.broker.port, timeout=SAFETY)
        client.connect()
        client.subscribe(QUEUE, id="s", ack="client-individual", prefetch_count=str(PREFETCH))
        self.subscribed.set()
        # RawClient keeps every byte it reads: from here on, read with its parser only.
        frames, client.frames = client.frames, []
        sock, parser = client.sock, client.parser
        while True:
            self._handle(frames)
            frames = []
            if self.kill_mode is not None:
                self._die(self.kill_mode)
                return
            if self.stopping and not self.to_ack:
                self._finish()
                return
            if self.to_ack:
                self._ack(receipt=True)
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready:
                data = sock.recv(256 * KIB)
                if not data:
                    raise AssertionError(f"{self.name}: the broker closed the connection")
                frames = parser.feed(data)

    def _handle(self, frames: list) -> None:
        for frame in frames:
            if frame.command == b"MESSAGE":
                key = key_of(frame.body)
                count = self.ledger.delivered(key, frame.headers, self.name)
                self.to_ack.append((key, count, frame.headers[b"ack"]))
            elif frame.command == b"RECEIPT":
                number = int(frame.headers[b"receipt-id"][1:])
                while self.pending and self.pending[0][0] <= number:
                    self.ledger.confirm(self.pending.pop(0)[1])
            else:
                raise AssertionError(f"{self.name}: unexpected {frame!r}")

    def _ack_bytes(self, receipt: bool) -> bytes:
        """ACK frames for what was read; the last asks for a RECEIPT (recorded as pending)."""
        self.batches += 1
        acks = self.to_ack
        self.to_ack = []
        parts = []
        for index, (_, _, ack_id) in enumerate(acks):
            headers = [("id", ack_id.decode())]
            if receipt and index == len(acks) - 1:
                headers.append(("receipt", f"a{self.batches}"))
            parts.append(frame_bytes("ACK", headers))
        self.pending.append((self.batches, [(key, count) for key, count, _ in acks]))
        return b"".join(parts)

    def _ack(self, receipt: bool) -> None:
        assert self.client is not None
        self.client.sock.sendall(self._ack_bytes(receipt))

    def _die(self, mode: str) -> None:
        """Close the socket abruptly: the broker must give what this consumer held to others.

        ``unacked``: messages read and not ACKed; ``acks-in-flight``: ACKs written, no
        RECEIPT asked for; ``half-ack``: the same with the last ACK frame cut in the middle.
        ACKs written since the last RECEIPT are uncertain, whatever the mode.
        """
        assert self.client is not None
        sock = self.client.sock
        # Wait a little for deliveries, so that it dies holding unacknowledged messages.
        deadline = time.monotonic() + 0.2
        while not self.to_ack and time.monotonic() < deadline:
            ready, _, _ = select.select([sock], [], [], 0.02)
            if ready:
                data = sock.recv(256 * KIB)
                if not data:
                    raise AssertionError(f"{self.name}: the broker closed the connection")
                self._handle(self.client.parser.feed(data))
        holding = bool(self.to_ack) or bool(self.pending)
        if self.to_ack and mode == "acks-in-flight":
            sock.sendall(self._ack_bytes(receipt=False))
        elif self.to_ack and mode == "half-ack":
            data = self._ack_bytes(receipt=False)
            sock.sendall(data[: len(data) - self.rng.randint(2, 20)])
        ending = self.rng.choice(("reset", "close", "half-close"))
        if ending == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif ending == "half-close":
            sock.shutdown(socket.SHUT_WR)  # the ACKs then a FIN, so the broker may read them first
        sock.close()  # with unread deliveries in its buffer, a reset in any case
        for _, acks in self.pending:
            self.ledger.unconfirmed(acks)
        self.pending = []
        self.ledger.killed(mode, holding)

    def _finish(self) -> None:
        """A clean end: a DISCONNECT's RECEIPT confirms every ACK written before it."""
        assert self.client is not None
        client = self.client
        client.send_frame("DISCONNECT", {"receipt": "bye"})
        deadline = time.monotonic() + SAFETY
        frames: list = []
        while True:
            receipts = [f for f in frames if f.command == b"RECEIPT" and f.headers[b"receipt-id"] == b"bye"]
            self._handle([f for f in frames if f not in receipts])
            if receipts:
                break
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([client.sock], [], [], max(0.0, remaining))
            if not ready:
                raise AssertionError(f"{self.name}: no RECEIPT for DISCONNECT")
            data = client.sock.recv(256 * KIB)
            if not data:
                raise AssertionError(f"{self.name}: closed before the DISCONNECT's RECEIPT")
            frames = client.parser.feed(data)
        if self.to_ack:
            raise AssertionError(f"{self.name}: messages delivered after the queue was drained")
        for _, acks in self.pending:
            self.ledger.confirm(acks)
        self.pending = []


class Producer(threading.Thread):
    """Writes its messages unpaced; only the last SEND asks for a RECEIPT."""

    def __init__(self, broker: BrokerThread, number: int) -> None:
        super().__init__(name=f"producer-{number}", daemon=True)
        self.broker = broker
        self.number = number
        self.error: BaseException | None = None
        self.done = False

    def run(self) -> None:
        try:
            with RawClient(self.broker.host, self.broker.port, timeout=SAFETY) as client:
                client.connect()
                for start in range(0, PER_PRODUCER, SEND_BATCH):
                    parts = []
                    for seq in range(start, min(start + SEND_BATCH, PER_PRODUCER)):
                        headers = [("destination", QUEUE)]
                        if seq == PER_PRODUCER - 1:
                            headers.append(("receipt", f"p{self.number}"))
                        parts.append(frame_bytes("SEND", headers, body_of(self.number, seq)))
                    client.send(b"".join(parts))
                client.expect_receipt(f"p{self.number}", timeout=SAFETY)
                self.done = True
        except BaseException as error:  # reported by the test thread
            self.error = error


class Sampler(threading.Thread):
    """Peak RSS, and peak messages held by the queue (waiting + in flight), while the test runs."""

    def __init__(self, broker: BrokerThread) -> None:
        super().__init__(name="sampler", daemon=True)
        self.broker = broker
        self.peak_rss = rss()
        self.peak_held = 0
        self.samples = 0
        self.running = True
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while self.running:
                self.peak_rss = max(self.peak_rss, rss())
                figures = queue_figures(self.broker)
                if figures:
                    self.peak_held = max(self.peak_held, figures["q"] + figures["in_flight"])
                self.samples += 1
                time.sleep(0.01)
        except BaseException as error:
            self.error = error


def test_a_paused_queue_loses_nothing_while_consumers_die_under_load(
    xtomp_factory: Callable[..., BrokerThread],
) -> None:
    broker = xtomp_factory(
        f"""
[server]
write_buffer_high = "{WRITE_BUFFER_HIGH // KIB}KiB"

[plugins.queues]

[destinations."{QUEUE}"]
type = "queue"
when_full = "pause"
max_messages = {MAX_MESSAGES}
max_redeliveries = {MAX_REDELIVERIES}
"""
    )
    rng = random.Random(SEED)
    ledger = Ledger()
    consumers: list[Consumer] = []
    retired: list[Consumer] = []
    producers = [Producer(broker, number) for number in range(PRODUCERS)]
    errors: list[BaseException] = []

    def new_consumer() -> Consumer:
        consumer = Consumer(broker, ledger, f"consumer-{len(consumers) + len(retired)}", rng.randrange(1 << 30))
        consumer.start()
        assert consumer.subscribed.wait(SAFETY), "a consumer did not subscribe"
        if consumer.error is not None:
            raise consumer.error
        return consumer

    def failures() -> list[BaseException]:
        threads: list = [*producers, *consumers, *retired]
        return errors + [thread.error for thread in threads if thread.error is not None]

    def check() -> None:
        found = failures()
        if found:
            raise found[0]

    def chaos() -> None:
        """Kill a consumer every 100-300 ms or every 300-900 deliveries, whichever comes
        first (the count keeps the chaos going on a fast run), until the work is done."""
        try:
            modes: list[str] = []
            while not (all(p.done for p in producers) and drained()):
                until = time.monotonic() + rng.uniform(*KILL_EVERY)
                deliveries = ledger.deliveries + rng.randint(*KILL_EVERY_DELIVERIES)
                while time.monotonic() < until and ledger.deliveries < deliveries and not failures():
                    time.sleep(0.005)
                check()
                if not modes:
                    modes = rng.sample(Consumer.MODES, len(Consumer.MODES))  # each mode in turn
                index = rng.randrange(len(consumers))
                victim = consumers[index]
                victim.kill(modes.pop())
                victim.join(SAFETY)
                assert not victim.is_alive(), f"{victim.name} did not die"
                retired.append(victim)
                consumers[index] = new_consumer()
        except BaseException as error:
            errors.append(error)

    def drained() -> bool:
        figures = queue_figures(broker)
        return bool(figures) and figures["q"] == 0 and figures["in_flight"] == 0

    for _ in range(CONSUMERS):
        consumers.append(new_consumer())
    sampler = Sampler(broker)  # the baseline: broker, consumers and ledger ready, no message yet
    baseline = sampler.peak_rss
    sampler.start()
    chaos_thread = threading.Thread(target=chaos, name="chaos", daemon=True)
    try:
        for producer in producers:
            producer.start()
        chaos_thread.start()
        wait_until(
            lambda: failures() or not chaos_thread.is_alive(), timeout=SAFETY, what="producers done, queue drained"
        )
        check()
        # Every message was enqueued (each producer's last SEND has its RECEIPT) and none waits or
        # is in flight: each was ACKed, or lost (dropped, dead-lettered) in the chaos.
        drained_figures = queue_figures(broker)
        assert drained_figures["acked"] == TOTAL, drained_figures
        for consumer in consumers:
            consumer.stop()
        for consumer in consumers:
            consumer.join(SAFETY)
            assert not consumer.is_alive(), f"{consumer.name} did not finish"
        check()
    finally:
        sampler.running = False
        for consumer in consumers:
            consumer.stop()
        sampler.join(SAFETY)
    assert sampler.error is None, sampler.error
    for producer in producers:
        producer.join(SAFETY)
        assert producer.done

    # -- every message delivered and ACKed exactly once ---------------------------------------
    problems = ledger.problems()
    assert not problems, "\n".join(problems)
    figures = queue_figures(broker)
    assert figures["Σ"] == TOTAL, figures
    assert figures["q"] == 0 and figures["in_flight"] == 0, figures
    assert figures["acked"] == TOTAL, figures
    assert figures["dead_lettered"] == 0 and figures["dropped"] == 0 and figures["expired"] == 0, figures
    assert figures["nacked"] == 0, figures
    assert figures["delivered"] == TOTAL + figures["redelivered"], figures
    assert figures["consumers"] == 0, figures

    # -- the chaos happened: consumers died holding messages, which were redelivered ------------
    assert all(ledger.kills.get(mode, 0) >= 1 for mode in Consumer.MODES), ledger.kills
    assert ledger.killed_holding >= len(Consumer.MODES), (ledger.killed_holding, ledger.kills)
    assert figures["redelivered"] >= 1 and ledger.redeliveries >= 1, (figures, ledger.redeliveries)

    # -- memory bounded by the configuration, not by the number of messages -------------------
    held_bound = MAX_MESSAGES + PRODUCERS + (CONSUMERS + 1) * PREFETCH
    assert sampler.peak_held <= held_bound, (sampler.peak_held, held_bound)
    frame_size = len(frame_bytes("SEND", [("destination", QUEUE)], body_of(PRODUCERS, PER_PRODUCER)))
    per_message = 4 * frame_size  # the body, its headers, the broker's objects: generously
    connections = PRODUCERS + CONSUMERS + 2  # a dying consumer and its successor overlap
    per_connection = WRITE_BUFFER_HIGH + 2 * 256 * KIB  # unsent output, a read on each side
    bound = held_bound * per_message + connections * per_connection + 8 * MIB  # + allocator slack
    growth = sampler.peak_rss - baseline
    print(
        f"kills {ledger.kills} ({ledger.killed_holding} holding messages), deliveries read {ledger.deliveries}, "
        f"uncertain ACKs the broker took {ledger.taken_uncertain}, queue {figures}, "
        f"peak held {sampler.peak_held} (bound {held_bound}), "
        f"RSS growth {growth / MIB:.1f} MiB (bound {bound / MIB:.1f} MiB)"
    )
    assert growth < bound, (
        f"RSS grew by {growth / MIB:.1f} MiB (bound {bound / MIB:.1f} MiB; "
        f"{TOTAL} messages would be {TOTAL * frame_size / MIB:.1f} MiB of frames alone)"
    )
