"""Queues with real client libraries: stomp.py (acks, NACK redelivery, request/reply over a
temporary queue) and stompman (auto and client-individual acks, a nack)."""

from __future__ import annotations

import asyncio
import time

import stomp


def poll(condition, timeout: float = 5.0) -> None:
    """Wait for something other threads change (the Recorder's waits only see its own frames)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_stomp_py_competing_consumers_with_client_individual_acks(broker, stomp_py):
    received: dict[str, list[str]] = {"0": [], "1": []}

    class Acking(stomp.ConnectionListener):
        def __init__(self, connection, name):
            self.connection, self.name = connection, name

        def on_message(self, frame):
            received[self.name].append(frame.body)
            self.connection.ack(frame.headers["ack"])

    for name in received:
        connection, _ = stomp_py(broker)
        connection.set_listener("acking", Acking(connection, name))
        connection.connect(wait=True)
        connection.subscribe("/queue/orders", id=name, ack="client-individual", headers={"prefetch-count": "2"})
    producer, seen = stomp_py(broker)
    producer.connect(wait=True)
    for index in range(20):
        producer.send("/queue/orders", f"order {index}")
    producer.send("/topic/sync", "", receipt="sent")
    seen.wait_for(lambda: "sent" in seen.receipts)
    poll(lambda: len(received["0"]) + len(received["1"]) == 20)
    assert sorted(received["0"] + received["1"]) == sorted(f"order {i}" for i in range(20))
    assert received["0"] and received["1"]  # shared between them, not broadcast
    poll(lambda: broker.stats()["queues"]["acked"] == 20)  # the last ACKs may still be on their way
    figures = next(d for d in broker.stats()["destinations"] if d["dest"] == "/queue/orders")
    assert (figures["acked"], figures["q"], figures["in_flight"]) == (20, 0, 0)


def test_stomp_py_nack_is_redelivered(broker, stomp_py):
    consumer, seen = stomp_py(broker)
    consumer.connect(wait=True)
    consumer.subscribe("/queue/retry", id="r", ack="client-individual")
    consumer.send("/queue/retry", "again")
    first = seen.wait_messages(1)[0]
    assert first.headers["redelivered"] == "false"  # as RabbitMQ and Artemis say on a first delivery
    consumer.nack(first.headers["ack"], receipt="nacked")
    seen.wait_for(lambda: "nacked" in seen.receipts and len(seen.messages) == 2)
    second = seen.messages[1]
    assert second.body == "again" and second.headers["redelivered"] == "true"
    consumer.ack(second.headers["ack"])


def test_stomp_py_nack_requeue_false_dead_letters_at_once(queues, stomp_py):
    """stomp.py's ``nack(id, requeue=False)`` sends ``requeue:False``: booleans are read case-insensitively."""
    broker = queues(queue_settings='dead_letter = "/queue/DLQ"\n')
    consumer, seen = stomp_py(broker)
    consumer.connect(wait=True)
    consumer.subscribe("/queue/poison", id="p", ack="client-individual")
    consumer.subscribe("/queue/DLQ", id="dlq")
    consumer.send("/queue/poison", "bad")
    first = seen.wait_messages(1)[0]
    consumer.nack(first.headers["ack"], requeue=False, receipt="nacked")
    seen.wait_for(lambda: "nacked" in seen.receipts and len(seen.messages) == 2)
    letter = seen.messages[1]
    assert letter.body == "bad" and letter.headers["subscription"] == "dlq"  # not redelivered to "p"
    assert letter.headers["x-dead-letter-reason"] == "rejected"
    time.sleep(0.1)
    assert len(seen.messages) == 2


def test_stomp_py_request_reply_over_a_temporary_queue(broker, stomp_py):
    worker, work = stomp_py(broker)
    worker.connect(wait=True)

    class Replier(stomp.ConnectionListener):
        def on_message(self, frame):
            worker.send(frame.headers["reply-to"], frame.body.upper())

    worker.set_listener("replier", Replier())
    worker.subscribe("/queue/rpc", id="w")
    client, replies = stomp_py(broker)
    client.connect(wait=True)
    client.send("/queue/rpc", "hello", headers={"reply-to": "/temp-queue/rpc-replies"})
    reply = replies.wait_messages(1)[0]
    assert reply.body == "HELLO"
    assert reply.headers["subscription"] == "/temp-queue/rpc-replies"
    assert reply.headers["destination"].startswith("/reply-queue/")


def test_stompman_auto_and_client_individual_acks_and_a_nack(broker):
    import stompman

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        auto_bodies: list[bytes] = []
        acked_bodies: list[bytes] = []
        auto_done, acked_done = asyncio.Event(), asyncio.Event()
        nacked_once: list[bytes] = []

        async def on_auto(frame: stompman.MessageFrame) -> None:
            auto_bodies.append(frame.body)
            if len(auto_bodies) == 3:
                auto_done.set()

        async def on_acked(frame: stompman.MessageFrame) -> None:
            if frame.body == b"b" and not nacked_once:
                nacked_once.append(frame.body)
                raise RuntimeError("refused once: stompman NACKs it")
            acked_bodies.append(frame.body)
            if len(acked_bodies) == 3:
                acked_done.set()

        parameters = stompman.ConnectionParameters(host=broker.host, port=broker.port, login="", passcode="")
        async with stompman.Client(servers=[parameters], connect_timeout=5) as client:
            auto = await client.subscribe(
                "/queue/stompman-auto", handler=on_auto, ack="auto", on_suppressed_exception=print,
                receipt_timeout=5,
            )
            # stompman ACKs after the handler returns and NACKs when it raises.
            acked = await client.subscribe(
                "/queue/stompman-acked", handler=on_acked, ack="client-individual",
                on_suppressed_exception=lambda *_: None, receipt_timeout=5,
            )
            for body in (b"1", b"2", b"3"):
                await client.send(body, destination="/queue/stompman-auto", receipt_timeout=5)
            for body in (b"a", b"b", b"c"):
                await client.send(body, destination="/queue/stompman-acked", receipt_timeout=5)
            await asyncio.wait_for(auto_done.wait(), 5)
            await asyncio.wait_for(acked_done.wait(), 5)
            await auto.unsubscribe()
            await acked.unsubscribe()
        return auto_bodies, acked_bodies

    auto_bodies, acked_bodies = asyncio.run(scenario())
    assert auto_bodies == [b"1", b"2", b"3"]
    assert sorted(acked_bodies) == [b"a", b"b", b"c"]  # "b" came back after its NACK
    figures = next(d for d in broker.stats()["destinations"] if d["dest"] == "/queue/stompman-acked")
    assert (figures["acked"], figures["nacked"], figures["redelivered"], figures["in_flight"]) == (3, 1, 1, 0)

