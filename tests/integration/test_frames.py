"""SEND/SUBSCRIBE/UNSUBSCRIBE/ACK/NACK, receipts and transactions over real sockets."""

from __future__ import annotations

import pytest

from xtomp_testing import frame_bytes


@pytest.fixture
def pair(raw_client):
    subscriber = raw_client()
    subscriber.connect()
    publisher = raw_client()
    publisher.connect()
    return subscriber, publisher


def test_user_headers_pass_through_in_order(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/h")
    publisher.send_frame(
        "SEND",
        [("destination", "/topic/h"), ("zeta", "1"), ("content-type", "text/plain"), ("alpha", "2"), ("alpha", "ignored")],
        "body",
    )
    message = subscriber.expect("MESSAGE")
    assert list(message.headers) == [
        b"subscription", b"destination", b"message-id", b"zeta", b"content-type", b"alpha", b"content-length"
    ]
    assert message.headers[b"alpha"] == b"2"
    assert message.headers[b"content-length"] == b"4"


def test_broker_headers_are_not_forwarded(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/h")
    publisher.send_frame("BEGIN", {"transaction": "t"})
    publisher.send_frame(
        "SEND",
        {"destination": "/topic/h", "receipt": "r", "transaction": "t", "message-id": "fake", "subscription": "x", "ack": "y"},
        "b",
    )
    publisher.expect_receipt("r")
    publisher.send_frame("COMMIT", {"transaction": "t"})
    message = subscriber.expect("MESSAGE")
    assert message.headers[b"message-id"] != b"fake"
    assert message.headers[b"subscription"] == b"0"
    for name in (b"receipt", b"transaction", b"ack"):
        assert name not in message.headers


def test_escaped_headers_round_trip_between_versions(raw_client):
    subscribers = {}
    for version in ("1.0", "1.1", "1.2"):
        client = raw_client()
        client.connect(version)
        client.subscribe("/topic/esc", id=f"id:{version}")
        subscribers[version] = client
    publisher = raw_client()
    publisher.connect("1.2")
    publisher.send(b"SEND\ndestination:/topic/esc\nkey\\cname:line\\nbreak\\\\colon\\c\nplain:a\\cb\\\\c\n\nx\x00")
    for version, client in subscribers.items():
        message = client.expect("MESSAGE")
        # 1.0 has no escaping: values are sent raw, so a colon or backslash passes as it is
        assert message.headers[b"plain"] == b"a:b\\c"
        if version != "1.0":
            assert message.headers[b"key:name"] == b"line\nbreak\\colon:"
            assert message.headers[b"subscription"] == f"id:{version}".encode()


def test_binary_body_with_nuls_and_utf8(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/bin")
    body = b"\x00\x01\x00" + "héllo wörld €".encode() + b"\x00"
    publisher.send_frame("SEND", {"destination": "/topic/bin", "content-length": str(len(body))}, body)
    message = subscriber.expect("MESSAGE")
    assert message.body == body
    assert message.headers[b"content-length"] == str(len(body)).encode()


def test_empty_body_with_content_length_zero(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/empty")
    publisher.send(b"SEND\ndestination:/topic/empty\ncontent-length:0\n\n\x00")
    assert subscriber.expect("MESSAGE").body == b""


def test_message_ids_unique_across_destinations(raw_client):
    subscriber = raw_client()
    subscriber.connect()
    subscriber.subscribe("/topic/a", id="a")
    subscriber.subscribe("/topic/b", id="b")
    publisher = raw_client()
    publisher.connect()
    for index in range(10):
        publisher.send_frame("SEND", {"destination": f"/topic/{'ab'[index % 2]}"}, str(index))
    ids = [m.headers[b"message-id"] for m in subscriber.messages(10)]
    assert len(set(ids)) == 10


def test_string_subscription_ids_and_multiple_subscriptions(raw_client):
    client = raw_client()
    client.connect()
    client.subscribe("/topic/m", id="sub-0")
    client.subscribe("/topic/m", id="sub-1")
    client.send_frame("SEND", {"destination": "/topic/m"}, "x")
    got = sorted(m.headers[b"subscription"] for m in client.messages(2))
    assert got == [b"sub-0", b"sub-1"]


def test_unsubscribe_stops_delivery(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/u", id="s1")
    subscriber.send_frame("UNSUBSCRIBE", {"id": "s1", "receipt": "gone"})
    subscriber.expect_receipt("gone")
    publisher.send_frame("SEND", {"destination": "/topic/u", "receipt": "r"}, "x")
    publisher.expect_receipt("r")
    subscriber.expect_nothing()


def test_stomp10_subscribe_without_id_and_unsubscribe_by_destination(raw_client):
    client = raw_client()
    client.connect("1.0")
    client.send_frame("SUBSCRIBE", {"destination": "/topic/old", "receipt": "s"})
    client.expect_receipt("s")
    client.send_frame("SEND", {"destination": "/topic/old"}, "x")
    assert client.expect("MESSAGE").headers[b"subscription"] == b"/topic/old"
    client.send_frame("UNSUBSCRIBE", {"destination": "/topic/old", "receipt": "u"})
    client.expect_receipt("u")


def test_nothing_is_stored_without_subscribers(xtomp, pair):
    subscriber, publisher = pair
    publisher.send_frame("SEND", {"destination": "/topic/void", "receipt": "r"}, "lost")
    publisher.expect_receipt("r")
    subscriber.subscribe("/topic/void")
    subscriber.expect_nothing()
    stats = xtomp.stats()
    void = next(d for d in stats["destinations"] if d["dest"] == "/topic/void")
    assert void["Σ"] == 1 and void["q"] == 0


@pytest.mark.parametrize("mode", ["client", "client-individual"])
def test_topic_client_ack_modes(pair, mode):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/ack", id="s", ack=mode)
    publisher.send_frame("SEND", {"destination": "/topic/ack"}, "x")
    message = subscriber.expect("MESSAGE")
    ack = message.headers[b"ack"]
    assert ack == b"s." + message.headers[b"message-id"]
    subscriber.send_frame("ACK", {"id": ack.decode(), "receipt": "a"})
    subscriber.expect_receipt("a")
    subscriber.send_frame("NACK", {"id": ack.decode(), "receipt": "n"})
    subscriber.expect_receipt("n")


def test_auto_mode_has_no_ack_header(pair):
    subscriber, publisher = pair
    subscriber.subscribe("/topic/auto")
    publisher.send_frame("SEND", {"destination": "/topic/auto"}, "x")
    assert b"ack" not in subscriber.expect("MESSAGE").headers


def test_stomp11_ack_by_message_id_and_subscription(raw_client):
    client = raw_client()
    client.connect("1.1")
    client.subscribe("/topic/a11", id="s", ack="client")
    client.send_frame("SEND", {"destination": "/topic/a11"}, "x")
    message = client.expect("MESSAGE")
    client.send_frame("ACK", {"message-id": message.headers[b"message-id"].decode(), "subscription": "s", "receipt": "a"})
    client.expect_receipt("a")


def test_stomp10_ack_by_message_id_alone(raw_client):
    client = raw_client()
    client.connect("1.0")
    client.subscribe("/topic/a10", id="s", ack="client")
    client.send_frame("SEND", {"destination": "/topic/a10"}, "x")
    message = client.expect("MESSAGE")
    client.send_frame("ACK", {"message-id": message.headers[b"message-id"].decode(), "receipt": "a"})
    client.expect_receipt("a")


class TestReceipts:
    @pytest.mark.parametrize(
        "command, headers",
        [
            ("SEND", {"destination": "/topic/r"}),
            ("SUBSCRIBE", {"destination": "/topic/r", "id": "1"}),
            ("BEGIN", {"transaction": "t"}),
        ],
    )
    def test_receipt_for_every_frame(self, raw_client, command, headers):
        client = raw_client()
        client.connect()
        client.send_frame(command, {**headers, "receipt": "yes"})
        client.expect_receipt("yes")

    def test_receipts_for_a_sequence_in_order(self, raw_client):
        client = raw_client()
        client.connect()
        data = b"".join(
            [
                frame_bytes("SUBSCRIBE", {"destination": "/topic/seq", "id": "1", "receipt": "1"}),
                frame_bytes("BEGIN", {"transaction": "t", "receipt": "2"}),
                frame_bytes("SEND", {"destination": "/topic/seq", "transaction": "t", "receipt": "3"}, "x"),
                frame_bytes("COMMIT", {"transaction": "t", "receipt": "4"}),
                frame_bytes("UNSUBSCRIBE", {"id": "1", "receipt": "5"}),
            ]
        )
        client.send(data)
        seen = []
        while len(seen) < 6:
            frame = client.recv()
            seen.append(frame.headers.get(b"receipt-id", frame.command))
        # the MESSAGE produced by COMMIT is written before COMMIT's receipt
        assert seen == [b"1", b"2", b"3", b"MESSAGE", b"4", b"5"]

    def test_receipt_id_is_escaped_back(self, raw_client):
        client = raw_client()
        client.connect("1.2")
        client.send(b"BEGIN\ntransaction:t\nreceipt:a\\cb\\nc\n\n\x00")
        assert client.expect("RECEIPT").headers[b"receipt-id"] == b"a:b\nc"


class TestTransactions:
    def test_commit_publishes_in_order(self, pair):
        subscriber, publisher = pair
        subscriber.subscribe("/topic/tx")
        publisher.send_frame("BEGIN", {"transaction": "t1"})
        for body in ("a", "b", "c"):
            publisher.send_frame("SEND", {"destination": "/topic/tx", "transaction": "t1"}, body)
        publisher.send_frame("SEND", {"destination": "/topic/tx", "receipt": "outside"}, "z")
        publisher.expect_receipt("outside")
        assert subscriber.expect("MESSAGE").body == b"z"
        subscriber.expect_nothing()
        publisher.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        publisher.expect_receipt("c")
        assert [m.body for m in subscriber.messages(3)] == [b"a", b"b", b"c"]

    def test_abort_discards(self, pair):
        subscriber, publisher = pair
        subscriber.subscribe("/topic/tx")
        publisher.send_frame("BEGIN", {"transaction": "t1"})
        publisher.send_frame("SEND", {"destination": "/topic/tx", "transaction": "t1"}, "a")
        publisher.send_frame("ABORT", {"transaction": "t1", "receipt": "ab"})
        publisher.expect_receipt("ab")
        subscriber.expect_nothing()
        # the transaction id is free again
        publisher.send_frame("BEGIN", {"transaction": "t1", "receipt": "again"})
        publisher.expect_receipt("again")

    def test_disconnect_aborts_open_transactions(self, pair, raw_client):
        subscriber, publisher = pair
        subscriber.subscribe("/topic/tx")
        publisher.send_frame("BEGIN", {"transaction": "t1"})
        publisher.send_frame("SEND", {"destination": "/topic/tx", "transaction": "t1"}, "a")
        publisher.send_frame("DISCONNECT", {"receipt": "bye"})
        publisher.expect_receipt("bye")
        subscriber.expect_nothing()

    def test_two_transactions_interleaved(self, pair):
        subscriber, publisher = pair
        subscriber.subscribe("/topic/tx")
        publisher.send_frame("BEGIN", {"transaction": "a"})
        publisher.send_frame("BEGIN", {"transaction": "b"})
        publisher.send_frame("SEND", {"destination": "/topic/tx", "transaction": "a"}, "a1")
        publisher.send_frame("SEND", {"destination": "/topic/tx", "transaction": "b"}, "b1")
        publisher.send_frame("COMMIT", {"transaction": "b"})
        publisher.send_frame("ABORT", {"transaction": "a", "receipt": "r"})
        publisher.expect_receipt("r")
        assert [m.body for m in subscriber.messages(1)] == [b"b1"]
        subscriber.expect_nothing()

    @pytest.mark.parametrize(
        ("headers", "body", "error"),
        [
            ({"destination": "/topic/small"}, "x" * 11, "msg flup"),
            ({}, "x", "SEND needs a destination header"),
            ({"destination": "/queue/none"}, "x", "no destination '/queue/none' is configured"),
        ],
        ids=["too-big", "no-destination", "no-such-destination"],
    )
    def test_a_send_that_would_fail_at_commit_is_refused_when_sent(self, xtomp_factory, raw_client, headers, body,
                                                                   error):
        """Otherwise COMMIT would deliver the frames before it and then fail: half a transaction."""
        broker = xtomp_factory('[destinations."/topic/small"]\ntype = "topic"\nmax_message_size = 10\n')
        subscriber = raw_client(broker)
        subscriber.connect()
        subscriber.subscribe("/topic/small")
        publisher = raw_client(broker)
        publisher.connect()
        publisher.send_frame("BEGIN", {"transaction": "t"})
        publisher.send_frame("SEND", {"destination": "/topic/small", "transaction": "t"}, "fits")
        publisher.send_frame("SEND", {**headers, "transaction": "t", "receipt": "bad"}, body)
        refused = publisher.expect_error(error)
        assert refused.headers[b"receipt-id"] == b"bad"
        subscriber.expect_nothing()  # the transaction ended with its connection, nothing of it out

    def test_send_to_unknown_transaction(self, raw_client):
        client = raw_client()
        client.connect()
        client.send_frame("SEND", {"destination": "/topic/x", "transaction": "nope", "receipt": "r"}, "x")
        error = client.expect_error("no open transaction")
        assert error.headers[b"receipt-id"] == b"r"

    def test_duplicate_begin(self, raw_client):
        client = raw_client()
        client.connect()
        client.send_frame("BEGIN", {"transaction": "t"})
        client.send_frame("BEGIN", {"transaction": "t"})
        client.expect_error("already begun")

    def test_begin_needs_transaction_header(self, raw_client):
        client = raw_client()
        client.connect()
        client.send_frame("BEGIN", {"receipt": "r"})
        client.expect_error("needs a transaction header")

    def test_limits(self, xtomp_factory, raw_client):
        broker = xtomp_factory("[server]\nmax_transactions = 2\nmax_transaction_frames = 3\n")
        client = raw_client(broker)
        client.connect()
        for name in ("a", "b"):
            client.send_frame("BEGIN", {"transaction": name})
        client.send_frame("BEGIN", {"transaction": "c"})
        client.expect_error("max_transactions")
        client = raw_client(broker)
        client.connect()
        client.send_frame("BEGIN", {"transaction": "a"})
        for _ in range(4):
            client.send_frame("SEND", {"destination": "/topic/x", "transaction": "a"}, "x")
        client.expect_error("max_transaction_frames")


class TestLimits:
    def test_max_subscriptions(self, xtomp_factory, raw_client):
        broker = xtomp_factory("[server]\nmax_subscriptions = 2\n")
        client = raw_client(broker)
        client.connect()
        client.subscribe("/topic/a", id="1")
        client.subscribe("/topic/a", id="2")
        client.send_frame("SUBSCRIBE", {"destination": "/topic/a", "id": "3"})
        client.expect_error("subs flup")

    def test_max_connections_per_destination(self, xtomp_factory, raw_client):
        broker = xtomp_factory('[destinations."small"]\nmax_connections = 1\n')
        client = raw_client(broker)
        client.connect()
        client.subscribe("small", id="1")
        other = raw_client(broker)
        other.connect()
        other.send_frame("SUBSCRIBE", {"destination": "small", "id": "1"})
        other.expect_error("dest flup")

    def test_max_message_size(self, xtomp_factory, raw_client):
        broker = xtomp_factory('[destinations."small"]\nmax_message_size = 10\n')
        client = raw_client(broker)
        client.connect()
        client.send_frame("SEND", {"destination": "small", "receipt": "ok"}, "x" * 10)
        client.expect_receipt("ok")
        client.send_frame("SEND", {"destination": "small"}, "x" * 11)
        client.expect_error("msg flup")

    def test_max_destinations_purges_idle_auto_created(self, xtomp_factory, raw_client):
        broker = xtomp_factory("[server]\nmax_destinations = 3\n")
        client = raw_client(broker)
        client.connect()
        client.subscribe("/topic/kept", id="k")
        for index in range(10):
            client.send_frame("SEND", {"destination": f"/topic/t{index}", "receipt": str(index)}, "x")
            client.expect_receipt(str(index))
        names = broker.call(lambda: set(broker.broker.destinations))
        assert b"/topic/kept" in names and len(names) <= 3

    def test_max_destinations_refuses_when_nothing_is_idle(self, xtomp_factory, raw_client):
        broker = xtomp_factory("[server]\nmax_destinations = 2\n")
        client = raw_client(broker)
        client.connect()
        client.subscribe("/topic/a", id="a")
        client.subscribe("/topic/b", id="b")
        client.send_frame("SUBSCRIBE", {"destination": "/topic/c", "id": "c"})
        client.expect_error("max_destinations")


class TestWebBlocks:
    CONFIG = '[destinations."ro"]\nweb_write_block = true\n[destinations."wo"]\nweb_read_block = true\n'

    def test_tcp_sessions_are_not_web(self, xtomp_factory, raw_client):
        broker = xtomp_factory(self.CONFIG)
        client = raw_client(broker)
        client.connect()
        client.subscribe("wo")
        client.send_frame("SEND", {"destination": "ro", "receipt": "r"}, "x")
        client.expect_receipt("r")
