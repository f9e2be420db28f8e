"""Bad input from one client gets a precise ERROR (or a clean close) and never disturbs others.

Every case runs while a well-behaved subscriber is connected; after the bad client is dealt
with, a message published by a third client must still reach that subscriber.
"""

from __future__ import annotations

import itertools

import pytest

from xtomp_testing import RawClient, frame_bytes

LIMITS = """
[server]
max_frame_size = "8k"
max_headers = 10
max_header_length = "1k"
timeout = "300ms"
linger = "500ms"
"""

_sequence = itertools.count()


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(LIMITS)


@pytest.fixture
def bystander(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.subscribe("/topic/calm", id="calm")
    return client


def still_served(broker, bystander: RawClient) -> None:
    body = f"still here {next(_sequence)}"
    with RawClient(broker.host, broker.port) as publisher:
        publisher.connect()
        publisher.send_frame("SEND", {"destination": "/topic/calm", "receipt": "ok"}, body)
        publisher.expect_receipt("ok")
    assert bystander.expect("MESSAGE").body == body.encode()


CONNECT = frame_bytes("CONNECT", {"accept-version": "1.2", "host": "localhost"})

# (case id, bytes after CONNECT (or None: sent before CONNECT), expected ERROR text, receipt-id)
CASES = [
    ("garbage", b"\x01\x02\xffgarbage\n\n\x00", "unknown command", None),
    ("unknown-command", b"FROB\nreceipt:r\n\n\x00", "unknown command", None),
    ("lower-case-command", b"send\ndestination:/topic/x\n\nx\x00", "unknown command", None),
    ("server-command", b"MESSAGE\ndestination:/topic/x\n\n\x00", "unknown command", None),
    ("oversize-content-length", b"SEND\ndestination:/topic/x\ncontent-length:100000\n\n", "max_frame_size", None),
    ("oversize-nul-body", b"SEND\ndestination:/topic/x\n\n" + b"x" * 9000, "max_frame_size", None),
    ("too-many-headers", b"SEND\ndestination:/topic/x\n" + b"".join(b"h%d:v\n" % i for i in range(11)) + b"\nx\x00",
     "too many headers", None),
    ("long-header-line", b"SEND\ndestination:/topic/x\nh:" + b"v" * 2000 + b"\n\nx\x00", "max_header_length", None),
    ("header-without-colon", b"SEND\ndestination:/topic/x\nnocolon\n\nx\x00", "without a colon", None),
    ("invalid-escape", b"SEND\ndestination:/topic/x\nh:a\\tb\n\nx\x00", "invalid escape", None),
    ("content-length-without-nul", b"SEND\ndestination:/topic/x\ncontent-length:2\n\nabc\x00", "no NUL", None),
    ("invalid-content-length", b"SEND\ndestination:/topic/x\ncontent-length:two\n\nab\x00", "invalid content-length", None),
    ("body-on-subscribe", b"SUBSCRIBE\ndestination:/topic/x\nid:1\n\nbody\x00", "must not have a body", None),
    ("send-without-destination", b"SEND\nreceipt:r1\n\nx\x00", "needs a destination", "r1"),
    ("send-unknown-destination", b"SEND\ndestination:/nowhere\nreceipt:r2\n\nx\x00", "destination unknown", "r2"),
    ("subscribe-without-id", b"SUBSCRIBE\ndestination:/topic/x\nreceipt:r3\n\n\x00", "needs an id", "r3"),
    ("duplicate-subscription-id",
     b"SUBSCRIBE\ndestination:/topic/x\nid:a\n\n\x00SUBSCRIBE\ndestination:/topic/y\nid:a\nreceipt:r4\n\n\x00",
     "duplicate subscription id", "r4"),
    ("unsubscribe-unknown-id", b"UNSUBSCRIBE\nid:nope\nreceipt:r5\n\n\x00", "no subscription with id", "r5"),
    ("invalid-ack-mode", b"SUBSCRIBE\ndestination:/topic/x\nid:1\nack:sometimes\n\n\x00", "invalid ack mode", None),
    ("selector-without-filters-plugin", b"SUBSCRIBE\ndestination:/topic/x\nid:1\nselector:a = 'b'\n\n\x00",
     "filters plugin (xtomp-filters) is not enabled", None),
    ("second-connect", CONNECT, "already connected", None),
    ("commit-unknown-transaction", b"COMMIT\ntransaction:t\nreceipt:r6\n\n\x00", "no open transaction", "r6"),
    ("ack-unknown", b"ACK\nid:zzz\n\n\x00", "not a message this broker sent", None),
    ("frame-before-connect", None, "not connected", None),
]


@pytest.mark.parametrize("name, data, expected, receipt", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_error_and_others_are_served(broker, bystander, raw_client, name, data, expected, receipt):
    client = raw_client(broker)
    if data is None:
        client.send(b"SEND\ndestination:/topic/x\n\nx\x00")
    else:
        client.connect()
        client.send(data)
    while True:  # a case may legitimately produce RECEIPTs before its ERROR
        frame = client.recv()
        if frame.command != b"RECEIPT":
            break
    assert frame.command == b"ERROR", frame
    assert expected in frame.headers[b"message"].decode()
    assert frame.headers.get(b"receipt-id") == (receipt.encode() if receipt else None)
    client.expect_closed()
    still_served(broker, bystander)


@pytest.mark.parametrize("piece", [1, 7])
def test_bad_input_in_pieces(broker, bystander, raw_client, piece):
    client = raw_client(broker)
    client.connect()
    client.send_in_pieces(b"SEND\ndestination:/topic/x\nnocolon\n\nx\x00", piece)
    client.expect_error("without a colon")
    still_served(broker, bystander)


def test_error_text_is_escaped_and_receipt_echoed(broker, raw_client):
    client = raw_client(broker)
    client.connect("1.2")
    client.send(b"SUBSCRIBE\ndestination:/topic/x\nreceipt:a\\cb\n\n\x00")
    error = client.expect("ERROR")
    assert error.headers[b"receipt-id"] == b"a:b"
    client.expect_closed()


def test_disconnect_in_the_middle_of_a_body(broker, bystander):
    client = RawClient(broker.host, broker.port)
    client.connect()
    client.send(b"SEND\ndestination:/topic/calm\ncontent-length:1000\n\npartial")
    client.close()
    client = RawClient(broker.host, broker.port)
    client.connect()
    client.send(b"SEND\ndestination:/topic/calm\n\nno nul yet")
    client.close()
    still_served(broker, bystander)
    assert bystander.frames == []


def test_silent_client_is_closed_after_timeout(broker, bystander, raw_client):
    client = raw_client(broker)
    client.expect_error("no CONNECT within 0.3s", timeout=3)
    still_served(broker, bystander)


def test_partial_connect_is_closed_after_timeout(broker, raw_client):
    client = raw_client(broker)
    client.send(b"CONNECT\naccept-version:1.2\n")
    client.expect_error("no CONNECT", timeout=3)


def test_version_mismatch(broker, bystander, raw_client):
    client = raw_client(broker)
    client.send(frame_bytes("CONNECT", {"accept-version": "2.0,3.1"}))
    error = client.expect("ERROR")
    assert error.headers[b"version"] == b"1.0,1.1,1.2"
    assert b"2.0,3.1" in error.headers[b"message"]
    assert b"1.2" in error.body
    client.expect_closed()
    still_served(broker, bystander)


def test_internal_error_text_never_reaches_client(xtomp_factory, raw_client):
    from xtomp_core import Destination, hookimpl

    class Exploding(Destination):
        __slots__ = ()

        def publish(self, message, sender):
            raise RuntimeError("secret internal detail /etc/passwd")

    class Plugin:
        @hookimpl
        def xtomp_register_destination_types(self, registry):
            registry.register("exploding", Exploding)

    broker = xtomp_factory(
        '[plugins.boom]\n[destinations."bomb"]\ntype = "exploding"\n', plugins=[("boom", Plugin())]
    )
    client = raw_client(broker)
    client.connect()
    client.send(b"SEND\ndestination:bomb\nreceipt:x\n\nboom\x00")
    error = client.expect_error("internal error")
    assert b"secret" not in error.headers[b"message"]
    assert error.headers[b"receipt-id"] == b"x"
    # the broker is unharmed
    other = raw_client(broker)
    other.connect()
