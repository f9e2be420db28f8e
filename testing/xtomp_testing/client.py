"""A raw-socket STOMP client for tests: sends exact bytes, parses exactly what the broker sends."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from xtomp_core.protocol.constants import SERVER_COMMANDS, V1_0, V1_2, VERSION_BY_TEXT
from xtomp_core.protocol.encoder import encode_frame
from xtomp_core.protocol.frame import Frame
from xtomp_core.protocol.parser import FrameParser

if TYPE_CHECKING:
    import ssl

__all__ = ["RawClient", "ServerFrameParser", "frame_bytes", "unread_subscriber"]

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


def _header_pairs(headers: HeadersLike | None) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name.encode(), value.encode()) for name, value in items]


class ServerFrameParser(FrameParser):
    """Parses what a broker sends (MESSAGE, RECEIPT, ERROR, CONNECTED), for clients written in
    tests: ``feed(data)`` yields :class:`~xtomp_core.protocol.frame.Frame` objects (``command``,
    ``headers`` and ``body`` as bytes); ``connected(frame)`` adopts the version CONNECTED
    negotiated, whose escaping the frames after it use."""

    def __init__(self, max_frame_size: int = 64 * 1024 * 1024) -> None:
        super().__init__(commands=SERVER_COMMANDS, max_frame_size=max_frame_size)

    def connected(self, frame: Frame) -> None:
        self.version = VERSION_BY_TEXT.get(frame.headers.get(b"version", b"1.0"), V1_0)


def frame_bytes(command: str, headers: HeadersLike | None = None, body: bytes | str = b"", version: int = V1_2) -> bytes:
    """Encode a client frame (escaping per version, never for CONNECT/STOMP)."""
    raw_body = body.encode() if isinstance(body, str) else body
    escaping = V1_0 if command in ("CONNECT", "STOMP") else version
    return encode_frame(command.encode(), _header_pairs(headers), raw_body, escaping)


def unread_subscriber(host: str, port: int, destination: str, subscription_id: str = "1") -> socket.socket:
    """A subscriber that never reads (a dead or stuck consumer), with a 4 KiB receive buffer so
    the broker's side backs up quickly: CONNECT and SUBSCRIBE are sent, nothing is ever read.
    Close the socket to make it go away."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(
        b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:%s\nid:%s\n\n\x00"
        % (destination.encode(), subscription_id.encode())
    )
    return sock


class RawClient:
    """A blocking client over a real socket; every wait has a timeout so tests cannot hang."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 5.0,
        source: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``source``: a local address to connect from (``"127.0.0.2"``: loopback tests of
        per-address limits, as if from another machine). ``tls``: a client context to speak
        TLS with (the handshake happens here)."""
        sock = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.tls = tls is not None
        self.timeout = timeout
        self.version = V1_0
        self.parser = FrameParser(commands=SERVER_COMMANDS, max_frame_size=64 * 1024 * 1024)
        self.frames: list[Frame] = []
        self.received = bytearray()  # every byte, for heart-beat and framing checks
        self.eof = False
        #: The TLS error that ended the connection, if one did.
        self.error: OSError | None = None

    # -- sending ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_in_pieces(self, data: bytes, size: int = 1, pause: float = 0.0) -> None:
        for start in range(0, len(data), size):
            self.sock.sendall(data[start : start + size])
            if pause:
                time.sleep(pause)

    def send_frame(self, command: str, headers: HeadersLike | None = None, body: bytes | str = b"") -> None:
        self.send(frame_bytes(command, headers, body, self.version))

    def connect(self, version: str = "1.2", **headers: str) -> Frame:
        """CONNECT (``accept-version`` = version, ``host`` = localhost) and wait for CONNECTED."""
        fields = {"accept-version": version, "host": "localhost"}
        fields.update({name.replace("_", "-"): value for name, value in headers.items()})
        self.send_frame("CONNECT", fields)
        connected = self.expect("CONNECTED")
        self.version = VERSION_BY_TEXT[connected.headers[b"version"]]
        self.parser.version = self.version
        return connected

    def subscribe(self, destination: str, id: str = "0", receipt: bool = True, **headers: str) -> None:
        fields = {"destination": destination, "id": id}
        fields.update({name.replace("_", "-"): value for name, value in headers.items()})
        if receipt:
            fields["receipt"] = f"sub-{id}"
        self.send_frame("SUBSCRIBE", fields)
        if receipt:
            self.expect_receipt(f"sub-{id}")

    # -- receiving --------------------------------------------------------------------------

    def _read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False on timeout, True otherwise."""
        if self.eof:
            return True
        # TLS may hold decrypted bytes that select() cannot see
        if not (self.tls and self.sock.pending()):  # type: ignore[attr-defined]
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return False
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except OSError as error:  # a TLS alert (the peer refused the handshake) ends it too
            if not self.tls:
                raise
            self.error = error
            data = b""
        if not data:
            self.eof = True
            return True
        self.received += data
        self.frames.extend(self.parser.feed(data))
        return True

    def drain(self) -> list[Frame]:
        """Every frame that has arrived so far, without waiting; they are taken off the queue."""
        while not self.eof and self._read(0):
            pass
        frames, self.frames = self.frames, []
        return frames

    def recv(self, timeout: float | None = None) -> Frame:
        """The next frame; AssertionError on timeout or when the broker closed instead."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.frames:
            if self.eof:
                raise AssertionError("connection closed by the broker while a frame was expected")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError("no frame from the broker in time")
        return self.frames.pop(0)

    def expect(self, command: str, timeout: float | None = None) -> Frame:
        frame = self.recv(timeout)
        if frame.command != command.encode():
            raise AssertionError(f"expected {command}, got {frame!r}")
        return frame

    def expect_receipt(self, receipt_id: str, timeout: float | None = None) -> Frame:
        frame = self.expect("RECEIPT", timeout)
        assert frame.headers[b"receipt-id"] == receipt_id.encode(), frame
        return frame

    def expect_error(self, contains: str = "", timeout: float | None = None) -> Frame:
        """An ERROR whose message contains ``contains``, then the broker's close."""
        frame = self.expect("ERROR", timeout)
        message = frame.headers.get(b"message", b"").decode()
        assert contains in message, f"ERROR message {message!r} does not contain {contains!r}"
        self.expect_closed(timeout)
        return frame

    def expect_closed(self, timeout: float | None = None) -> None:
        """Wait for the broker to close the connection (no further frame allowed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError("the broker did not close the connection")
        if self.frames:
            raise AssertionError(f"unexpected frames before close: {self.frames!r}")

    def expect_nothing(self, wait: float = 0.2) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self.eof:
            self._read(max(0.0, deadline - time.monotonic()))
        if self.frames:
            raise AssertionError(f"unexpected frames: {self.frames!r}")

    def messages(self, count: int, timeout: float | None = None) -> list[Frame]:
        return [self.expect("MESSAGE", timeout) for _ in range(count)]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

