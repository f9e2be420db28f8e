"""One WebSocket connection carrying STOMP: the opening handshake, frames in, frames out, the closing handshake.

Theory of operation (RFC 6455; STOMP 1.2 over WebSocket as RabbitMQ and ActiveMQ do it)
------------------------------------------------------------------------------------------
:class:`WebSocketFraming` is a :class:`~xtomp_core.Framing`: the core's connection keeps
everything STOMP (write coalescing once per loop pass, flow control through the
transport's write-buffer marks, heart-beat and connect timers, the session) and asks the
framing for three things, so the broker core never knows a session speaks WebSocket:

* **Input**: bytes go to websockets' sans-IO ``ServerProtocol`` first. Before the upgrade it
  parses the HTTP request; the handshake is checked here (path, ``Host``, version,
  ``Origin``, subprotocol) and answered with 101 or the right HTTP status. After it, the
  payload of every text, binary or continuation frame is handed to the stream's
  ``receive``, the same parser a TCP connection feeds, so one STOMP frame may span several
  WebSocket messages and one message may hold several STOMP frames: the STOMP parser only
  ever sees a byte stream. The library answers pings, enforces the message size limit
  (close 1009), refuses unmasked or malformed frames (close 1002) and completes a client's close.
* **Output**: the 2-10 byte header of one final frame from :mod:`.framing`; the core queues
  it before each STOMP frame's parts. With ``frame_type = "auto"`` (the default) the core
  calls ``header_for(prefix, tail)``: a text frame when the STOMP frame's bytes are UTF-8,
  binary otherwise, decided once per shared MESSAGE tail (memoized by identity), not per
  subscriber; with ``"text"`` or ``"binary"`` it calls ``header(length)`` and the type is
  fixed. A MESSAGE fanned out to N WebSocket subscribers still shares one encoded tail; only
  the header and the per-subscription prefix are per subscriber. Heart-beats are frames too (xtomp wrote a
  raw ``\\n`` into the WebSocket stream, which broke browsers).
* **Closing**: a broker-side close (ERROR, DISCONNECT's RECEIPT, shutdown) flushes what is
  queued, then ``goodbye`` gives the close frame (1000, or 1001 at shutdown, with the
  reason); the core waits up to ``linger`` for the client's close frame before dropping TCP.

Frames the library itself must send (the 101 or error response, pongs, close frames) are
written with ``stream.write_raw``, after the queued STOMP frames, so order is kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import NegotiationError
from websockets.frames import BINARY, CLOSE, CONT, TEXT, CloseCode, Frame
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from xtomp_core import V1_2

from .framing import BINARY_HEADERS, TEXT_HEADERS, frame_header
from .settings import (
    HEALTH_CHECK_PATH,
    SUBPROTOCOLS,
    NoCommonSubprotocol,
    WebSocketSettings,
    choose_subprotocol,
    origin_allowed,
    path_allowed,
    split_target,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from websockets.typing import Subprotocol

    from xtomp_core import FramedStream

__all__ = ["WebSocketFraming"]

log = logging.getLogger("xtomp.websocket")
# websockets logs every open and close at INFO; the broker logs sessions itself.
_protocol_log = logging.getLogger("xtomp.websocket.protocol")
_protocol_log.setLevel(logging.WARNING)

_MAX_REASON = 123  # bytes of UTF-8 a close frame's reason may hold (RFC 6455 5.5)
_SHUTDOWN_REASON = "broker shutting down"
_BAD_REQUEST_TEXT = b"Failed to open a WebSocket connection: not a valid HTTP request.\n"
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BAD_REQUEST_TEXT), _BAD_REQUEST_TEXT)
)


def _select_subprotocol(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    try:
        chosen, _ = choose_subprotocol(offered)
    except NoCommonSubprotocol as problem:
        raise NegotiationError(str(problem)) from None
    return chosen  # type: ignore[return-value]  # one of the offered strings


def _header(headers: Headers, name: str) -> str | None:
    """A request header's value; several values count as one comma-separated list."""
    try:
        return headers.get(name)
    except MultipleValuesError:
        return ", ".join(headers.get_all(name))


def _close_reason(text: str) -> str:
    raw = text.encode()[:_MAX_REASON]
    return raw.decode("utf-8", "ignore")


