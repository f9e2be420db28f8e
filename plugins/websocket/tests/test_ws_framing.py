"""STOMP over WebSocket frames over real sockets: splitting and batching, frame types, heart-beats,
ping/pong, both closing handshakes, bad frames (each with its close code), web blocks, encode-once.
"""

from __future__ import annotations

import select
import struct
import time

import pytest
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, WsClient, encode_frame, still_served, wait_until, ws_config

from xtomp_core import ListenAddress
from xtomp_testing import InMemoryBroker, RawClient, frame_bytes


@pytest.fixture
def broker(ws_broker):
    return ws_broker('max_message_size = "16k"', server='linger = "300ms"\nmax_frame_size = "64k"')


def connected(broker, ws_client, **handshake) -> WsClient:
    client = ws_client(broker)
    client.handshake(**handshake)
    client.connect()
    return client


def calm_pair(broker, ws_client, raw_client):
    """A WebSocket and a TCP subscriber of /topic/calm, for ``still_served`` to check."""
    web = connected(broker, ws_client)
    web.subscribe("/topic/calm")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.subscribe("/topic/calm", id="calm")
    return web, tcp


@pytest.fixture
def bystanders(broker, ws_client, raw_client):
    return calm_pair(broker, ws_client, raw_client)


# -- messages both ways -------------------------------------------------------------------------------


