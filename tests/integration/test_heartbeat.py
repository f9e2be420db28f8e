"""Heart-beats: EOLs from the broker when due, silent clients closed, no timers when off."""

from __future__ import annotations

import time

import pytest

FAST = '[server]\nheart_beat_read = "200ms"\nheart_beat_write_min = "100ms"\nheart_beat_write_max = "1s"\n'


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(FAST)


def test_broker_sends_eols_when_idle(broker, raw_client):
    client = raw_client(broker)
    assert client.connect(heart_beat="0,200").headers[b"heart-beat"] == b"200,0"
    start = len(client.received)
    client.expect_nothing(1.0)
    beats = client.received[start:]
    assert set(beats) == {ord("\n")}
    assert 3 <= len(beats) <= 8  # every ~200 ms over one second


def test_no_beats_while_traffic_flows(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="0,300")
    client.subscribe("/topic/busy")
    publisher = raw_client(broker)
    publisher.connect()
    start = len(client.received)
    for index in range(10):
        publisher.send_frame("SEND", {"destination": "/topic/busy"}, str(index))
        time.sleep(0.05)
    client.messages(10)
    during = bytes(client.received[start:])
    assert during.count(b"MESSAGE") == 10
    assert b"\x00\n" not in during and not during.startswith(b"\n")  # no EOL between frames


def test_silent_client_is_closed_with_grace(broker, raw_client):
    client = raw_client(broker)
    assert client.connect(heart_beat="200,0").headers[b"heart-beat"] == b"0,200"
    started = time.monotonic()
    client.expect_closed(timeout=3)
    silent_for = time.monotonic() - started
    assert 0.25 <= silent_for <= 1.0  # grace 1.5: closed between 1.5x and 2x the interval


@pytest.mark.parametrize("beat", [b"\n", b"\r\n"])
def test_client_beats_keep_the_connection(broker, raw_client, beat):
    client = raw_client(broker)
    client.connect(heart_beat="200,0")
    for _ in range(8):
        client.send(beat)
        time.sleep(0.1)
    client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "receipt": "alive"})
    client.expect_receipt("alive")


def test_any_frame_counts_as_a_beat(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="200,0")
    for index in range(8):
        client.send_frame("SEND", {"destination": "/topic/x"}, str(index))
        time.sleep(0.1)
    client.send_frame("BEGIN", {"transaction": "t", "receipt": "alive"})
    client.expect_receipt("alive")


def test_no_timers_without_heart_beats(broker, raw_client):
    client = raw_client(broker)
    client.connect(heart_beat="0,0")
    client.subscribe("/topic/idle")

    def timers() -> list[object]:
        [session] = list(broker.broker.sessions)
        link = session.link
        return [link._read_timer, link._write_timer]

    assert broker.call(timers) == [None, None]
    client.expect_nothing(0.5)
    assert client.received.endswith(b"\x00")  # no EOL after the last frame


def test_heart_beats_disabled_by_config(xtomp_factory, raw_client):
    broker = xtomp_factory('[server]\nheart_beat_read = "0"\nheart_beat_write_max = "0"\n')
    client = raw_client(broker)
    assert client.connect(heart_beat="1000,1000").headers[b"heart-beat"] == b"0,0"
