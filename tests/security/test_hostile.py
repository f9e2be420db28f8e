"""Hostile clients, one at a time: oversize frames before authentication, a client that never
reads but keeps asking for receipts, connection floods (global and per address), slowloris and
header floods. Each case also checks that a well-behaved client is still served."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from xtomp_testing import RawClient, frame_bytes, wait_until

HOSTILE = """
[server]
timeout = "2s"
frame_timeout = "1s"
max_frame_size_unauthenticated = "2k"
max_frame_size = "64k"
max_headers = 50
write_buffer_high = "16k"
write_buffer_max = "64k"
connection_limit_per_address = 4
"""


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(HOSTILE)


def still_served(broker) -> None:
    with RawClient(broker.host, broker.port) as subscriber, RawClient(broker.host, broker.port) as publisher:
        subscriber.connect()
        subscriber.subscribe("/topic/calm")
        publisher.connect()
        publisher.send_frame("SEND", {"destination": "/topic/calm"}, "calm")
        assert subscriber.expect("MESSAGE").body == b"calm"


def sessions(broker) -> int:
    return broker.call(lambda: len(broker.broker.sessions))


# -- frame size before authentication --------------------------------------------------------------


def test_oversize_frame_before_connect(broker, raw_client):
    client = raw_client(broker)
    client.send(frame_bytes("CONNECT", {"accept-version": "1.2", "x-padding": "p" * 3000}))
    client.expect_error("max_frame_size (2048 bytes)")
    still_served(broker)


def test_oversize_frame_pipelined_behind_connect_is_allowed_once_connected(broker, raw_client):
    client = raw_client(broker)
    big = "b" * 30_000
    client.send(
        frame_bytes("CONNECT", {"accept-version": "1.2"})
        + frame_bytes("SUBSCRIBE", {"destination": "/topic/big", "id": "1"})
        + frame_bytes("SEND", {"destination": "/topic/big"}, big)
    )
    client.expect("CONNECTED")
    assert client.expect("MESSAGE").body == big.encode()


def test_oversize_frame_after_connect_still_limited(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.send(frame_bytes("SEND", {"destination": "/topic/big"}, "b" * 70_000))
    client.expect_error("max_frame_size (65536 bytes)")


# -- a client that never reads --------------------------------------------------------------------


@pytest.mark.parametrize("use_uvloop", [True, False], ids=["uvloop", "asyncio"])
def test_receipt_spammer_that_never_reads_is_closed(xtomp_factory, caplog, use_uvloop):
    broker = xtomp_factory(HOSTILE, use_uvloop=use_uvloop)
    spammer = socket.socket()
    spammer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    spammer.connect((broker.host, broker.port))
    spammer.sendall(frame_bytes("CONNECT", {"accept-version": "1.2"}))
    wait_until(lambda: sessions(broker) == 1)
    frame = frame_bytes("SEND", {"destination": "/topic/nobody", "receipt": "r" * 4000}, "x")
    sent = 0
    closed = False
    with caplog.at_level(logging.WARNING, logger="xtomp.connection"):
        try:
            while sent < 40_000_000:  # far more than the kernel buffers hold
                spammer.sendall(frame * 50)
                sent += len(frame) * 50
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        wait_until(lambda: sessions(broker) == 0)
    spammer.close()
    assert closed, "the broker kept reading from a client whose receipts piled up"
    assert "more than write_buffer_max (65536 bytes) unsent" in caplog.text
    still_served(broker)


def test_slow_reader_below_the_cap_is_kept(broker, raw_client):
    """Receipts that fit under write_buffer_max are fine, however slowly they are read."""
    client = raw_client(broker)
    client.connect()
    for index in range(20):
        client.send_frame("SEND", {"destination": "/topic/nobody", "receipt": f"r{index}"}, "x")
    # the broker has read all 20 (and queued their receipts) before any is read here
    wait_until(lambda: broker.stats()["broker"]["frames_in"] >= 21)
    for index in range(20):
        client.expect_receipt(f"r{index}")


# -- connection floods ----------------------------------------------------------------------------


def test_connection_cap_per_address(broker, caplog):
    with caplog.at_level(logging.WARNING, logger="xtomp.server"):
        admitted = [RawClient(broker.host, broker.port, source="127.0.0.5") for _ in range(4)]
        for client in admitted:
            client.connect()
        refused = [RawClient(broker.host, broker.port, source="127.0.0.5") for _ in range(5)]
        for client in refused:
            client.expect_closed()  # closed at once, before anything was read
        other = RawClient(broker.host, broker.port, source="127.0.0.6")
        other.connect()  # another address is not affected
        admitted.pop().close()
        wait_until(lambda: broker.call(lambda: broker.broker.admission.by_address.get("127.0.0.5")) == 3)
        again = RawClient(broker.host, broker.port, source="127.0.0.5")
        again.connect()  # room again
    assert caplog.text.count("refusing connections from 127.0.0.5") == 1  # logged once, not per refusal
    assert broker.call(lambda: broker.broker.admission.refused) == 5
    assert broker.stats()["security"] == {
        "connections": 5, "refused_connections": 5, "refused_logins": 0, "failing_addresses": 0,
    }
    for client in admitted + refused + [other, again]:
        client.close()
    still_served(broker)


def test_global_connection_cap(xtomp_factory):
    broker = xtomp_factory("[server]\nconnection_limit = 3\n")
    clients = [RawClient(broker.host, broker.port, source=f"127.0.0.{10 + i}") for i in range(3)]
    for client in clients:
        client.connect()
    with RawClient(broker.host, broker.port, source="127.0.0.20") as late:
        late.expect_closed()
    clients.pop().close()
    wait_until(lambda: broker.call(lambda: broker.broker.admission.total) == 2)
    with RawClient(broker.host, broker.port) as now:
        now.connect()
    for client in clients:
        client.close()


def test_default_connection_limit_follows_the_open_file_limit(xtomp):
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert xtomp.broker.admission.limit == soft - 64
    assert xtomp.broker.admission.per_address == 1000


def test_default_connection_limit_follows_a_lowered_open_file_limit():
    """Read with os.sysconf (no resource module in an idle broker): a process whose soft
    limit was lowered gets a lower default."""
    import subprocess
    import sys

    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (1000, resource.getrlimit("
        "resource.RLIMIT_NOFILE)[1])); del sys.modules['resource']; "
        "from xtomp_core.security.admission import default_connection_limit; "
        "print(default_connection_limit(), 'resource' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["936", "False"]


def dribble(client: RawClient, data: bytes, pause: float) -> int:
    """Send ``data`` one byte at a time until it is all sent or the broker answers; return
    how many bytes were sent."""
    for index in range(len(data)):
        try:
            client.send(data[index : index + 1])
        except (BrokenPipeError, ConnectionResetError):
            return index
        client._read(pause)
        if client.frames or client.eof:
            return index + 1
    return len(data)


# -- slowloris ------------------------------------------------------------------------------------


def test_slowloris_is_cut_off(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    started = time.monotonic()
    frame = b"SEND\ndestination:/topic/x\n\n" + b"body" * 20  # 6 s or more at 5 bytes a second
    sent = dribble(client, frame, pause=0.2)
    error = client.expect("ERROR", timeout=3)
    assert "frame_timeout (1s)" in error.headers[b"message"].decode()
    assert time.monotonic() - started >= 1.0 - 0.01  # not before frame_timeout (uvloop's clock: whole ms) ...
    assert sent < len(frame)  # ... and while the client was still sending
    still_served(broker)


def test_slowloris_before_connect_is_cut_off_too(broker, raw_client):
    client = raw_client(broker)
    dribble(client, b"CONNECT\naccept-version:1.2\n" * 10, pause=0.05)
    error = client.expect("ERROR", timeout=3)
    assert "frame_timeout" in error.headers[b"message"].decode()


def test_each_frame_gets_its_own_time(broker, raw_client):
    """Several frames, each taking most of frame_timeout, pass: the clock restarts per frame."""
    client = raw_client(broker)
    client.connect()
    client.subscribe("/topic/slow")
    for index in range(3):
        client.send_in_pieces(frame_bytes("SEND", {"destination": "/topic/slow"}, f"m{index}"), 8, pause=0.12)
    assert [m.body for m in client.messages(3, timeout=3)] == [b"m0", b"m1", b"m2"]
    # a partial frame arriving right after a complete one in the same read is timed from there
    client.send(frame_bytes("SEND", {"destination": "/topic/slow"}, "m3") + b"SEND\ndestinat")
    assert client.expect("MESSAGE").body == b"m3"
    error = client.expect("ERROR", timeout=3)
    assert b"frame_timeout" in error.headers[b"message"]


def test_no_frame_timer_at_idle(broker, raw_client):
    """Nor the state that times it: it exists only while a partial frame does."""
    client = raw_client(broker)
    client.connect()
    client.send(b"SEND\ndestination:/topic/x\n")  # a partial frame arms the timer ...
    links = lambda: [s.link for s in broker.broker.sessions]  # noqa: E731
    armed = lambda: broker.call(lambda: [link._frame_clock is not None for link in links()])  # noqa: E731
    wait_until(lambda: armed() == [True])
    client.send(b"\nrest\x00\n\n\n")  # ... completing it (and heart-beat EOLs) disarms it
    wait_until(lambda: broker.stats()["broker"]["frames_in"] >= 2)  # CONNECT, SEND
    assert armed() == [False]


# -- header floods --------------------------------------------------------------------------------


def test_header_flood_after_connect(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    flood = b"SEND\ndestination:/topic/x\n" + b"h:v\n" * 200_000
    try:
        client.send(flood)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the broker stopped reading it at max_headers
    client.expect_error("too many headers (max_headers is 50)")
    still_served(broker)


def test_header_flood_before_connect(broker, raw_client):
    client = raw_client(broker)
    try:
        client.send(b"CONNECT\naccept-version:1.2\n" + b"h:" + b"v" * 100 + b"\n" * 10_000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    client.expect_error("max_frame_size (2048 bytes)")
    still_served(broker)
