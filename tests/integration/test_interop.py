"""Leniency where the clients in the wild differ from the letter of STOMP (issue 17), over real sockets.

Each case is what a real client sends: netcat users type a blank line before ``^@``; some
clients end a frame with two NULs (RabbitMQ and ActiveMQ skip the second). The parser's own
cases are in tests/protocol; here the broker answers them. Refusals name the header that is
missing, in the style of the client's STOMP version.
"""

from __future__ import annotations

import pytest

from xtomp_testing import frame_bytes


def test_netcat_connect_with_a_blank_line_before_the_nul(raw_client):
    client = raw_client()
    client.send(b"CONNECT\naccept-version:1.2\n\n\n\x00")
    connected = client.expect("CONNECTED")
    assert connected.headers[b"version"] == b"1.2"
    client.send(b"SUBSCRIBE\ndestination:/topic/nc\nid:0\nreceipt:s\n\n\r\n\x00")  # typed on Windows
    client.expect_receipt("s")


def test_a_real_body_on_connect_is_still_refused(raw_client):
    client = raw_client()
    client.send(b"CONNECT\naccept-version:1.2\n\nhello\n\x00")
    client.expect_error("syntax - a CONNECT frame must not have a body")


def test_nuls_between_frames_are_skipped(raw_client):
    client = raw_client()
    client.send(b"\x00" + frame_bytes("CONNECT", {"accept-version": "1.2", "host": "localhost"}) + b"\x00\x00")
    client.expect("CONNECTED")
    client.version = 12
    client.subscribe("/topic/nul")
    one = frame_bytes("SEND", {"destination": "/topic/nul"}, "one")
    two = frame_bytes("SEND", {"destination": "/topic/nul", "receipt": "r"}, "two")
    client.send(one + b"\x00\n\x00" + two + b"\x00")
    frames = [client.recv() for _ in range(3)]
    assert sorted((f.command, f.body) for f in frames) == [
        (b"MESSAGE", b"one"), (b"MESSAGE", b"two"), (b"RECEIPT", b"")
    ]
    client.expect_nothing(0.1)


@pytest.mark.parametrize(
    ("version", "command", "headers", "text"),
    [
        ("1.2", "ACK", {}, "ACK needs an id header (the MESSAGE's ack header)"),
        ("1.2", "NACK", {}, "NACK needs an id header (the MESSAGE's ack header)"),
        ("1.1", "ACK", {"subscription": "0"}, "ACK needs a message-id header (the MESSAGE's message-id header)"),
        ("1.0", "NACK", {}, "NACK needs a message-id header"),
        ("1.2", "SUBSCRIBE", {"destination": "/topic/x"}, "SUBSCRIBE needs an id header"),
        ("1.2", "SUBSCRIBE", {"id": "0"}, "destination unknown - SUBSCRIBE needs a destination header"),
        ("1.2", "UNSUBSCRIBE", {"destination": "/topic/x"}, "UNSUBSCRIBE needs an id header (the SUBSCRIBE's id)"),
        ("1.0", "UNSUBSCRIBE", {}, "UNSUBSCRIBE needs an id or a destination header"),
        ("1.2", "SEND", {}, "destination unknown - SEND needs a destination header"),
        ("1.2", "BEGIN", {}, "BEGIN needs a transaction header"),
        ("1.2", "COMMIT", {}, "COMMIT needs a transaction header"),
        ("1.2", "ABORT", {}, "ABORT needs a transaction header"),
    ],
)
def test_refusals_name_the_missing_header(raw_client, version, command, headers, text):
    client = raw_client()
    client.connect(version)
    client.send_frame(command, headers)
    client.expect_error(text)
