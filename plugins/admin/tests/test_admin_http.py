"""The admin HTTP server over real sockets: routes, methods, keep-alive, pipelining, limits, timeouts."""

from __future__ import annotations

import json
import socket
import time

import pytest

from xtomp_admin.http import http_date
from xtomp_testing import wait_until


def raw(admin, data: bytes, wait_close: bool = True, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the server closes (or ``timeout``)."""
    with socket.create_connection((admin.host, admin.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            received += chunk
            if not wait_close and b"\r\n\r\n" in received:
                break
        return received


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream of HTTP responses (each with Content-Length)."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        found.append((status, headers, rest[:length]))
        data = rest[length:]
    return found


def test_health(admin):
    status, headers, body = admin.request("/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert headers["cache-control"] == "no-store" and headers["server"].startswith("xtomp/")
    assert headers["date"].endswith(" GMT")


def test_unknown_path_and_methods(admin):
    status, _, body = admin.request("/nowhere")
    assert status == 404 and b"/nowhere" in body
    status, headers, _ = admin.request("/stats", method="DELETE")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, body = admin.request("/health", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_keep_alive_and_pipelining(admin):
    pipelined = b"".join(
        b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path for path in (b"/health", b"/nowhere", b"/health")
    ) + b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    answers = responses(raw(admin, pipelined))
    assert [status for status, _, _ in answers] == [200, 404, 200, 200]
    assert [headers["connection"] for _, headers, _ in answers] == ["keep-alive"] * 3 + ["close"]


def test_http_1_0_closes_and_lf_only_heads_are_accepted(admin):
    [(status, headers, body)] = responses(raw(admin, b"GET /health HTTP/1.0\n\n"))
    assert status == 200 and headers["connection"] == "close" and b'"ok"' in body


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /health HTTP/2.0\r\n\r\n", 505),
        (b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\n bad: folding\r\n\r\n", 400),
        (b"GET health HTTP/1.1\r\n\r\n", 400),
        (b"POST /stats HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 413),
        (b"GET /stats HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
    ],
)
def test_bad_requests_are_answered_and_closed(admin, request_bytes, status):
    answers = responses(raw(admin, request_bytes))
    assert [answer[0] for answer in answers] == [status]
    assert answers[0][1]["connection"] == "close"


def test_absolute_form_target_and_query(admin):
    [(status, _, body)] = responses(raw(admin, b"GET http://localhost/stats?pretty HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert status == 200 and body.startswith(b'{\n  "cc": {')


def test_request_head_limit(admin_factory):
    admin = admin_factory(admin='[plugins.admin]\nlisten = "127.0.0.1:0"\nmax_request_size = "1k"\n')
    huge = b"GET /health HTTP/1.1\r\nX-Filler: " + b"a" * 2000 + b"\r\n\r\n"
    assert [answer[0] for answer in responses(raw(admin, huge))] == [431]
    # No blank line yet, but already over the limit: refused without waiting for the rest.
    endless = b"GET /health HTTP/1.1\r\nX-Filler: " + b"a" * 2000
    assert [answer[0] for answer in responses(raw(admin, endless))] == [431]
    assert admin.request("/health")[0] == 200


def test_slow_or_idle_clients_are_timed_out(admin_factory):
    admin = admin_factory(admin='[plugins.admin]\nlisten = "127.0.0.1:0"\nrequest_timeout = "300ms"\n')
    started = time.monotonic()
    partial = raw(admin, b"GET /health HTTP/1.1\r\nHost: loc")
    assert [answer[0] for answer in responses(partial)] == [408]
    assert time.monotonic() - started >= 0.3 - 0.01  # not before request_timeout (uvloop's clock: whole ms)
    idle = raw(admin, b"GET /health HTTP/1.1\r\n\r\n")  # answered, then closed when idle
    assert [answer[0] for answer in responses(idle)] == [200]
    assert admin.broker.call(lambda: len(admin.admin.connections)) == 0


def test_connection_limit(admin_factory):
    admin = admin_factory(admin='[plugins.admin]\nlisten = "127.0.0.1:0"\nmax_connections = 2\n')
    held = [socket.create_connection((admin.host, admin.port)) for _ in range(2)]
    wait_until(lambda: admin.broker.call(lambda: len(admin.admin.connections)) == 2)
    refused = raw(admin, b"")
    assert refused.startswith(b"HTTP/1.1 503 ")
    for sock in held:
        sock.close()
    wait_until(lambda: admin.broker.call(lambda: len(admin.admin.connections)) == 0)
    assert admin.request("/health")[0] == 200


def test_foreign_host_names_are_refused_on_loopback(admin):
    # A page elsewhere that rebinds its DNS name to 127.0.0.1 sends its own name as Host.
    assert admin.request("/stats", headers={"Host": "attacker.example:15680"})[0] == 403
    for host in ("localhost:15680", "127.0.0.1", "[::1]:15680", "LOCALHOST"):
        assert admin.request("/health", headers={"Host": host})[0] == 200, host


def test_console_files_and_their_policy(admin):
    status, headers, body = admin.request("/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script src="console.js"' in body
    assert "default-src 'none'" in headers["content-security-policy"]
    for path, kind in (("/console.js", "text/javascript"), ("/console.css", "text/css")):
        status, headers, body = admin.request(path)
        assert status == 200 and headers["content-type"].startswith(kind) and body


def test_console_can_be_turned_off(admin_factory):
    admin = admin_factory(admin='[plugins.admin]\nlisten = "127.0.0.1:0"\nconsole = false\n')
    assert admin.request("/")[0] == 404
    assert admin.request("/stats")[0] == 200


def test_health_says_503_unless_accepting():
    from types import SimpleNamespace

    from xtomp_admin.admin import Admin

    request = None
    for listening, expected in (([], "starting"), ([("tcp", [("127.0.0.1", 1)])], "stopping")):
        stub = SimpleNamespace(broker=SimpleNamespace(accepting=False, listening=listening, started_at=0.0))
        response = Admin.health(stub, request)  # type: ignore[arg-type]
        assert response.status == 503 and json.loads(response.body) == {"status": expected}


def test_http_date():
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_requests_responses_and_limits_are_values():
    """Compared and shown by their fields; Request and HttpLimits frozen, Response not; only
    HttpLimits hashable (Request carries a dict, Response is mutable)."""
    from xtomp_admin.http import HttpLimits, Request, Response
    from xtomp_core import FrozenInstanceError

    limits = HttpLimits(8192, 5.0, 16, "xtomp")
    assert limits == HttpLimits(8192, 5.0, 16, "xtomp") != HttpLimits(8192, 5.0, 17, "xtomp")
    assert len({limits, HttpLimits(8192, 5.0, 16, "xtomp")}) == 1
    assert repr(limits) == "HttpLimits(max_request_size=8192, timeout=5.0, max_connections=16, server='xtomp')"
    request = Request("GET", "/status", "", "HTTP/1.1", {"host": "x"})
    assert request == Request("GET", "/status", "", "HTTP/1.1", {"host": "x"})
    for frozen in (limits, request):
        with pytest.raises(FrozenInstanceError):
            frozen.server = "other"  # type: ignore[union-attr]
    response = Response(200, b"ok")
    assert response == Response(200, b"ok", "text/plain; charset=utf-8", [])
    assert repr(response) == "Response(status=200, body=b'ok', content_type='text/plain; charset=utf-8', headers=[])"
    response.status = 404
    assert response != Response(200, b"ok")
    for unhashable in (request, response):
        with pytest.raises(TypeError):
            hash(unhashable)
