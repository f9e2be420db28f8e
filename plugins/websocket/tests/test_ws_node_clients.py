"""Real JavaScript clients in node with their default settings: @stomp/stompjs and webstomp-client.

Each talks to a stomp.py client on plain TCP through the broker: stomp.py publishes three
messages the node client subscribed to, the node client publishes back. stompjs also sends
and receives binary bodies next to text ones (``frame_type = "auto"``: the broker picks text
or binary per message). Node and its packages come from ``make js-deps`` (plugins/websocket/js,
pinned by package-lock.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from xtomp_testing.tools import missing_tool

JS = Path(__file__).resolve().parents[1] / "js"


def _need_node() -> str:
    node = shutil.which("node")
    missing = "node" if node is None else None
    if missing is None and not (JS / "node_modules" / "@stomp" / "stompjs").is_dir():
        missing = "plugins/websocket/js/node_modules (run `make js-deps`)"
    if missing:
        missing_tool(missing)
    assert node is not None
    return node


class NodeClient:
    def __init__(self, url: str, mode: str) -> None:
        self.process = subprocess.Popen(
            [_need_node(), str(JS / "node-client.mjs"), url, mode],
            cwd=JS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def next_event(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            raise AssertionError(f"node exited ({self.process.returncode}): {self.process.stderr.read()}")
        event = json.loads(line)
        assert event["event"] != "error", event
        return event

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def broker(ws_broker):
    return ws_broker()


@pytest.mark.parametrize("mode", ["stompjs", "webstomp", "stompjs-split"])
def test_node_client_with_default_settings(broker, stomp_py, mode):
    host, port = broker.addresses("ws")[0]
    listener, recorder = stomp_py(broker)
    listener.connect(wait=True)
    listener.subscribe("/topic/from-node", id="py", receipt="sub")
    recorder.wait_for(lambda: "sub" in recorder.receipts)
    node = NodeClient(f"ws://{host}:{port}/ws", mode)
    try:
        connected = node.next_event()
        assert connected["event"] == "connected"
        assert connected["version"] == "1.2" and connected["subprotocol"] == "v12.stomp"
        server_beats, _ = connected["heartBeat"].split(",")
        assert int(server_beats) > 0  # both clients ask for 10 s heart-beats by default, and get them
        assert node.next_event()["event"] == "ready"
        publisher, _ = stomp_py(broker)
        publisher.connect(wait=True)
        bodies = ["plain", "ünïcödé ✓", "two\nlines"]
        for index, body in enumerate(bodies):
            publisher.send("/topic/to-node", body, headers={"x-seq": str(index), "x-colon": "a:b"})
        done = node.next_event()
        assert done["event"] == "done"
        assert [message["body"] for message in done["received"]] == bodies
        # STOMP 1.2 escapes ":" in header values as "\c"; webstomp-client 1.2.6 does not unescape.
        assert done["received"][0]["headers"]["x-colon"] == ("a\\cb" if mode == "webstomp" else "a:b")
        expected = 1 if mode == "stompjs-split" else 2
        messages = recorder.wait_messages(expected)
        if mode == "stompjs-split":  # one STOMP frame in eight WebSocket messages, whole again
            assert messages[0].body == "x" * 60 * 1024 + " ✓ split"
        else:
            assert [message.body for message in messages] == ["from node 0 ✓", "from node 1 ✓"]
        assert node.process.wait(10) == 0
    finally:
        node.close()


#: What the stompjs-mixed round trip carries: (frame type the subscriber gets it in, bytes),
#: two published over TCP, then three by stompjs (text, binary not UTF-8, binary that is UTF-8).
MIXED = [
    ("text", "\u00fcber \u2713 from tcp".encode()),
    ("binary", b"\x00\xff\xfe\x80 from tcp"),
    ("text", "from node \u2713".encode()),
    ("binary", bytes([0xFF, 0x00, 0xC3, 0x28, 0x80, 0x41])),
    ("text", "utf-8 sent as binary \u2713".encode()),
]


def test_stompjs_binary_and_text_round_trip(broker, raw_client):
    """stompjs gets each message in the frame type its bytes call for, and every body intact,
    whichever side published it and however (a binary body that is UTF-8 comes back as text)."""
    host, port = broker.addresses("ws")[0]
    tcp = raw_client(broker)
    tcp.connect()
    tcp.subscribe("/topic/mixed", id="tcp")
    node = NodeClient(f"ws://{host}:{port}/ws", "stompjs-mixed")
    try:
        assert node.next_event()["event"] == "connected"
        assert node.next_event()["event"] == "ready"
        for _, body in MIXED[:2]:
            tcp.send_frame("SEND", {"destination": "/topic/mixed"}, body)
        done = node.next_event()
        assert done["event"] == "done"
        assert [(message["kind"], bytes(message["bytes"])) for message in done["received"]] == MIXED
        assert done["received"][2]["body"] == "from node \u2713"
        assert [message.body for message in tcp.messages(5)] == [body for _, body in MIXED]
        assert node.process.wait(10) == 0
    finally:
        node.close()


def test_stompjs_with_forced_text_frames_fails_on_a_binary_body(ws_broker, raw_client):
    """Why "auto" is the default: with ``frame_type = "text"`` a body that is not UTF-8 goes out in a
    text frame, which node's ws (like a browser) refuses, closing the connection (1007)."""
    broker = ws_broker('frame_type = "text"')
    host, port = broker.addresses("ws")[0]
    node = NodeClient(f"ws://{host}:{port}/ws", "stompjs-mixed")
    try:
        assert node.next_event()["event"] == "connected"
        assert node.next_event()["event"] == "ready"
        tcp = raw_client(broker)
        tcp.connect()
        tcp.send_frame("SEND", {"destination": "/topic/mixed"}, MIXED[1][1])
        assert node.process.stdout is not None
        failed = json.loads(node.process.stdout.readline())
        assert failed["event"] == "error" and ("1007" in failed["error"] or "UTF-8" in failed["error"]), failed
    finally:
        node.close()
