"""A minimal HTTP/1.1 server on the broker's event loop: GET and HEAD, bounded, with a timeout.

Theory of operation (RFC 9112)
------------------------------
One :class:`HttpConnection` (an ``asyncio.Protocol``) per client. Bytes accumulate until a
blank line ends the request head; a head larger than ``max_request_size`` gets ``431`` and
the connection is closed, so a client cannot make the broker buffer more than that. The
request line and header fields are parsed with ``split``/``partition``; requests are
answered in order (pipelining works), each by a synchronous handler that returns the whole
response: there is nothing to stream, and the handler never waits.

Request bodies are refused (``413``; no route takes one), as are methods other than GET
and HEAD (``405``). Connections persist per HTTP/1.1 (``Connection: close`` and HTTP/1.0
end them). One timer per open connection closes it when a request is not complete within
``timeout`` of the connection opening or of the previous response, so idle keep-alive
connections do not linger; with no admin client connected there is no timer at all. A
client that pipelines requests without reading the answers stops being read while its
answers are unsent (``pause_writing``), and at most ``max_connections`` are open at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

from xtomp_core import record

__all__ = ["Request", "Response", "HttpConnection", "HttpLimits", "REASONS"]

log = logging.getLogger("xtomp.admin")

REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), without the locale or ``email``."""
    t = time.gmtime(now)
    return f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"


@record(frozen=True)
class Request:
    """One parsed request (frozen; its headers dict makes it unhashable, as the dataclass was)."""

    __slots__ = ("method", "path", "query", "version", "headers")
    method: str
    path: str
    query: str
    version: str
    #: Header names in lower case; a repeated header keeps its first value.
    headers: dict[str, str]

    def __init__(self, method: str, path: str, query: str, version: str, headers: dict[str, str]) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "headers", headers)


@record()
class Response:
    """What a handler answers (compared and shown by its fields; unhashable)."""

    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: list[tuple[str, str]] = [] if headers is None else headers


@record(frozen=True)
class HttpLimits:
    """The admin listener's limits (frozen)."""

    __slots__ = ("max_request_size", "timeout", "max_connections", "server")
    max_request_size: int
    timeout: float
    max_connections: int
    server: str

    def __init__(self, max_request_size: int, timeout: float, max_connections: int, server: str) -> None:
        object.__setattr__(self, "max_request_size", max_request_size)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_connections", max_connections)
        object.__setattr__(self, "server", server)


Handler = Callable[[Request], Response]


def _error(status: int, text: str) -> Response:
    return Response(status, (text + "\n").encode())


class HttpConnection(asyncio.Protocol):
    """One HTTP client connection."""

    def __init__(self, handler: Handler, limits: HttpLimits, registry: set[HttpConnection]) -> None:
        self.handler = handler
        self.limits = limits
        self.registry = registry
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.closing = False
        self.paused = False
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods
        self.transport = transport = cast(asyncio.Transport, transport)
        if len(self.registry) >= self.limits.max_connections:
            self.closing = True
            log.warning("admin: refused a connection: max_connections (%d) are open", self.limits.max_connections)
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            transport.close()
            return
        self.registry.add(self)
        self._arm()

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            self.data_received(b"")  # answer what was pipelined meanwhile

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.registry.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer = self.buffer + data if self.buffer else data
        while not self.closing and not self.paused:
            buffer = self.buffer
            end = buffer.find(b"\r\n\r\n")
            skip = 4
            if end < 0:
                end = buffer.find(b"\n\n")  # bare LF line ends, as RFC 9112 allows a server to accept
                skip = 2
            if end < 0 or end + skip > self.limits.max_request_size:
                if len(buffer) > self.limits.max_request_size or end >= 0:
                    self._finish(_error(431, "request head too large"), keep_alive=False)
                return
            self.buffer = buffer[end + skip:]
            self._handle(buffer[:end])

    # -- requests ---------------------------------------------------------------------------

    def _handle(self, head: bytes) -> None:
        request = self._parse(head)
        if isinstance(request, Response):
            self._finish(request, keep_alive=False)
            return
        connection = request.headers.get("connection", "").lower()
        if request.version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        if request.headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in request.headers:
            self._finish(_error(413, "request bodies are not accepted"), keep_alive=False)
            return
        if request.method not in ("GET", "HEAD"):
            response = _error(405, f"method {request.method} is not allowed: use GET")
            response.headers.append(("Allow", "GET, HEAD"))
        else:
            try:
                response = self.handler(request)
            except Exception:
                log.exception("admin: internal error answering %s %s", request.method, request.path)
                response = _error(500, "internal error: see the broker's log")
        self._finish(response, keep_alive, head_only=request.method == "HEAD")

    def _parse(self, head: bytes) -> Request | Response:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return _error(400, "undecodable request")
        lines = text.replace("\r\n", "\n").split("\n")
        while lines and not lines[0]:
            lines.pop(0)  # RFC 9112 2.2: ignore empty lines before the request line
        if not lines:
            return _error(400, "empty request")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0].isalpha():
            return _error(400, "malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            return _error(505, "only HTTP/1.0 and HTTP/1.1 are spoken here")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                return _error(400, "malformed header field")
            headers.setdefault(name.lower(), value.strip())
        if "://" in target:  # absolute-form
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        if not target.startswith("/"):
            return _error(400, "the request target must be a path")
        path, _, query = target.partition("?")
        return Request(method, path, query, version, headers)

    def _finish(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        body = response.body
        lines = [
            f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
            f"Date: {http_date()}",
            f"Server: {self.limits.server}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body))
        if keep_alive:
            self._arm()
        else:
            self.closing = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            transport.close()  # after what was written

    # -- timeout ----------------------------------------------------------------------------

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.limits.timeout, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if self.buffer:  # a request was under way: say so
            self._finish(_error(408, "request not complete in time"), keep_alive=False)
        elif self.transport is not None:
            self.closing = True
            self.transport.close()
