"""CONNECT: version negotiation, CONNECTED headers, hosts, credentials, pipelining, DISCONNECT."""

from __future__ import annotations

import pytest

from xtomp_testing import frame_bytes


@pytest.mark.parametrize(
    "accept, expected",
    [(None, b"1.0"), ("1.0", b"1.0"), ("1.1", b"1.1"), ("1.2", b"1.2"), ("1.0,1.1", b"1.1"),
     ("1.1,1.0,1.2", b"1.2"), ("1.2,9.9", b"1.2")],
)
def test_version_negotiation(raw_client, accept, expected):
    client = raw_client()
    headers = {"host": "localhost"}
    if accept is not None:
        headers["accept-version"] = accept
    client.send_frame("CONNECT", headers)
    connected = client.expect("CONNECTED")
    assert connected.headers[b"version"] == expected


@pytest.mark.parametrize("command", ["CONNECT", "STOMP"])
def test_connected_headers(raw_client, command):
    client = raw_client()
    client.send_frame(command, {"accept-version": "1.2", "host": "localhost"})
    connected = client.expect("CONNECTED")
    assert connected.headers[b"server"].startswith(b"xtomp/")
    assert connected.headers[b"session"].isdigit()
    assert connected.headers[b"heart-beat"] == b"0,0"
    assert set(connected.headers) == {b"version", b"server", b"session", b"heart-beat"}


def test_session_ids_are_unique(raw_client):
    ids = set()
    for _ in range(5):
        ids.add(raw_client().connect().headers[b"session"])
    assert len(ids) == 5


@pytest.mark.parametrize("host", [None, "localhost", "/", "broker.example.com", "vhost-a"])
def test_any_host_is_accepted_without_virtual_hosts(raw_client, host):
    client = raw_client()
    headers = {"accept-version": "1.2"}
    if host is not None:
        headers["host"] = host
    client.send_frame("CONNECT", headers)
    client.expect("CONNECTED")


def test_virtual_hosts_when_configured(xtomp_factory, raw_client):
    broker = xtomp_factory('[server]\nvirtual_hosts = ["/", "prod"]\n')
    raw_client(broker).connect(host="prod")
    raw_client(broker).connect(host="/")
    client = raw_client(broker)
    client.send_frame("CONNECT", {"accept-version": "1.2", "host": "test"})
    client.expect_error("unknown virtual host")


def test_connect_headers_are_not_unescaped(xtomp_factory, raw_client):
    broker = xtomp_factory('[server]\nlogin = "a\\\\cb"\npasscode = "p:q"\n')
    client = raw_client(broker)
    # CONNECT is never escaped: the bytes backslash-c are the login itself
    client.send(b"CONNECT\naccept-version:1.2\nlogin:a\\cb\npasscode:p:q\n\n\x00")
    client.expect("CONNECTED")


class TestCredentials:
    CONFIG = '[server]\nlogin = "guest"\npasscode = "s3cret"\n'

    def test_right_credentials(self, xtomp_factory, raw_client):
        broker = xtomp_factory(self.CONFIG)
        raw_client(broker).connect(login="guest", passcode="s3cret")

    @pytest.mark.parametrize("login, passcode", [("guest", "wrong"), ("other", "s3cret"), (None, None), ("guest", None)])
    def test_wrong_credentials(self, xtomp_factory, raw_client, login, passcode):
        broker = xtomp_factory(self.CONFIG)
        client = raw_client(broker)
        headers = {"accept-version": "1.2"}
        if login is not None:
            headers["login"] = login
        if passcode is not None:
            headers["passcode"] = passcode
        client.send_frame("CONNECT", headers)
        client.expect_error("auth err")

    def test_stomp_py_login(self, xtomp_factory, stomp_py):
        broker = xtomp_factory(self.CONFIG)
        connection, _ = stomp_py(broker)
        connection.connect("guest", "s3cret", wait=True)
        assert connection.is_connected()


def test_frames_pipelined_with_connect_are_processed(raw_client):
    sub = raw_client()
    sub.connect()
    sub.subscribe("/topic/pipe")
    client = raw_client()
    client.send(
        frame_bytes("CONNECT", {"accept-version": "1.2"})
        + frame_bytes("SEND", {"destination": "/topic/pipe"}, "one")
        + frame_bytes("SEND", {"destination": "/topic/pipe", "receipt": "done"}, "two")
    )
    client.expect("CONNECTED")
    client.expect_receipt("done")
    assert [m.body for m in sub.messages(2)] == [b"one", b"two"]


def test_disconnect_receipt_then_close(raw_client):
    client = raw_client()
    client.connect()
    client.send_frame("DISCONNECT", {"receipt": "bye"})
    client.expect_receipt("bye")
    client.expect_closed()


def test_disconnect_without_receipt_closes(raw_client):
    client = raw_client()
    client.connect()
    client.send_frame("DISCONNECT")
    client.expect_closed()


def test_disconnect_before_connect_closes(raw_client):
    client = raw_client()
    client.send_frame("DISCONNECT")
    client.expect_closed()


def test_disconnect_unsubscribes(xtomp, raw_client):
    client = raw_client()
    client.connect()
    client.subscribe("/topic/leave")
    client.send_frame("DISCONNECT", {"receipt": "bye"})
    client.expect_receipt("bye")
    client.expect_closed()
    destination = xtomp.broker.destinations[b"/topic/leave"]
    assert xtomp.call(lambda: destination.subscriber_count) == 0
    assert xtomp.call(lambda: len(xtomp.broker.sessions)) == 0


def test_heart_beat_header_answer(xtomp_factory, raw_client):
    broker = xtomp_factory('[server]\nheart_beat_read = "5s"\nheart_beat_write_min = "2s"\nheart_beat_write_max = "9s"\n')
    cases = {"0,0": b"0,0", "1000,1000": b"2000,5000", "10000,10000": b"9000,10000", "0,3000": b"3000,0"}
    for offered, answered in cases.items():
        client = raw_client(broker)
        assert client.connect(heart_beat=offered).headers[b"heart-beat"] == answered


@pytest.mark.parametrize("value", ["abc", "1000", "1,x", "-1,5", ""])
def test_invalid_heart_beat_header(raw_client, value):
    client = raw_client()
    client.send_frame("CONNECT", {"accept-version": "1.2", "heart-beat": value})
    client.expect_error("ecg err")
