"""The admin endpoint of one broker: routes (/health, /stats, /metrics, the console), rates, the listener."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from xtomp_core import StartupError, __version__, listen_host, parse_listen

# The HTTP server (.http) and the Prometheus writer (.metrics) are imported by the first
# admin connection: an idle broker nobody asks for figures does without them.
if TYPE_CHECKING:
    from xtomp_core import BrokerView, Section

    from .http import HttpConnection, HttpLimits, Request, Response

__all__ = ["Admin", "Rates", "DEFAULT_LISTEN", "admin_address"]

log = logging.getLogger("xtomp.admin")

DEFAULT_LISTEN = "127.0.0.1:15680"
STATIC = os.path.join(os.path.dirname(os.path.realpath(__file__)), "static")  # not pathlib: 0.6 MB idle
_STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
}
# The console loads nothing but its own files and /stats: the browser enforces it.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = frozenset({"localhost", "::1", "[::1]"})
_JSON = "application/json; charset=utf-8"


def admin_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``http://HOST:PORT`` as (host, port); ValueError otherwise."""
    address = parse_listen(text)
    if address.scheme not in ("tcp", "http") or address.path not in ("", "/"):
        raise ValueError(f"{text!r}: expected HOST:PORT (or http://HOST:PORT), e.g. {DEFAULT_LISTEN}")
    return address.host, address.port


def _is_loopback(host: str) -> bool:
    host = host.lower()
    return host in _LOOPBACK_NAMES or host.startswith("127.") or host == "localhost."


