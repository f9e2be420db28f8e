"""Real client libraries against the real broker: stomp.py (1.0, 1.1, 1.2) and stompman."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_stomp_py_pub_sub_receipts(stomp_py, version):
    subscriber, received = stomp_py(version=version)
    subscriber.connect(wait=True)
    subscriber.subscribe("/topic/clients", id="s1", ack="auto")
    publisher, publisher_events = stomp_py(version=version)
    publisher.connect(wait=True)
    for index in range(20):
        publisher.send("/topic/clients", f"message {index}", headers={"index": str(index)}, receipt=f"r{index}")
    publisher_events.wait_for(lambda: len(publisher_events.receipts) == 20)
    messages = received.wait_messages(20)
    assert [m.body for m in messages] == [f"message {i}" for i in range(20)]
    assert [m.headers["index"] for m in messages] == [str(i) for i in range(20)]
    subscriber.disconnect()  # stomp.py waits for the DISCONNECT receipt
    publisher.disconnect()


def test_stomp_py_client_individual_ack_and_transactions(stomp_py):
    connection, recorder = stomp_py(version="1.2")
    connection.connect(wait=True)
    connection.subscribe("/topic/tx", id="s", ack="client-individual")
    transaction = connection.begin()
    connection.send("/topic/tx", "in tx", transaction=transaction)
    connection.commit(transaction)
    [message] = recorder.wait_messages(1)
    assert message.body == "in tx"
    connection.ack(message.headers["ack"], receipt="acked")
    recorder.wait_for(lambda: "acked" in recorder.receipts)
    connection.nack(message.headers["ack"], receipt="nacked")
    recorder.wait_for(lambda: "nacked" in recorder.receipts)
    assert recorder.errors == []


def test_stomp_py_sees_error_frame(stomp_py):
    connection, recorder = stomp_py(version="1.2")
    connection.connect(wait=True)
    connection.send("/nowhere", "x")
    recorder.wait_for(lambda: recorder.errors)
    assert "destination unknown" in recorder.errors[0].headers["message"]
    recorder.disconnected.wait(5)
    assert recorder.disconnected.is_set()


def test_stomp_py_heart_beats(xtomp_factory, stomp_py):
    """Both ways: stomp.py hears the broker's beats, and its own keep it connected for longer
    than the broker lets a silent client live (1.5 x 200 ms, checked every 100 ms)."""
    broker = xtomp_factory('[server]\nheart_beat_read = "200ms"\nheart_beat_write_min = "200ms"\n')
    connection, recorder = stomp_py(broker, heartbeats=(200, 200))
    connection.connect(wait=True)
    connection.subscribe("/topic/hb", id="s")
    # the broker beats every 100 ms while idle, so 10 beats span at least 0.9 s of silence
    # apart from stomp.py's own beats: more than twice what the broker allows a silent client
    recorder.wait_for(lambda: recorder.heartbeats >= 10 or recorder.disconnected.is_set())
    assert not recorder.disconnected.is_set()
    assert broker.call(lambda: len(broker.broker.sessions)) == 1
    connection.send("/topic/hb", "alive")
    recorder.wait_messages(1)
    assert recorder.heartbeat_timeouts == 0
    assert connection.is_connected()


def test_stompman_round_trip(xtomp):
    import stompman

    async def scenario() -> list[bytes]:
        received: list[bytes] = []
        done = asyncio.Event()

        async def handle(frame: stompman.MessageFrame) -> None:
            received.append(frame.body)
            if len(received) == 6:  # m0..m4, then the transaction's message
                done.set()

        parameters = stompman.ConnectionParameters(host=xtomp.host, port=xtomp.port, login="", passcode="")
        async with stompman.Client(servers=[parameters], connect_timeout=5) as client:
            subscription = await client.subscribe(
                "/topic/stompman", handler=handle, on_suppressed_exception=print, receipt_timeout=5
            )
            for index in range(5):
                await client.send(f"m{index}".encode(), destination="/topic/stompman", receipt_timeout=5)
            async with client.begin() as transaction:
                await transaction.send(b"tx", destination="/topic/stompman")
            await asyncio.wait_for(done.wait(), 5)
            await subscription.unsubscribe()
        return received

    assert asyncio.run(scenario()) == [f"m{i}".encode() for i in range(5)] + [b"tx"]
