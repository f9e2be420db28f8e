"""The opening handshake over real sockets: paths, subprotocols and the version cap, Origin, bad requests, /health_check.

Every refusal runs while a WebSocket subscriber and a TCP subscriber are connected; both must
still get a message published after it.
"""

from __future__ import annotations

import socket

import pytest
from wsraw import WsClient, still_served, wait_until


@pytest.fixture
def broker(ws_broker):
    return ws_broker('websockets_origin = ["https://App.example.com", "http://localhost:8080/"]',
                     server='timeout = "2s"\nlinger = "300ms"')


@pytest.fixture
def bystanders(broker, ws_client, raw_client):
    web = ws_client(broker)
    web.handshake()
    web.connect()
    web.subscribe("/topic/calm")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.subscribe("/topic/calm", id="calm")
    return web, tcp


# -- subprotocols and the STOMP version they allow ------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen", "version"),
    [
        (("v10.stomp", "v11.stomp", "v12.stomp"), "v12.stomp", "1.2"),  # @stomp/stompjs, webstomp-client
        (("v12.stomp", "v11.stomp", "v10.stomp"), "v12.stomp", "1.2"),
        (("v11.stomp", "v10.stomp"), "v11.stomp", "1.1"),
        (("v10.stomp",), "v10.stomp", "1.0"),
        (("mqtt", "v11.stomp"), "v11.stomp", "1.1"),
        (("stomp",), "stomp", "1.2"),  # xtomp's own
        ((), None, "1.2"),  # stomp.py, Spring: no subprotocol at all
    ],
)
def test_the_highest_stomp_subprotocol_wins_and_caps_the_version(broker, ws_client, offered, chosen, version):
    client = ws_client(broker)
    response = client.handshake(protocols=offered)
    assert response.headers.get("sec-websocket-protocol") == chosen
    assert response.headers["server"].startswith("xtomp/")
    assert client.connect("1.0,1.1,1.2").headers[b"version"] == version.encode()


def test_a_version_above_the_subprotocol_is_refused(broker, ws_client):
    client = ws_client(broker)
    client.handshake(protocols=["v11.stomp"])
    client.send_stomp("CONNECT", {"accept-version": "1.2", "host": "localhost"})
    error = client.expect("ERROR")
    assert b"speaks 1.0 and 1.1 on this connection" in error.headers[b"message"]
    client.expect_close(1000)


def test_only_unknown_subprotocols_get_400(broker, ws_client, bystanders):
    client = ws_client(broker)
    response = client.handshake(protocols=["mqtt", "wamp.2.json"], expect=400)
    assert b"no STOMP subprotocol among mqtt, wamp.2.json" in response.body
    client.expect_eof()
    still_served(broker, *bystanders)


# -- paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws", "/stomp", "/xtomp", "/ws?token=abc"])  # /xtomp: xtomp-console
def test_default_paths(broker, ws_client, path):
    client = ws_client(broker)
    client.handshake(path=path)
    client.connect()


def test_other_paths_get_404(broker, ws_client, bystanders):
    client = ws_client(broker)
    response = client.handshake(path="/other", expect=404)
    assert b"/ws" in response.body and b"/stomp" in response.body and b"/xtomp" in response.body
    client.expect_eof()
    still_served(broker, *bystanders)


def test_the_listen_url_path_and_star(ws_broker, ws_client):
    broker = ws_broker('paths = []', listen='"ws://127.0.0.1:0/only"')
    ws_client(broker).handshake(path="/only")
    ws_client(broker).handshake(path="/ws", expect=404)
    anywhere = ws_broker('paths = ["*"]', listen='"ws://127.0.0.1:0"')
    ws_client(anywhere).handshake(path="/console/xtomp")


# -- Origin -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://app.example.com", "HTTPS://APP.EXAMPLE.COM", "http://localhost:8080", None])
def test_listed_origins_and_no_origin_are_accepted(broker, ws_client, origin):
    client = ws_client(broker)
    client.handshake(origin=origin)
    client.connect()