class Rates:
    """Messages per second, in (accepted) and out (delivered), over the time between two looks.

    No timer samples the counters: each ``/stats`` request compares them with the newest
    sample at least ``min_age`` seconds old, and keeps a new sample when the newest is that
    old. With the console polling every second, rates are per second; a client asking once
    a minute gets the minute's average. ``rates.window`` in the answer says which.
    """

    __slots__ = ("min_age", "samples")

    def __init__(self, min_age: float = 0.75, keep: int = 4) -> None:
        self.min_age = min_age
        self.samples: deque[tuple[float, dict[str, tuple[int, int]]]] = deque(maxlen=keep)

    def apply(self, stats: dict[str, Any], now: float) -> None:
        destinations = stats.get("destinations", [])
        counters: dict[str, tuple[int, int]] = {}
        delivered_all = 0
        for destination in destinations:
            delivered = _int(destination.get("delivered"))
            delivered_all += delivered
            counters[str(destination.get("dest"))] = (_int(destination.get("Σ")), delivered)
        broker = stats.get("broker", {})
        counters[""] = (_int(broker.get("messages")), delivered_all)  # "" is no destination's name
        reference = next((sample for sample in reversed(self.samples) if now - sample[0] >= self.min_age), None)
        if not self.samples or now - self.samples[-1][0] >= self.min_age:
            self.samples.append((now, counters))
        if reference is None:
            stats["rates"] = {"window": None}
            broker["rate_in"] = broker["rate_out"] = None
            for destination in destinations:
                destination["rate_in"] = destination["rate_out"] = None
            return
        window = now - reference[0]
        before = reference[1]

        def rates(key: str) -> tuple[float, float]:
            then = before.get(key, (0, 0))
            latest = counters[key]
            return (
                round(max(0, latest[0] - then[0]) / window, 3),
                round(max(0, latest[1] - then[1]) / window, 3),
            )

        stats["rates"] = {"window": round(window, 3)}
        broker["rate_in"], broker["rate_out"] = rates("")
        for destination in destinations:
            destination["rate_in"], destination["rate_out"] = rates(str(destination.get("dest")))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Admin:
    """The HTTP side of one broker: started by ``xtomp_startup``, closed by ``xtomp_shutdown``."""

    def __init__(self, broker: BrokerView, settings: Section) -> None:
        self.broker = broker
        self.settings = settings
        self.host, self.port = admin_address(settings["listen"])
        self.console = bool(settings["console"])
        self._limits: HttpLimits | None = None
        self.check_host = _is_loopback(self.host)
        self.connections: set[HttpConnection] = set()
        self.requests = 0
        self.rates = Rates()
        self.server: asyncio.AbstractServer | None = None
        #: (host, port) pairs actually bound (port 0 in the config picks a free one).
        self.bound: list[tuple[str, int]] = []
        self._static: dict[str, bytes] = {}
        self._routes = {
            "/health": self.health,
            "/stats": self.stats,
            "/metrics": self.metrics,
        }

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.server = await loop.create_server(
                self._connection,
                listen_host(self.host),
                self.port,
                reuse_address=True,
                # With several workers each binds the admin port too: a request reaches one of them.
                reuse_port=self.broker.worker[1] > 1,
            )
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)  # uvloop's texts differ
            raise StartupError(f"admin: cannot listen on {self.settings['listen']}: {reason}") from None
        self.bound = [sock.getsockname()[:2] for sock in self.server.sockets]
        for host, port in self.bound:
            shown = f"[{host}]" if ":" in host else host
            log.info("admin console on http://%s:%d/", shown, port)
        if not self.check_host:
            log.warning(
                "admin: listening on %s, beyond loopback: /stats and /metrics have no authentication",
                self.settings["listen"],
            )

    @property
    def limits(self) -> HttpLimits:
        """The HTTP limits from the settings (built with the first connection)."""
        if self._limits is None:
            from .http import HttpLimits

            settings = self.settings
            self._limits = HttpLimits(
                max_request_size=settings["max_request_size"],
                timeout=settings["request_timeout"],
                max_connections=settings["max_connections"],
                server=f"xtomp/{__version__}",
            )
        return self._limits

    def _connection(self) -> HttpConnection:
        from .http import HttpConnection

        return HttpConnection(self.handle, self.limits, self.connections)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        self.connections.clear()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    @property
    def url(self) -> str:
        host, port = self.bound[0] if self.bound else (self.host, self.port)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def figures(self) -> dict[str, int]:
        """What ``xtomp_collect_stats`` adds under ``admin``."""
        return {"requests": self.requests, "connections": len(self.connections)}

    # -- requests ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        from .http import Response  # imported by the connection that brought the request

        self.requests += 1
        if self.check_host:
            host = request.headers.get("host")
            if host is not None:
                name = host.rpartition(":")[0] if not host.endswith("]") and ":" in host else host
                if not _is_loopback(name.strip()):
                    # A page elsewhere reaching this port by DNS rebinding gets nothing.
                    return Response(403, b"the admin endpoint answers only to loopback host names\n")
        route = self._routes.get(request.path)
        if route is not None:
            return route(request)
        static = _STATIC_FILES.get(request.path) if self.console else None
        if static is not None:
            return self.static(*static)
        return Response(404, f"no such page: {request.path[:200]}\n".encode("utf-8", "replace"))

    def health(self, request: Request) -> Response:
        from .http import Response

        broker = self.broker
        if broker.accepting:
            body = {"status": "ok", "uptime": round(time.time() - broker.started_at, 3)}
            return Response(200, _json(body), _JSON)
        return Response(503, _json({"status": "starting" if not broker.listening else "stopping"}), _JSON)

    def stats(self, request: Request) -> Response:
        from .http import Response

        stats = self.broker.stats()
        self.rates.apply(stats, time.monotonic())
        pretty = "pretty" in request.query.split("&")
        return Response(200, _json(stats, pretty), _JSON)

    def metrics(self, request: Request) -> Response:
        from .http import Response
        from .metrics import CONTENT_TYPE, render

        transports = sorted({address.scheme for address in self.broker.listen_addresses})
        return Response(200, render(self.broker.stats(), transports).encode(), CONTENT_TYPE)

    def static(self, name: str, content_type: str) -> Response:
        from .http import Response

        body = self._static.get(name)
        if body is None:
            with open(os.path.join(STATIC, name), "rb") as file:
                body = self._static[name] = file.read()
        headers = [("Content-Security-Policy", _CSP), ("Referrer-Policy", "no-referrer")]
        return Response(200, body, content_type, headers)


def _json(value: Any, pretty: bool = False) -> bytes:
    import json  # at the first request, not at start-up (130 KB of idle memory)

    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return (text + "\n").encode()
