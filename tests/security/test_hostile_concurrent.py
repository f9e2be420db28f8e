"""Every bad-input case of the foundation issue and every hostile client at once, while a
well-behaved stomp.py publisher and subscriber work through it: they must lose nothing, get
everything in order, and stay connected.

Each hostile client connects from its own loopback address (127.0.1.x, 127.0.2.x), as if
from other machines, so per-address limits (connections, failed logins) bite the attackers
and not the well-behaved pair on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Callable

import pytest

from tests.integration.test_bad_input import CASES

from xtomp_core.security.passwords import hash_password
from xtomp_testing import RawClient, frame_bytes, stomp_py_connection, wait_until

MESSAGES = 600
GOOD = hash_password("good-pw", cost=4)
HOSTILE = hash_password("hostile-pw", cost=4)

CONFIG = f"""
[server]
timeout = "1s"
linger = "300ms"
frame_timeout = "1s"
max_frame_size = "8k"
max_frame_size_unauthenticated = "2k"
max_headers = 10
max_header_length = "1k"
write_buffer_high = "256k"
write_buffer_max = "512k"
connection_limit_per_address = 20
auth_failure_delay = "200ms"
auth_max_failures = 3

[users.good]
password = "{GOOD}"

[users.hostile]
password = "{HOSTILE}"
"""


def bad_input_case(broker, source: str, data: bytes | None, expected: str, receipt: str | None) -> None:
    with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
        if data is None:
            client.send(b"SEND\ndestination:/topic/x\n\nx\x00")
        else:
            client.connect(login="hostile", passcode="hostile-pw")
            client.send(data)
        frame = client.recv()
        while frame.command == b"RECEIPT":
            frame = client.recv()
        assert frame.command == b"ERROR", frame
        assert expected in frame.headers[b"message"].decode(), frame
        assert frame.headers.get(b"receipt-id") == (receipt.encode() if receipt else None)
        client.expect_closed()


def disconnect_mid_body(broker, source: str) -> None:
    for data in (b"SEND\ndestination:/topic/calm\ncontent-length:1000\n\npartial",
                 b"SEND\ndestination:/topic/calm\n\nno nul yet"):
        client = RawClient(broker.host, broker.port, timeout=10, source=source)
        client.connect(login="hostile", passcode="hostile-pw")
        client.send(data)
        client.close()


def silent_client(broker, source: str) -> None:
    with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
        client.expect_error("no CONNECT within 1s")


def slowloris(broker, source: str) -> None:
    with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
        client.connect(login="hostile", passcode="hostile-pw")
        for byte in b"SEND\ndestination:/topic/calm\n\n" + b"x" * 100:
            try:
                client.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            client._read(0.1)
            if client.frames or client.eof:
                break
        error = client.expect("ERROR")
        assert b"frame_timeout" in error.headers[b"message"]


def header_flood(broker, source: str) -> None:
    with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
        client.connect(login="hostile", passcode="hostile-pw")
        try:
            client.send(b"SEND\ndestination:/topic/calm\n" + b"h:v\n" * 200_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        message = client.expect_error().headers[b"message"]
        assert b"too many headers" in message or b"max_frame_size" in message  # whichever limit bites first


def receipt_spammer(broker, source: str) -> None:
    spammer = socket.socket()
    spammer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    spammer.bind((source, 0))
    spammer.connect((broker.host, broker.port))
    spammer.sendall(frame_bytes("CONNECT", {"accept-version": "1.2", "login": "hostile", "passcode": "hostile-pw"}))
    frame = frame_bytes("SEND", {"destination": "/topic/void", "receipt": "r" * 900}, "x")
    try:
        for _ in range(20_000):  # about 20 MB: far beyond the kernel buffers and write_buffer_max
            spammer.sendall(frame * 10)
        raise AssertionError("the broker never closed the receipt spammer")
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        spammer.close()


def connection_flood(broker, source: str) -> None:
    clients = [RawClient(broker.host, broker.port, timeout=10, source=source) for _ in range(40)]
    try:
        outcomes = []
        for client in clients:  # 20 admitted then closed by the connect timeout; 20 closed at once
            client._read(3.0)
            outcomes.append(b"no CONNECT" in client.received)
        assert outcomes.count(True) == 20 and outcomes.count(False) == 20, outcomes
    finally:
        for client in clients:
            client.close()


def oversize_unauthenticated(broker, source: str) -> None:
    with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
        client.send(frame_bytes("CONNECT", {"accept-version": "1.2", "login": "hostile", "x-pad": "p" * 3000}))
        client.expect_error("max_frame_size (2048 bytes)")


def password_guesser(broker, source: str) -> None:
    answers = []
    for passcode in ("a", "b", "c", "d", "hostile-pw"):
        with RawClient(broker.host, broker.port, timeout=10, source=source) as client:
            client.send(frame_bytes("CONNECT", {"accept-version": "1.2", "login": "hostile", "passcode": passcode}))
            answers.append(client.expect_error("auth err").headers[b"message"].decode())
    assert answers[:3] == ["auth err - wrong login or passcode"] * 3
    assert all("too many failed logins" in answer for answer in answers[3:])  # even the right password


@pytest.mark.parametrize("use_uvloop", [True, False], ids=["uvloop", "asyncio"])
def test_hostile_storm_does_not_disturb_a_well_behaved_pair(xtomp_factory, use_uvloop):
    broker = xtomp_factory(CONFIG, use_uvloop=use_uvloop)
    subscriber, heard = stomp_py_connection(broker.host, broker.port, heartbeats=(0, 0))
    publisher, publisher_heard = stomp_py_connection(broker.host, broker.port)
    subscriber.connect("good", "good-pw", wait=True)
    publisher.connect("good", "good-pw", wait=True)
    subscriber.subscribe("/topic/calm", id="calm", headers={"receipt": "subscribed"})
    heard.wait_for(lambda: "subscribed" in heard.receipts)

    attacks: list[tuple[str, Callable[[], None]]] = []
    for index, (name, data, expected, receipt) in enumerate(CASES):
        source = f"127.0.1.{index + 1}"
        attacks.append((name, lambda s=source, d=data, e=expected, r=receipt: bad_input_case(broker, s, d, e, r)))
    hostile: list[tuple[str, Callable[..., None]]] = [
        ("disconnect-mid-body", disconnect_mid_body),
        ("silent-client", silent_client),
        ("slowloris", slowloris),
        ("header-flood", header_flood),
        ("receipt-spammer", receipt_spammer),
        ("connection-flood", connection_flood),
        ("oversize-unauthenticated", oversize_unauthenticated),
        ("password-guesser", password_guesser),
    ]
    for index, (name, attack) in enumerate(hostile):
        attacks.append((name, lambda a=attack, s=f"127.0.2.{index + 1}": a(broker, s)))

    failures: list[str] = []

    def run(name: str, attack: Callable[[], None]) -> None:
        try:
            attack()
        except BaseException:
            failures.append(f"{name}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=run, args=attack, name=attack[0]) for attack in attacks]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    for sequence in range(MESSAGES):  # published all through the storm
        publisher.send("/topic/calm", f"message {sequence}", headers={"seq": str(sequence)})
        time.sleep(0.005)
    publisher.send("/topic/calm", "last", headers={"seq": "last", "receipt": "all-sent"})
    publishing = time.monotonic() - started
    for thread in threads:
        thread.join(30)
    assert not [thread.name for thread in threads if thread.is_alive()], "an attack did not finish"
    assert not failures, "\n".join(failures)

    publisher_heard.wait_for(lambda: "all-sent" in publisher_heard.receipts, timeout=10)
    heard.wait_messages(MESSAGES + 1, timeout=10)
    bodies = [message.body for message in heard.messages]
    assert bodies == [f"message {sequence}" for sequence in range(MESSAGES)] + ["last"]
    assert heard.errors == [] and publisher_heard.errors == []
    assert subscriber.is_connected() and publisher.is_connected()
    assert not heard.disconnected.is_set() and not publisher_heard.disconnected.is_set()
    print(f"{len(attacks)} attacks while publishing {MESSAGES} messages in {publishing:.1f}s")
    # the broker is back to just the two good sessions
    wait_until(lambda: broker.call(lambda: len(broker.broker.sessions)) == 2)
    assert broker.call(lambda: sorted(s.login or "-" for s in broker.broker.sessions)) == ["good", "good"]
    subscriber.disconnect()
    publisher.disconnect()
