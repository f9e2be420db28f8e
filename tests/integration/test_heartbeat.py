"""Heart-beats: EOLs from the broker when due, silent clients closed, no timers when off."""

from __future__ import annotations

import time

import pytest

from xtomp_testing import wait_until

FAST = '[server]\nheart_beat_read = "200ms"\nheart_beat_write_min = "100ms"\nheart_beat_write_max = "1s"\n'


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(FAST)


def test_broker_sends_eols_when_idle(broker, raw_client):
    """Each connection at the interval it asked for: in the time a connection asking for
    800 ms got two beats, one asking for 200 ms got about four times as many."""
    fast, slow = raw_client(broker), raw_client(broker)
    assert fast.connect(heart_beat="0,200").headers[b"heart-beat"] == b"200,0"
    assert slow.connect(heart_beat="0,800").headers[b"heart-beat"] == b"800,0"
    fast_start, slow_start = len(fast.received), len(slow.received)

    def slow_beats() -> int:
        fast.expect_nothing(0.01)
        slow.expect_nothing(0.01)
        return len(slow.received) - slow_start

    wait_until(lambda: slow_beats() >= 2, what="two beats at 800 ms")
    fast.expect_nothing(0)
    beats, slow_ones = fast.received[fast_start:], slow.received[slow_start:]
    assert set(beats) == set(slow_ones) == {ord("\n")}
    assert len(beats) >= 2 * len(slow_ones)


def test_no_beats_while_traffic_flows(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="0,300")
    client.subscribe("/topic/busy")
    publisher = raw_client(broker)
    publisher.connect()
    start = len(client.received)
    sent_at = []
    for index in range(20):  # a MESSAGE every 30 ms, five times as often as the broker checks
        publisher.send_frame("SEND", {"destination": "/topic/busy"}, str(index))
        sent_at.append(time.monotonic())
        time.sleep(0.03)
    client.messages(20)
    during = bytes(client.received[start:])
    assert during.count(b"MESSAGE") == 20
    if max(b - a for a, b in zip(sent_at, sent_at[1:])) < 0.15:  # traffic never paused for half the interval
        assert b"\x00\n" not in during and not during.startswith(b"\n")  # no EOL between frames


def test_silent_client_is_closed_with_grace(broker, raw_client):
    """Closed no sooner than 1.5 read intervals, while a client beating in time stays."""
    beating = raw_client(broker)
    beating.connect(heart_beat="200,0")
    client = raw_client(broker)
    started = time.monotonic()
    assert client.connect(heart_beat="200,0").headers[b"heart-beat"] == b"0,200"
    deadline = started + 5
    while not client.eof:
        assert time.monotonic() < deadline, "the silent client was not closed"
        beating.send(b"\n")
        client.expect_nothing(0.03)
    silent_for = time.monotonic() - started
    client.expect_closed()
    assert silent_for >= 1.5 * 0.2 - 0.01  # never before the grace (uvloop's clock counts whole ms)
    beating.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "receipt": "alive"})
    beating.expect_receipt("alive")


@pytest.mark.parametrize("beat", [b"\n", b"\r\n"])
def test_client_beats_keep_the_connection(broker, raw_client, beat):
    client = raw_client(broker)
    client.connect(heart_beat="200,0")
    for _ in range(16):  # 0.8 s or more, every 50 ms: six times as often as needed
        client.send(beat)
        time.sleep(0.05)
    client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "receipt": "alive"})
    client.expect_receipt("alive")


def test_any_frame_counts_as_a_beat(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="200,0")
    for index in range(16):
        client.send_frame("SEND", {"destination": "/topic/x"}, str(index))
        time.sleep(0.05)
    client.send_frame("BEGIN", {"transaction": "t", "receipt": "alive"})
    client.expect_receipt("alive")


def test_no_timers_without_heart_beats(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="0,0")
    client.subscribe("/topic/idle")

    def timers() -> list[object]:
        [session] = list(broker.broker.sessions)
        link = session.link
        return [link._read_timer, link._beats]  # no timer, and no heart-beat state either

    assert broker.call(timers) == [None, None]
    client.expect_nothing(0.5)
    assert client.received.endswith(b"\x00")  # no EOL after the last frame


def test_heart_beats_disabled_by_config(xtomp_factory, raw_client):
    broker = xtomp_factory('[server]\nheart_beat_read = "0"\nheart_beat_write_max = "0"\n')
    client = raw_client(broker)
    assert client.connect(heart_beat="1000,1000").headers[b"heart-beat"] == b"0,0"


def test_default_floors_honour_what_clients_ask_down_to_one_second(xtomp, raw_client):
    """stompjs asks for 10 s both ways and detects a dead broker only if beats come that often;
    xtomp's floors (60 s out, 120 s in) would have answered 60000,120000 here."""
    cases = {"10000,10000": b"10000,10000", "1000,1000": b"1000,1000", "100,250": b"1000,1000",
             "0,4000": b"4000,0", "0,0": b"0,0"}
    for offered, answered in cases.items():
        client = raw_client(xtomp)
        assert client.connect(heart_beat=offered).headers[b"heart-beat"] == answered


def test_default_config_beats_every_second_when_asked(xtomp, raw_client):
    client = raw_client(xtomp)
    assert client.connect(heart_beat="0,1000").headers[b"heart-beat"] == b"1000,0"
    start = len(client.received)
    started = time.monotonic()
    wait_until(lambda: client.expect_nothing(0.01) or len(client.received) > start, timeout=5, what="a beat")
    assert time.monotonic() - started < 3  # about 1 s (the first check sees CONNECTED go out); was 60 s
    assert client.received[start:] == b"\n"


def test_xtomp_floors_remain_available(xtomp_factory, raw_client):
    """Low-power deployments keep xtomp's 60 s / 120 s floors with two directives."""
    broker = xtomp_factory('[server]\nheart_beat_read = "120s"\nheart_beat_write_min = "60s"\n')
    client = raw_client(broker)
    assert client.connect(heart_beat="1000,1000").headers[b"heart-beat"] == b"60000,120000"


HELD = FAST + """
[plugins.queues]

[destinations."/queue/*"]
type = "queue"
max_messages = 1
when_full = "pause"
"""


def test_a_producer_held_by_flow_control_is_not_closed_for_the_beats_it_cannot_be_read(xtomp_factory, raw_client):
    """While a producer is held (a full queue, a pending receipt) its connection is not read,
    so the beats it sends wait in the socket: a held session is alive, not silent."""
    broker = xtomp_factory(HELD)
    producer = raw_client(broker)
    producer.connect(heart_beat="200,0")
    producer.send_frame("SEND", {"destination": "/queue/held"}, "fits")
    producer.send_frame("SEND", {"destination": "/queue/held"}, "over: holds the producer")
    producer.send_frame("SEND", {"destination": "/queue/held", "receipt": "third"}, "waits")
    for _ in range(16):  # 0.8 s or more held (the grace is 0.3 s), beating every 50 ms
        producer.send(b"\n")
        producer.expect_nothing(0.05)
    assert not producer.eof
    consumer = raw_client(broker)
    consumer.connect()
    consumer.subscribe("/queue/held", id="c")
    assert [frame.body for frame in consumer.messages(3)] == [b"fits", b"over: holds the producer", b"waits"]
    producer.expect_receipt("third")
