"""A raw WebSocket client for tests: exact bytes out (masked or not), every server frame parsed and checked.

Hand-written on purpose, so tests can send what no well-behaved library would: unmasked
frames, oversize messages, garbage after the handshake, a STOMP frame cut into pieces.
"""

from __future__ import annotations

import base64
import itertools
import hashlib
import os
import select
import socket
import ssl
import struct
import time
from collections.abc import Iterable

from xtomp_core import V1_0
from xtomp_testing import Frame, ServerFrameParser
from xtomp_testing import RawClient, frame_bytes

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STOMPJS_PROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return head + key + masked


class HttpResponse:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def __repr__(self) -> str:
        return f"HttpResponse({self.status_line!r}, {self.headers!r}, {self.body[:200]!r})"


class WsClient:
    """One TCP (or TLS) connection; ``handshake()`` upgrades it, then frames go both ways."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.host, self.port = host, port
        self.timeout = timeout
        self.buffer = b""
        self.eof = False
        self.response: HttpResponse | None = None
        self.version = V1_0
        self.parser = ServerFrameParser()
        self.frames: list[tuple[int, bytes]] = []  # data messages not yet consumed: (opcode, payload)
        self.controls: list[tuple[int, bytes]] = []  # ping, pong and close frames received
        self.stomp: list[Frame] = []
        self.last_opcode = 0  # the WebSocket frame type (TEXT or BINARY) of the last STOMP frame received

    # -- raw I/O --------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, timeout: float) -> bool:
        if self.eof:
            return True
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return False
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.eof = True
        self.buffer += data
        return True

    def _wait(self, predicate, what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not predicate():
            if self.eof:
                raise AssertionError(f"connection closed while waiting for {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"no {what} in time")

    # -- HTTP -----------------------------------------------------------------------------

    def request(self, raw: bytes) -> HttpResponse:
        """Send an HTTP request, read the response head and its body (Content-Length)."""
        self.send(raw)
        self._wait(lambda: b"\r\n\r\n" in self.buffer, "HTTP response")
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        response = HttpResponse(head + b"\r\n\r\n")
        length = int(response.headers.get("content-length", "0"))
        if response.status != 101:
            self._wait(lambda: len(self.buffer) - len(head) - 4 >= length, "HTTP body")
            rest = self.buffer[len(head) + 4 :]
        response.body = rest[:length] if response.status != 101 else b""
        self.buffer = rest[length:] if response.status != 101 else rest
        self.response = response
        return response

    def handshake(
        self,
        path: str = "/ws",
        protocols: Iterable[str] | None = STOMPJS_PROTOCOLS,
        origin: str | None = None,
        key: str | None = None,
        version: str | None = "13",
        extra: Iterable[tuple[str, str]] = (),
        expect: int = 101,
    ) -> HttpResponse:
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Upgrade: websocket", "Connection: Upgrade"]
        if key:
            lines.append(f"Sec-WebSocket-Key: {key}")
        if version is not None:
            lines.append(f"Sec-WebSocket-Version: {version}")
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if origin is not None:
            lines.append(f"Origin: {origin}")
        lines += [f"{name}: {value}" for name, value in extra]
        response = self.request(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert response.status == expect, response
        if expect == 101:
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            assert response.headers["sec-websocket-accept"] == accept
        return response

    # -- WebSocket frames -----------------------------------------------------------------

    def send_ws(self, opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> None:
        self.send(encode_frame(opcode, payload, fin, mask))

    def _parse_frames(self) -> None:
        while True:
            buffer = self.buffer
            if len(buffer) < 2:
                return
            first, second = buffer[0], buffer[1]
            assert not second & 0x80, "the server masked a frame"
            assert not first & 0x70, "the server set RSV bits"
            assert first & 0x80, "the server sent a fragmented frame"
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                (length,) = struct.unpack("!H", buffer[2:4])
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                (length,) = struct.unpack("!Q", buffer[2:10])
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = buffer[offset : offset + length]
            self.buffer = buffer[offset + length :]
            opcode = first & 0x0F
            if opcode in (TEXT, BINARY):
                self.frames.append((opcode, payload))
            else:
                assert opcode in (CLOSE, PING, PONG), f"unexpected opcode {opcode}"
                self.controls.append((opcode, payload))

    def recv_ws(self, timeout: float | None = None) -> tuple[int, bytes]:
        """The next data message (opcode, payload)."""
        def ready() -> bool:
            self._parse_frames()
            return bool(self.frames)

        self._wait(ready, "WebSocket message", timeout)
        return self.frames.pop(0)

    def expect_control(self, opcode: int, timeout: float | None = None) -> bytes:
        def ready() -> bool:
            self._parse_frames()
            return any(kind == opcode for kind, _ in self.controls)

        self._wait(ready, f"control frame {opcode:#x}", timeout)
        index = next(i for i, (kind, _) in enumerate(self.controls) if kind == opcode)
        return self.controls.pop(index)[1]

    def expect_close(self, code: int | None = None, timeout: float | None = None) -> tuple[int, str]:
        """A close frame (with ``code``), then the server's TCP close."""
        payload = self.expect_control(CLOSE, timeout)
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        reason = payload[2:].decode()
        if code is not None:
            assert got == code, f"close code {got} ({reason!r}), expected {code}"
        self.expect_eof(timeout)
        return got, reason

    def expect_eof(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError("the server did not close the TCP connection")

    # -- STOMP over the WebSocket ---------------------------------------------------------

    def send_stomp(self, command: str, headers=None, body: bytes | str = b"", opcode: int = TEXT) -> None:
        self.send_ws(opcode, frame_bytes(command, headers, body, self.version))

    def recv_stomp(self, timeout: float | None = None) -> Frame:
        """The next STOMP frame; each must come in a WebSocket message of its own."""
        opcode, payload = self.recv_ws(timeout)
        self.last_opcode = opcode
        frames = list(self.parser.feed(payload))
        assert len(frames) == 1, f"expected one STOMP frame per WebSocket message, got {payload!r}"
        return frames[0]

    def expect(self, command: str, timeout: float | None = None) -> Frame:
        frame = self.recv_stomp(timeout)
        assert frame.command == command.encode(), frame
        return frame

    def connect(self, accept_version: str = "1.0,1.1,1.2", **headers: str) -> Frame:
        fields = {"accept-version": accept_version, "host": "localhost"}
        fields.update({name.replace("_", "-"): value for name, value in headers.items()})
        self.send_stomp("CONNECT", fields)
        connected = self.expect("CONNECTED")
        self.parser.connected(connected)
        self.version = self.parser.version
        return connected

    def subscribe(self, destination: str, id: str = "0") -> None:
        self.send_stomp("SUBSCRIBE", {"destination": destination, "id": id, "receipt": f"sub-{id}"})
        receipt = self.expect("RECEIPT")
        assert receipt.headers[b"receipt-id"] == f"sub-{id}".encode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_sequence = itertools.count()


def still_served(broker, *subscribers) -> None:
    """A message published over TCP still reaches every given subscriber (of /topic/calm)."""
    body = f"still here {next(_sequence)}"
    with RawClient(*broker.addresses("tcp")[0]) as publisher:
        publisher.connect()
        publisher.send_frame("SEND", {"destination": "/topic/calm", "receipt": "ok"}, body)
        publisher.expect_receipt("ok")
    for subscriber in subscribers:
        assert subscriber.expect("MESSAGE").body == body.encode()


def wait_until(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.02)


def ws_config(options: str = "", listen: str = '"ws://127.0.0.1:0/ws"', server: str = "") -> str:
    """A test config: the base one plus the plugin's table (``options`` go in it) and ``server`` keys."""
    text = f"[plugins.websocket]\nlisten = [{listen}]\n{options}\n"
    if server:
        text += f"\n[server]\n{server}\n"
    return text
