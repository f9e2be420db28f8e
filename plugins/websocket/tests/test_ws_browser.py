"""Headless Debian Chromium, driven by playwright-core, runs @stomp/stompjs in a page served on loopback.

The page subscribes over WebSocket while stomp.py publishes over TCP, then publishes back to
stomp.py; a screenshot of the page is saved under the test's tmp_path (with
XTOMP_UPDATE_SCREENSHOT=1 also as docs/websocket-browser-test.png). A second broker whose
``websockets_origin`` does not list the page's origin must refuse the same page. The page also
sends and receives binary bodies next to text ones, each arriving in the WebSocket frame type
its bytes call for (``frame_type = "auto"``). Everything
stays on 127.0.0.1: the page, the broker, and a browser started with its background
networking, component updates and sync switched off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from xtomp_testing.tools import missing_tool

PLUGIN = Path(__file__).resolve().parents[1]
JS = PLUGIN / "js"
CHROMIUM = Path("/usr/bin/chromium")
ROOT = PLUGIN.parents[1]

FILES = {
    "/": (PLUGIN / "tests" / "browser" / "index.html", "text/html; charset=utf-8"),
    "/stomp.umd.min.js": (JS / "node_modules" / "@stomp" / "stompjs" / "bundles" / "stomp.umd.min.js",
                          "text/javascript; charset=utf-8"),
}


def _need_browser() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node")
    if not (JS / "node_modules" / "playwright-core").is_dir():
        missing.append("plugins/websocket/js/node_modules (run `make js-deps`)")
    if not CHROMIUM.exists():
        missing.append("/usr/bin/chromium (run `make chromium`)")
    if missing:
        missing_tool(", ".join(missing))
    assert node is not None
    return node


class PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.partition("?")[0]
        entry = FILES.get(path)
        if entry is None:
            self.send_error(404)
            return
        body = entry[0].read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", entry[1])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def page_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def drive(node: str, page: str, screenshot: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [node, str(JS / "browser-driver.mjs"), page, str(screenshot), mode],
        cwd=JS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def next_event(process: subprocess.Popen[str]) -> dict:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(f"the browser driver exited ({process.returncode}): {process.stderr.read()[-3000:]}")
    event = json.loads(line)
    assert event["event"] != "error", event["error"]
    return event


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(20)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_chromium_subscribes_and_publishes(ws_broker, stomp_py, page_server, tmp_path):
    node = _need_browser()
    broker = ws_broker(f'websockets_origin = ["{page_server}"]')
    host, port = broker.addresses("ws")[0]
    listener, recorder = stomp_py(broker)
    listener.connect(wait=True)
    listener.subscribe("/topic/from-browser", id="py", receipt="sub")
    recorder.wait_for(lambda: "sub" in recorder.receipts)
    screenshot = tmp_path / "browser.png"
    page = f"{page_server}/?broker={quote(f'ws://{host}:{port}/ws')}"
    process = drive(node, page, screenshot, "roundtrip")
    try:
        ready = next_event(process)
        assert ready["event"] == "ready", ready
        assert ready["version"] == "1.2" and ready["subprotocol"] == "v12.stomp"
        assert "HeadlessChrome" in ready["userAgent"] or "Chrome" in ready["userAgent"]
        publisher, _ = stomp_py(broker)
        publisher.connect(wait=True)
        publisher.send("/topic/to-browser", "hello from stomp.py over TCP", headers={"x-via": "tcp"})
        publisher.send("/topic/to-browser", "ünïcödé ✓ and a\nnewline")
        done = next_event(process)
        assert [message["body"] for message in done["received"]] == [
            "hello from stomp.py over TCP",
            "ünïcödé ✓ and a\nnewline",
        ]
        assert done["received"][0]["headers"]["x-via"] == "tcp"
        assert [message.body for message in recorder.wait_messages(1)] == ["from Chromium ✓"]
        assert process.wait(30) == 0
    finally:
        stop(process)
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("XTOMP_UPDATE_SCREENSHOT"):
        shutil.copy(screenshot, ROOT / "docs" / "websocket-browser-test.png")


#: What the mixed round trip carries: (frame type the page gets it in, bytes), two published
#: over TCP, then three by the page (text, binary not UTF-8, binary that is UTF-8).
MIXED = [
    ("text", "\u00fcber \u2713 from tcp".encode()),
    ("binary", b"\x00\xff\xfe\x80 from tcp"),
    ("text", "from Chromium \u2713".encode()),
    ("binary", bytes([0xFF, 0x00, 0xC3, 0x28, 0x80, 0x41])),
    ("text", "utf-8 sent as binary \u2713".encode()),
]


def test_chromium_binary_and_text_round_trip(ws_broker, raw_client, page_server, tmp_path):
    """Chromium gets each message in the frame type its bytes call for and every body intact,
    whether TCP or the page published it (a text frame that is not UTF-8 would fail its socket)."""
    node = _need_browser()
    broker = ws_broker(f'websockets_origin = ["{page_server}"]')
    host, port = broker.addresses("ws")[0]
    tcp = raw_client(broker)
    tcp.connect()
    tcp.subscribe("/topic/to-browser", id="tcp")
    screenshot = tmp_path / "mixed.png"
    page = f"{page_server}/?broker={quote(f'ws://{host}:{port}/ws')}"
    process = drive(node, page, screenshot, "mixed")
    try:
        assert next_event(process)["event"] == "ready"
        for _, body in MIXED[:2]:
            tcp.send_frame("SEND", {"destination": "/topic/to-browser"}, body)
        done = next_event(process)
        assert [(message["kind"], bytes(message["bytes"])) for message in done["received"]] == MIXED
        assert done["received"][0]["body"] == "\u00fcber \u2713 from tcp"
        assert [message.body for message in tcp.messages(5)] == [body for _, body in MIXED]
        assert process.wait(30) == 0
    finally:
        stop(process)
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_chromium_from_an_unlisted_origin_is_refused(ws_broker, page_server, tmp_path):
    node = _need_browser()
    broker = ws_broker('websockets_origin = ["https://app.example.com"]')
    host, port = broker.addresses("ws")[0]
    page = f"{page_server}/?broker={quote(f'ws://{host}:{port}/ws')}"
    process = drive(node, page, tmp_path / "refused.png", "refused")
    try:
        refused = next_event(process)
        assert refused["event"] == "refused" and refused["ready"] is False
        assert "closed before CONNECTED" in refused["failed"]
        assert process.wait(30) == 0
    finally:
        stop(process)