def test_tcp_publisher_to_websocket_subscribers_and_back(broker, ws_client, raw_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/mixed")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.subscribe("/topic/mixed", id="t")
    tcp.send_frame("SEND", {"destination": "/topic/mixed", "k": "a:b"}, "from tcp")
    message = web.expect("MESSAGE")
    assert message.body == b"from tcp" and message.headers[b"k"] == b"a:b"
    assert message.headers[b"subscription"] == b"0"
    web.send_stomp("SEND", {"destination": "/topic/mixed", "receipt": "r"}, "from the web")
    assert web.expect("MESSAGE").body == b"from the web"  # its own subscription first, then the receipt
    web.expect("RECEIPT")
    assert tcp.expect("MESSAGE").body == b"from tcp"
    assert tcp.expect("MESSAGE").body == b"from the web"


@pytest.mark.parametrize("size", [0, 100, 70, 200, 60_000, 70_000])
def test_every_header_length_form(ws_broker, ws_client, size):
    """Payloads below 126, up to 65535 (16-bit length) and above (64-bit length)."""
    broker = ws_broker(server='max_frame_size = "1m"')
    web = connected(broker, ws_client)
    web.subscribe("/topic/sizes")
    body = bytes(65 + index % 26 for index in range(size))
    web.send_stomp("SEND", {"destination": "/topic/sizes"}, body)
    assert web.expect("MESSAGE").body == body


def test_a_stomp_frame_split_over_several_messages(broker, ws_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/split")
    raw = frame_bytes("SEND", {"destination": "/topic/split", "receipt": "r"}, "in pieces", web.version)
    for start in range(0, len(raw), 7):  # a message every 7 bytes, as a chunking client does
        web.send_ws(TEXT, raw[start : start + 7])
    assert web.expect("MESSAGE").body == b"in pieces"
    assert web.expect("RECEIPT").headers[b"receipt-id"] == b"r"


def test_a_stomp_frame_split_over_fragments(broker, ws_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/split")
    raw = frame_bytes("SEND", {"destination": "/topic/split"}, "fragments", web.version)
    web.send_ws(TEXT, raw[:5], fin=False)
    web.send_ws(PING, b"between fragments")  # control frames may come between fragments
    web.send_ws(CONT, raw[5:20], fin=False)
    web.send_ws(CONT, raw[20:], fin=True)
    assert web.expect_control(PONG) == b"between fragments"
    assert web.expect("MESSAGE").body == b"fragments"


def test_several_stomp_frames_in_one_message(broker, ws_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/batch")
    batch = b"".join(
        frame_bytes("SEND", {"destination": "/topic/batch", "receipt": f"r{index}"}, f"m{index}", web.version)
        for index in range(3)
    )
    web.send_ws(TEXT, batch + b"\n")  # with a trailing heart-beat EOL
    replies = [web.recv_stomp() for _ in range(6)]  # each in its own WebSocket message
    assert [frame.command for frame in replies].count(b"RECEIPT") == 3
    assert [frame.body for frame in replies if frame.command == b"MESSAGE"] == [b"m0", b"m1", b"m2"]


def test_binary_frames_from_the_client(broker, ws_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/bin")
    web.send_stomp("SEND", {"destination": "/topic/bin"}, b"\x00\xffbinary", opcode=BINARY)
    opcode, payload = web.recv_ws()
    assert opcode == BINARY and payload.endswith(b"\x00\xffbinary\x00")  # not UTF-8: a binary frame


def test_frame_type_binary(ws_broker, ws_client):
    broker = ws_broker('frame_type = "binary"')
    web = ws_client(broker)
    web.handshake()
    web.send_stomp("CONNECT", {"accept-version": "1.2", "host": "localhost"})
    opcode, payload = web.recv_ws()
    assert opcode == BINARY and payload.startswith(b"CONNECTED\n")


# -- frame type per message ---------------------------------------------------------------------------

#: Bodies and the frame type ``frame_type = "auto"`` gives the MESSAGE carrying each.
MIXED_BODIES = [
    (b"plain ascii", TEXT),
    ("\u00fcn\u00efc\u00f6d\u00e9 \u2713".encode(), TEXT),
    (b"\x00\xff\xfe binary \x80", BINARY),
    (b"\xe2\x9c", BINARY),  # a character cut short
    (b"", TEXT),
    ("\u2713".encode() * 30_000, TEXT),  # 90 KB: checked in 64 KiB pieces, a character across each cut
    ("\u2713".encode() * 30_000 + b"\xc0", BINARY),
    (b"text again", TEXT),
]


def _publish_mixed(tcp, destination: str) -> None:
    tcp.send(b"".join(frame_bytes("SEND", {"destination": destination}, body) for body, _ in MIXED_BODIES))


def test_frame_type_auto_text_or_binary_per_message(ws_broker, ws_client, raw_client):
    """The default: each STOMP frame is a text frame when its bytes are UTF-8, else a binary frame,
    for every subscriber (STOMP 1.0 and 1.2 ones get different tails) and every kind of frame."""
    broker = ws_broker(server='max_frame_size = "1m"')
    subscribers = []
    for protocol in ("v12.stomp", "v10.stomp", "v12.stomp"):
        web = ws_client(broker)
        web.handshake(protocols=[protocol])
        web.connect()
        assert web.last_opcode == TEXT  # CONNECTED
        web.subscribe("/topic/types", id="s:1")  # escaped in 1.2 only
        assert web.last_opcode == TEXT  # RECEIPT
        subscribers.append(web)
    tcp = raw_client(broker)
    tcp.connect()
    _publish_mixed(tcp, "/topic/types")
    for web in subscribers:
        for body, opcode in MIXED_BODIES:
            message = web.expect("MESSAGE")
            assert (message.body, web.last_opcode) == (body, opcode)
            assert message.headers[b"subscription"] == b"s:1"


def test_frame_type_auto_looks_at_headers_and_prefixes_too(ws_broker, ws_client, raw_client):
    """Binary when a header value, the subscription id (the per-subscriber prefix) or a receipt
    id is not UTF-8, though the body is; text when they are UTF-8 but not ASCII."""
    broker = ws_broker()
    web = connected(broker, ws_client)
    web.send(encode_frame(TEXT, b"SUBSCRIBE\ndestination:/topic/ids\nid:\xe2\x9c\nreceipt:a\n\n\x00"))
    web.expect("RECEIPT")
    web.subscribe("/topic/ids", id="\u2713")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.send(b"SEND\ndestination:/topic/ids\nx-raw:\xff\xfe\n\nplain body\x00")
    tcp.send_frame("SEND", {"destination": "/topic/ids", "x-text": "\u00e9t\u00e9"}, "plain body")
    got = {}
    for _ in range(4):
        message = web.expect("MESSAGE")
        got[(message.headers[b"subscription"], message.headers.get(b"x-text", b"raw"))] = web.last_opcode
    assert got == {
        (b"\xe2\x9c", b"raw"): BINARY,
        (b"\xe2\x9c", "\u00e9t\u00e9".encode()): BINARY,
        ("\u2713".encode(), b"raw"): BINARY,
        ("\u2713".encode(), "\u00e9t\u00e9".encode()): TEXT,
    }
    web.send(encode_frame(TEXT, b"DISCONNECT\nreceipt:\xff\n\n\x00"))  # a frame the core writes whole
    receipt = web.expect("RECEIPT")
    assert receipt.headers[b"receipt-id"] == b"\xff" and web.last_opcode == BINARY


@pytest.mark.parametrize("frame_type", ["text", "binary"])
def test_frame_type_forced(ws_broker, ws_client, raw_client, frame_type):
    """``text`` and ``binary`` mean what they always did: one type for every frame, whatever the bytes."""
    broker = ws_broker(f'frame_type = "{frame_type}"')
    opcode = TEXT if frame_type == "text" else BINARY
    web = ws_client(broker)
    web.handshake()
    web.connect()
    assert web.last_opcode == opcode
    web.subscribe("/topic/forced")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.send_frame("SEND", {"destination": "/topic/forced"}, "text \u2713")
    tcp.send_frame("SEND", {"destination": "/topic/forced"}, b"\xff\x00 bytes")
    assert web.expect("MESSAGE").body == "text \u2713".encode() and web.last_opcode == opcode
    assert web.expect("MESSAGE").body == b"\xff\x00 bytes" and web.last_opcode == opcode


def test_the_settings_are_a_frozen_value():
    """Built twice from one section: equal, one hash, shown by their fields; no assignment."""
    from xtomp_core import FrozenInstanceError
    from xtomp_websocket import WebSocketSettings

    with InMemoryBroker(ws_config()) as memory:
        section = memory.broker.config.plugins["websocket"]
    address = ListenAddress("ws", "127.0.0.1", 0, "/ws")
    settings = WebSocketSettings.build(address, section, 1 << 20, "xtomp/test")
    assert settings == WebSocketSettings.build(address, section, 1 << 20, "xtomp/test")
    assert settings != WebSocketSettings.build(address, section, 1 << 19, "xtomp/test")
    assert len({settings, WebSocketSettings.build(address, section, 1 << 20, "xtomp/test")}) == 1
    assert repr(settings).startswith("WebSocketSettings(transport_name='ws', paths=frozenset({") and repr(settings).endswith("server_header='xtomp/test', ssl=None)")
    with pytest.raises(FrozenInstanceError):
        settings.paths = frozenset()  # type: ignore[misc]


def test_the_utf8_check_runs_once_per_message_not_per_subscriber(monkeypatch):
    """A tail shared by N subscribers is looked at once (memoized by identity, the last few
    tails), whatever their connections and prefixes; the verdict covers prefix + tail."""
    from xtomp_websocket import WebSocketFraming, WebSocketSettings, framing

    with InMemoryBroker(ws_config()) as memory:
        section = memory.broker.config.plugins["websocket"]
    settings = WebSocketSettings.build(ListenAddress("ws", "127.0.0.1", 0, "/ws"), section, 1 << 20, "xtomp/test")
    framings = [WebSocketFraming(settings) for _ in range(20)]
    assert all(f.header_for is framing.frame_header for f in framings)
    checked: list[bytes] = []
    is_utf8 = framing.is_utf8

    def counting(data: bytes) -> bool:
        checked.append(data)
        return is_utf8(data)

    monkeypatch.setattr(framing, "is_utf8", counting)
    monkeypatch.setattr(framing, "_recent", {id(tail): (tail, True) for tail in [b"%d" % n for n in range(7)]})
    text_tail = b"message-id:1\ndestination:/topic/t\n\n" + "\u2713".encode() * 100 + b"\x00"
    binary_tail = b"message-id:2\ndestination:/topic/t\n\n\xff\x00"
    v10_tail = text_tail[:-1] + b"\x00"  # another object, the same bytes (a 1.0 subscriber's tail)
    for tail, first in ((text_tail, 0x81), (binary_tail, 0x82)):
        for index, f in enumerate(framings):
            assert f.header_for is not None
            header = f.header_for(b"MESSAGE\nsubscription:%d\n" % index, tail)
            assert header[0] == first
    assert checked == [text_tail, binary_tail]
    for _ in range(3):  # interleaved tails of a message sent to 1.2 and 1.0 subscribers
        for tail in (text_tail, v10_tail):
            assert framings[0].header_for(b"MESSAGE\nsubscription:0\n", tail)[0] == 0x81
    assert checked == [text_tail, binary_tail, v10_tail]


def test_frame_header_on_prefix_and_tail_boundaries():
    from xtomp_websocket.framing import frame_header, is_utf8

    check = "\u2713".encode()  # e2 9c 93
    assert frame_header(b"ab\n", b"cd")[:1] == b"\x81"
    assert frame_header(b"a" + check, b"cd")[:1] == b"\x81"
    assert frame_header(b"a" + check[:2], check[2:] + b"cd") == b"\x81\x06"  # a character across the cut
    assert frame_header(b"a" + check[:2], b"cd")[:1] == b"\x82"
    assert frame_header(b"a" + check[:2], b"")[:1] == b"\x82"
    assert frame_header(b"a\xff", b"cd")[:1] == b"\x82"
    assert frame_header(b"a" + check[:1], check[1:] + b"\xff")[:1] == b"\x82"
    assert frame_header(b"whole frame " + check, b"") == b"\x81\x0f"
    assert frame_header(b"x", b"\x80" * 200) == b"\x82\x7e\x00\xc9"
    big = check * 50_000
    assert is_utf8(big) and not is_utf8(big + check[:2]) and not is_utf8(big[1:])
    assert is_utf8(b"") and is_utf8(b"\x00\x7f") and not is_utf8(b"\xed\xa0\x80")  # no surrogates


# -- heart-beats ------------------------------------------------------------------------------------


def test_broker_heart_beats_are_text_frames_holding_an_eol(ws_broker, ws_client):
    broker = ws_broker(server='heart_beat_write_min = "100ms"')
    web = ws_client(broker)
    web.handshake()
    web.send_stomp("CONNECT", {"accept-version": "1.2", "host": "localhost", "heart-beat": "0,100"})
    assert web.expect("CONNECTED").headers[b"heart-beat"] == b"100,0"
    for _ in range(3):
        assert web.recv_ws(timeout=2) == (TEXT, b"\n")  # xtomp wrote a raw 0x0A into the stream


def test_client_heart_beats_keep_a_session_and_silence_ends_it(ws_broker, ws_client):
    broker = ws_broker(server='heart_beat_read = "400ms"\nheart_beat_grace = 1.5')
    web = ws_client(broker)
    web.handshake()
    web.send_stomp("CONNECT", {"accept-version": "1.2", "host": "localhost", "heart-beat": "400,0"})
    assert web.expect("CONNECTED").headers[b"heart-beat"] == b"0,400"
    for _ in range(12):  # 1.2 s of beats every 0.1 s, three read intervals
        web.send_ws(TEXT, b"\n")
        web._read(0.1)
    assert not web.eof
    code, reason = web.expect_close(1000, timeout=3)
    assert "heart-beat timeout" in reason


# -- control frames and closing -----------------------------------------------------------------------


def test_ping_gets_a_pong_and_pongs_are_ignored(broker, ws_client):
    web = connected(broker, ws_client)
    web.send_ws(PONG, b"unsolicited")
    web.send_ws(PING, b"are you there")
    assert web.expect_control(PONG) == b"are you there"
    web.send_stomp("DISCONNECT", {"receipt": "bye"})
    web.expect("RECEIPT")


def test_the_client_closes(broker, ws_client):
    web = connected(broker, ws_client)
    web.subscribe("/topic/closing")
    web.send_ws(CLOSE, struct.pack("!H", 1000) + b"done")
    assert web.expect_close(1000) == (1000, "done")  # echoed, then the TCP close
    wait_until(lambda: broker.stats()["cc"]["sz"] == 0, what="the session ended")


def test_disconnect_receipt_then_close_1000(broker, ws_client):
    web = connected(broker, ws_client)
    web.send_stomp("DISCONNECT", {"receipt": "bye"})
    assert web.expect("RECEIPT").headers[b"receipt-id"] == b"bye"
    web.send_ws(CLOSE, struct.pack("!H", 1000))  # the client answers the broker's close...
    assert web.expect_close(1000) == (1000, "DISCONNECT")  # ...and the broker closes TCP at once


def test_an_error_frame_then_close(broker, ws_client, bystanders):
    web = connected(broker, ws_client)
    web.send_stomp("SEND", {"destination": "/nowhere", "receipt": "r"}, "x")
    error = web.expect("ERROR")
    assert error.headers[b"receipt-id"] == b"r"
    code, reason = web.expect_close(1000)  # no answer from the client: linger, then TCP close
    assert reason.startswith("destination unknown")
    still_served(broker, *bystanders)


def test_broker_shutdown_closes_with_1001(ws_broker, ws_client):
    broker = ws_broker()
    web = connected(broker, ws_client)
    broker.stop()
    assert web.expect_close(1001) == (1001, "broker shutting down")


# -- bad frames: the right close code, and nobody else notices ------------------------------------


BAD_FRAMES = [
    ("unmasked", encode_frame(TEXT, b"CONNECT\n\n\x00", mask=False), 1002),
    ("garbage", b"\x07\x00garbage that is no frame at all\r\n\r\n", 1002),
    ("http-again", b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 1002),
    ("reserved-bits", encode_frame(TEXT, b"x", rsv=0x40), 1002),
    ("unknown-opcode", encode_frame(0x3, b"x"), 1002),
    ("fragmented-ping", encode_frame(PING, b"x", fin=False), 1002),
    ("continuation-first", encode_frame(CONT, b"x"), 1002),
    ("oversize", encode_frame(TEXT, b"x" * 20_000), 1009),
    ("oversize-in-fragments", encode_frame(TEXT, b"x" * 9000, fin=False) + encode_frame(CONT, b"y" * 9000), 1009),
]


@pytest.mark.parametrize(("raw", "code"), [case[1:] for case in BAD_FRAMES], ids=[case[0] for case in BAD_FRAMES])
def test_bad_frames_get_the_right_close_code(broker, ws_client, bystanders, raw, code):
    web = connected(broker, ws_client)
    web.subscribe("/topic/calm")
    web.send(raw)
    web.expect_close(code)
    still_served(broker, *bystanders)
    wait_until(lambda: broker.stats()["cc"]["sz"] == 2, what="only the bystanders left")


def test_a_stomp_error_inside_a_websocket(broker, ws_client, bystanders):
    """Bad STOMP (not bad WebSocket) gets a STOMP ERROR frame, as over TCP."""
    web = connected(broker, ws_client)
    web.send_ws(TEXT, b"FROB\n\n\x00")
    assert b"unknown command" in web.expect("ERROR").headers[b"message"]
    web.expect_close(1000)
    still_served(broker, *bystanders)


# -- slowloris inside WebSocket frames: frame_timeout applies as over TCP -----------------------------


@pytest.fixture
def strict(ws_broker):
    return ws_broker(server='frame_timeout = "1s"\nlinger = "300ms"')


def dribble(client: WsClient, data: bytes, pause: float) -> int:
    """Send ``data`` a byte every ``pause`` seconds until the broker says something; bytes sent."""
    for index in range(len(data)):
        if select.select([client.sock], [], [], pause)[0]:
            return index
        client.send(data[index : index + 1])
    return len(data)


@pytest.mark.parametrize(
    "cut",
    [2, 4, 6, 9],  # inside the 2-byte header, the mask key, right after it, inside the payload
    ids=["header", "mask", "after-mask", "payload"],
)
def test_a_websocket_frame_dribbled_a_byte_at_a_time_is_cut_off(strict, ws_client, raw_client, cut):
    bystanders = calm_pair(strict, ws_client, raw_client)
    web = connected(strict, ws_client)
    started = time.monotonic()
    frame = encode_frame(TEXT, b"SEND\ndestination:/topic/calm\n\nslow\x00")
    web.send(frame[:cut])  # then one byte every 0.15 s: the frame would take over 5 s
    assert dribble(web, frame[cut:], pause=0.15) < len(frame) - cut  # the broker spoke up midway
    # not before frame_timeout (1s), give or take uvloop's clock, which counts whole milliseconds
    assert time.monotonic() - started >= 1.0 - 0.01
    error = web.expect("ERROR")
    assert b"frame_timeout (1s)" in error.headers[b"message"]
    web.expect_close(1000)
    still_served(strict, *bystanders)


def test_a_stomp_frame_dribbled_in_websocket_messages_is_cut_off(strict, ws_client, raw_client):
    """Every WebSocket message complete, the STOMP frame they carry never: timed all the same."""
    bystanders = calm_pair(strict, ws_client, raw_client)
    web = connected(strict, ws_client)
    for piece in (b"SEND\n", b"destination:", b"/topic/calm\n", b"\n", b"body"):
        web.send_ws(TEXT, piece)
        time.sleep(0.3)
    error = web.expect("ERROR", timeout=3)
    assert b"frame_timeout (1s)" in error.headers[b"message"]
    web.expect_close(1000)
    still_served(strict, *bystanders)


def test_slow_but_complete_frames_and_silence_are_not_cut_off(strict, ws_client, raw_client):
    """Each frame gets its own second, and a connection holding no partial frame has no timer at all."""
    web = connected(strict, ws_client)
    web.subscribe("/topic/slow")
    for index in range(3):
        frame = encode_frame(TEXT, f"SEND\ndestination:/topic/slow\n\nm{index}\x00".encode())
        for start in range(0, len(frame), 12):
            web.send(frame[start : start + 12])
            time.sleep(0.1)
    assert [web.expect("MESSAGE").body for _ in range(3)] == [b"m0", b"m1", b"m2"]
    time.sleep(1.5)  # silent, with nothing partial: well past frame_timeout
    web.send_stomp("SEND", {"destination": "/topic/slow"}, "after the silence")
    assert web.expect("MESSAGE").body == b"after the silence"


# -- web_read_block / web_write_block -----------------------------------------------------------------


@pytest.fixture
def blocked(xtomp_factory):
    return xtomp_factory(
        ws_config()
        + '\n[destinations."/topic/readonly"]\ntype = "topic"\nweb_write_block = true\n'
        + '\n[destinations."/topic/writeonly"]\ntype = "topic"\nweb_read_block = true\n'
    )


def test_web_write_block(blocked, ws_client, raw_client):
    web = connected(blocked, ws_client)
    web.subscribe("/topic/readonly")
    tcp = raw_client(blocked)
    tcp.connect()
    tcp.send_frame("SEND", {"destination": "/topic/readonly", "receipt": "r"}, "news")
    tcp.expect_receipt("r")
    assert web.expect("MESSAGE").body == b"news"
    web.send_stomp("SEND", {"destination": "/topic/readonly"}, "spam")
    assert web.expect("ERROR").headers[b"message"].startswith(b"blocked")


def test_web_read_block(blocked, ws_client, raw_client):
    tcp = raw_client(blocked)
    tcp.connect()
    tcp.subscribe("/topic/writeonly")
    web = connected(blocked, ws_client)
    web.send_stomp("SEND", {"destination": "/topic/writeonly", "receipt": "r"}, "report")
    web.expect("RECEIPT")
    assert tcp.expect("MESSAGE").body == b"report"
    web.send_stomp("SUBSCRIBE", {"destination": "/topic/writeonly", "id": "1"})
    assert web.expect("ERROR").headers[b"message"].startswith(b"blocked")


# -- encode once --------------------------------------------------------------------------------------


def test_every_subscriber_of_a_size_shares_one_memoized_header():
    """The per-subscriber part of a fanned-out MESSAGE is a 2-10 byte header, computed once per
    length and shared by every WebSocket connection (the tail is the core's, shared too)."""
    from xtomp_websocket import WebSocketFraming, WebSocketSettings

    with InMemoryBroker(ws_config()) as memory:
        section = memory.broker.config.plugins["websocket"]
    settings = WebSocketSettings.build(ListenAddress("ws", "127.0.0.1", 0, "/ws"), section, 1 << 20, "xtomp/test")
    framings = [WebSocketFraming(settings) for _ in range(20)]
    length = 23 + 300
    headers = [framing.header(length) for framing in framings]
    assert headers[0] == struct.pack("!BBH", 0x81, 126, length)
    assert len({id(header) for header in headers}) == 1  # one object for everyone
    assert framings[0].header(5) == b"\x81\x05"


def test_many_frames_one_write(broker, ws_client, raw_client):
    """A burst to one WebSocket subscriber leaves in few system calls: the core's coalescing holds."""
    web = connected(broker, ws_client)
    web.subscribe("/topic/burst")
    tcp = raw_client(broker)
    tcp.connect()
    tcp.send(b"".join(frame_bytes("SEND", {"destination": "/topic/burst"}, f"m{index}") for index in range(200)))
    bodies = [web.expect("MESSAGE").body for _ in range(200)]
    assert bodies == [f"m{index}".encode() for index in range(200)]


def test_plain_stomp_versions_over_websocket(broker, ws_client):
    """STOMP 1.0 and 1.1 escaping rules hold over a WebSocket too."""
    web10 = ws_client(broker)
    web10.handshake(protocols=["v10.stomp"])
    web10.connect()
    web10.subscribe("/topic/esc")
    web12 = connected(broker, ws_client)
    web12.send_stomp("SEND", {"destination": "/topic/esc", "h": "a:b", "receipt": "r"}, "x")
    web12.expect("RECEIPT")
    assert web10.expect("MESSAGE").headers[b"h"] == b"a:b"
    with RawClient(*broker.addresses("tcp")[0]) as tcp:
        tcp.connect()


def test_header_cache_forms_and_bound():
    from xtomp_websocket.framing import FIN_BINARY, HeaderCache

    cache = HeaderCache(FIN_BINARY, limit=130)
    assert cache.get(5) == b"\x82\x05"
    assert cache.miss(126) == b"\x82\x7e\x00\x7e"
    assert cache.miss(65536) == b"\x82\x7f" + (65536).to_bytes(8, "big")
    for length in range(200, 210):
        cache.miss(length)
    assert len(cache) <= 130 and cache.get(125) == b"\x82\x7d"  # refilled after the reset


def test_frames_out_counts_frames_and_not_heart_beats(ws_broker, ws_client):
    broker = ws_broker(server='heart_beat_write_min = "100ms"')
    web = ws_client(broker)
    web.handshake()
    web.send_stomp("CONNECT", {"accept-version": "1.2", "host": "localhost", "heart-beat": "0,100"})
    web.expect("CONNECTED")
    for _ in range(2):
        assert web.recv_ws(timeout=2) == (TEXT, b"\n")
    [session] = list(broker.broker.sessions)
    assert broker.call(lambda: session.link.frames_out) == 1  # CONNECTED; the beats are not frames