def test_an_unlisted_origin_gets_403(broker, ws_client, bystanders):
    client = ws_client(broker)
    response = client.handshake(origin="https://evil.example.net", expect=403)
    assert b"https://evil.example.net is not allowed" in response.body
    client.expect_eof()
    still_served(broker, *bystanders)


def test_without_an_allow_list_any_origin_is_accepted(ws_broker, ws_client):
    broker = ws_broker()  # xtomp refused every Origin when websockets_origin was unset
    ws_client(broker).handshake(origin="https://anywhere.example.org")


# -- bad handshakes ---------------------------------------------------------------------------------

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(path="/ws", method="GET", protocol="HTTP/1.1", drop=(), add=()):
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "v12.stomp",
    }
    for name in drop:
        headers.pop(name)
    headers.update(add)
    lines = [f"{method} {path} {protocol}"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


BAD_HANDSHAKES = [
    ("missing-key", request(drop=["Sec-WebSocket-Key"]), 400, "Sec-WebSocket-Key"),
    ("short-key", request(add={"Sec-WebSocket-Key": "c2hvcnQ="}), 400, "Sec-WebSocket-Key"),
    ("missing-version", request(drop=["Sec-WebSocket-Version"]), 400, "Sec-WebSocket-Version"),
    ("wrong-version", request(add={"Sec-WebSocket-Version": "8"}), 426, "this server speaks 13"),
    ("no-upgrade", request(drop=["Upgrade"]), 426, "Upgrade"),
    ("plain-get", request(drop=["Upgrade", "Connection", "Sec-WebSocket-Key"]), 426, "Connection"),
    ("upgrade-to-h2c", request(add={"Upgrade": "h2c"}), 426, "Upgrade"),
    ("post", request(method="POST"), 405, "POST"),
    ("http-1.0", request(protocol="HTTP/1.0"), 505, "HTTP/1.0"),
    ("missing-host", request(drop=["Host"]), 400, "Host"),
    ("not-http", b"HELLO\r\n\r\n", 400, "not a valid HTTP request"),
    ("long-request-line", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "no more than 8192 bytes"),
]


@pytest.mark.parametrize(("raw", "status", "says"), [case[1:] for case in BAD_HANDSHAKES],
                         ids=[case[0] for case in BAD_HANDSHAKES])
def test_bad_handshakes_get_the_right_status(broker, ws_client, bystanders, raw, status, says):
    client = ws_client(broker)
    response = client.request(raw)
    assert response.status == status, response
    assert says.encode() in response.body, response
    if status == 426 and says.startswith("this server"):
        assert response.headers["sec-websocket-version"] == "13"
    client.expect_eof()
    still_served(broker, *bystanders)


def test_a_silent_connection_is_closed_after_timeout(ws_broker, ws_client):
    broker = ws_broker(server='timeout = "300ms"')
    client = ws_client(broker)
    client.expect_eof(timeout=3)


def test_handshake_and_first_frames_in_one_packet(broker):
    """The client may pipeline its CONNECT right behind the handshake (xtomp lost those bytes)."""
    from wsraw import TEXT, encode_frame

    from xtomp_testing import frame_bytes

    with WsClient(*broker.addresses("ws")[0]) as client:
        connect = encode_frame(TEXT, frame_bytes("CONNECT", {"accept-version": "1.2", "host": "localhost"}))
        response = client.request(request() + connect)
        assert response.status == 101
        assert client.expect("CONNECTED").headers[b"version"] == b"1.2"


# -- /health_check ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health_check", "/health_check?from=console"])
def test_health_check_answers_200(broker, path):
    with socket.create_connection(broker.addresses("ws")[0], timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Access-Control-Allow-Origin: *" in head and b"Server: xtomp/" in head
    assert body == b"ok\n"


def test_health_check_with_the_stdlib(broker):
    import urllib.request

    host, port = broker.addresses("ws")[0]
    with urllib.request.urlopen(f"http://{host}:{port}/health_check", timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b"ok\n"


def test_health_checks_and_refusals_do_not_leak_sessions(broker, ws_client):
    for _ in range(3):
        test_health_check_answers_200(broker, "/health_check")
        ws_client(broker).handshake(path="/nope", expect=404)
    wait_until(lambda: broker.stats()["cc"]["sz"] == 0)