class WebSocketFraming:
    """STOMP over one WebSocket: the :class:`~xtomp_core.Framing` a ``ws``/``wss`` connection is given."""

    __slots__ = ("settings", "ws", "stream", "subprotocol", "transport_name", "web", "header", "header_for", "_open",
                 "_reason", "_partial")

    def __init__(self, settings: WebSocketSettings) -> None:
        self.settings = settings
        self.transport_name = settings.transport_name
        self.web = True
        self.ws = ServerProtocol(
            max_size=settings.max_message_size,
            select_subprotocol=_select_subprotocol,
            logger=_protocol_log,
        )
        self.stream: FramedStream | None = None
        #: The subprotocol agreed in the handshake (None: the client offered none).
        self.subprotocol: str | None = None
        headers = BINARY_HEADERS if settings.frame_type == "binary" else TEXT_HEADERS
        #: The header of one outgoing frame of a given length (a memoized table lookup): what
        #: the core uses with ``frame_type = "text"`` or ``"binary"``.
        self.header: Callable[[int], bytes] = headers.header
        #: ``frame_type = "auto"``: the header for ``prefix + tail``, text or binary by their bytes.
        self.header_for: Callable[[bytes, bytes], bytes] | None = (
            frame_header if settings.frame_type == "auto" else None
        )
        self._open = False
        self._reason = ""
        #: The last read left a WebSocket frame incomplete (timed like a partial STOMP frame).
        self._partial = False

    def attach(self, stream: FramedStream) -> None:
        self.stream = stream

    # -- input ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        stream = self.stream
        assert stream is not None
        ws = self.ws
        was_open = self._open
        ws.receive_data(data)
        payloads: list[bytes] = []
        framed = False
        for event in ws.events_received():
            if isinstance(event, Frame):
                framed = True
                opcode = event.opcode
                if opcode is TEXT or opcode is BINARY or opcode is CONT:
                    payloads.append(event.data)  # type: ignore[arg-type]  # parsed frames hold bytes
                elif opcode is CLOSE:
                    self._close_received()
            elif isinstance(event, Request):
                self._handshake(event)
        if payloads and self._open:
            # One STOMP parser pass for a publisher's burst of WebSocket messages.
            stream.receive(payloads[0] if len(payloads) == 1 else b"".join(payloads))
        self._write_protocol_output()
        if was_open:
            # Slowloris, one byte at a time inside a WebSocket frame: bytes that completed no
            # frame, or the start of one left in the library's buffer, are a partial frame and
            # get frame_timeout like a partial STOMP frame (the STOMP parser never sees them).
            self._partial = not framed or bool(ws.reader.buffer)

    def holds_partial_frame(self) -> bool:
        return self._partial

    def _close_received(self) -> None:
        close = self.ws.close_rcvd
        code = close.code if close is not None else CloseCode.NO_STATUS_RCVD
        if not self._reason:
            self._reason = f"websocket closed by the client ({int(code)})"

    def _write_protocol_output(self) -> None:
        """Send what the library produced (response, pong, close), after the queued STOMP frames."""
        writes = self.ws.data_to_send()
        if not writes:
            return
        stream = self.stream
        assert stream is not None
        if not writes[0] and not self._open and self.ws.handshake_exc is not None:
            # Not an HTTP request at all: the library just closes; say why first.
            cause = self.ws.handshake_exc.__cause__ or self.ws.handshake_exc
            self._reason = f"handshake refused: 400 {cause}"
            log.info("websocket %s: not a valid HTTP request: %s", stream.peer, cause)
            stream.write_raw(_BAD_REQUEST)
        end = False
        for data in writes:
            if data:
                stream.write_raw(data)
            else:
                end = True  # websockets' SEND_EOF: this side is done
        if end:
            exc = self.ws.parser_exc
            if exc is not None and not self._reason:
                code = self.ws.close_sent.code if self.ws.close_sent is not None else 0
                self._reason = f"websocket error ({int(code)}): {exc}"
                log.info("websocket %s: %s", stream.peer, self._reason)
            reason = self._reason or "websocket closed"
            log.debug("websocket %s: %s", stream.peer, reason)
            stream.end(reason)

    # -- the opening handshake ------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        ws = self.ws
        settings = self.settings
        path = split_target(request.path)
        headers = request.headers
        response: Response
        if path == HEALTH_CHECK_PATH:
            self._reason = "health check"
            ws.send_response(self._health_response())
            self._write_protocol_output()
            return
        origin = _header(headers, "Origin")
        version = _header(headers, "Sec-WebSocket-Version")
        if not path_allowed(path, settings.paths):
            shown = ", ".join(sorted(settings.paths))
            response = ws.reject(404, f"No WebSocket endpoint at {path[:200]}: use {shown}.\n")
        elif request.method == "GET" and not _header(headers, "Host"):
            response = ws.reject(400, "Failed to open a WebSocket connection: missing Host header.\n")
        elif version is not None and version != "13" and request.method == "GET":
            response = ws.reject(426, f"Unsupported Sec-WebSocket-Version {version[:40]}: this server speaks 13.\n")
            response.headers["Sec-WebSocket-Version"] = "13"
        elif not origin_allowed(origin, settings.origins):
            response = ws.reject(403, f"Origin {origin[:200] if origin else ''} is not allowed (websockets_origin).\n")
        else:
            response = ws.accept(request)
        response.headers["Server"] = settings.server_header
        if response.status_code == 101:
            self._upgraded(ws.subprotocol)
        else:
            first_line = response.body.decode("utf-8", "replace").strip().splitlines()[0] if response.body else ""
            self._reason = f"handshake refused: {response.status_code} {first_line}"
            peer = self.stream.peer if self.stream is not None else "?"
            log.info("websocket %s: %s %s refused with %d: %s", peer, request.method, request.path[:200],
                     response.status_code, first_line)
        ws.send_response(response)
        # Now, before any STOMP frame pipelined behind the request is answered.
        self._write_protocol_output()

    def _upgraded(self, subprotocol: str | None) -> None:
        self._open = True
        self.subprotocol = subprotocol
        assert self.stream is not None
        self.stream.limit_version(SUBPROTOCOLS[subprotocol] if subprotocol else V1_2)

    def _health_response(self) -> Response:
        headers = Headers(
            [
                ("Server", self.settings.server_header),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "3"),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", "Server"),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ]
        )
        return Response(200, "OK", headers, b"ok\n")

    def timed_out(self) -> bool:
        if self._open:
            return False  # the STOMP connect timeout, as on TCP
        stream = self.stream
        assert stream is not None
        timeout = stream.limits.timeout
        log.info("websocket %s: no handshake within %gs", stream.peer, timeout)
        stream.end(f"timeout - no WebSocket handshake within {timeout:g}s")
        return True

    # -- closing --------------------------------------------------------------------------

    def goodbye(self, reason: str) -> bytes | None:
        """The close frame (1000, or 1001 when the broker shuts down) with the reason."""
        ws = self.ws
        if ws.state is not OPEN or not self._open:
            return None
        code = CloseCode.GOING_AWAY if reason == _SHUTDOWN_REASON else CloseCode.NORMAL_CLOSURE
        ws.send_close(code, _close_reason(reason))
        return b"".join(ws.data_to_send())
