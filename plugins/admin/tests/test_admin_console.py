"""The web console in headless Chromium (Debian's package, driven by playwright-core from npm):
messages are sent with stomp.py first, then the test asserts on what the page shows."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from xtomp_testing.tools import missing_tool

ROOT = Path(__file__).resolve().parents[3]
NODE_MODULES = ROOT / "tools" / "browser" / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(__file__).with_name("console.cjs")


@pytest.fixture
def browser_ready():
    missing = [str(p) for p in (CHROMIUM, NODE_MODULES / "playwright-core") if not p.exists()]
    if shutil.which("node") is None:
        missing.append("node")
    if missing:
        missing_tool(f"{', '.join(missing)}: `make install-browser` installs them")


def test_console_shows_the_broker_in_chromium(browser_ready, admin, stomp_py, tmp_path):
    broker = admin.broker
    subscriber, heard = stomp_py(broker)
    subscriber.connect(wait=True)
    subscriber.subscribe("/topic/orders", id="orders")
    subscriber.subscribe("/topic/prices", id="prices")
    publisher, _ = stomp_py(broker)
    publisher.connect(wait=True)
    for index in range(25):
        publisher.send("/topic/orders", f"order {index}")
    for index in range(10):
        publisher.send("/topic/prices", f"price {index}")
    for index in range(3):
        publisher.send("/topic/audit", "nobody listens")
    heard.wait_messages(35)
    # A steady trickle while the page is open, so the chart has lines to draw (out = 2 x in:
    # two subscribers).
    live, _ = stomp_py(broker)
    live.connect(wait=True)
    live.subscribe("/topic/live", id="self")
    subscriber.subscribe("/topic/live", id="live", receipt="live")
    heard.wait_for(lambda: "live" in heard.receipts)
    stop = threading.Event()

    def trickle() -> None:
        started = time.monotonic()
        sent = 0
        while not stop.is_set() and sent < 20000:
            live.send("/topic/live", "tick")
            sent += 1
            per_second = 25 + 15 * math.sin((time.monotonic() - started) / 6)
            time.sleep(1 / per_second)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    screenshot = tmp_path / "console.png"
    # XTOMP_CONSOLE_POINTS=60 XTOMP_CONSOLE_SCREENSHOT=docs/admin-console.png makes the README's picture.
    points = int(os.environ.get("XTOMP_CONSOLE_POINTS", "4"))
    expect = {"dest": "/topic/orders", "accepted": "25", "points": points, "timeout": 30000 + 1500 * points}
    try:
        result = subprocess.run(
            ["node", str(DRIVER), admin.url + "/", str(screenshot), json.dumps(expect)],
            capture_output=True, text=True, timeout=90 + 2 * points,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        )
    finally:
        stop.set()
        thread.join(5)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    shown = report["shown"]

    assert report["problems"] == []
    # Nothing beyond the admin endpoint itself: no CDN, no font, no analytics.
    assert report["requests"] and all(url.startswith(admin.url + "/") for url in report["requests"])
    assert shown["title"] == "xtomp console" and shown["status"] == "live"
    assert shown["connections"] == "3" and shown["sessions"] == "3" and shown["transports"] == "tcp 3"
    assert re.fullmatch(r"\d+(\.\d)? MiB", shown["memory"])
    assert re.fullmatch(r"\d+\.\d%", shown["cpu"])
    assert shown["chartPoints"] >= 4
    assert shown["headings"][:9] == [
        "Destination", "Type", "Subscribers", "Depth", "In/s", "Out/s", "Accepted", "Delivered", "Dropped"
    ]
    rows = shown["rows"]
    core = ("dest", "type", "sz", "q", "rate_in", "rate_out", "Σ", "delivered", "dropped")
    orders = rows["/topic/orders"] | {"rate_in": "", "rate_out": ""}
    assert {key: orders[key] for key in core} == {
        "dest": "/topic/orders", "type": "topic", "sz": "1", "q": "0", "rate_in": "", "rate_out": "",
        "Σ": "25", "delivered": "25", "dropped": "0",
    }
    # the figures a destination type adds (the topics' flow control...) get columns of their own
    extra = {key: value for key, value in orders.items() if key not in core}
    assert {"slow_subscribers", "held_producers", "producer_pauses", "slow_disconnects"} <= set(extra)
    assert set(extra.values()) == {"0"}
    assert (rows["/topic/prices"]["Σ"], rows["/topic/prices"]["delivered"]) == ("10", "10")
    assert (rows["/topic/audit"]["Σ"], rows["/topic/audit"]["delivered"], rows["/topic/audit"]["sz"]) == ("3", "0", "0")
    assert float(rows["/topic/live"]["rate_in"]) > 0  # the trickle, measured by the broker
    assert rows["/topic/live"]["sz"] == "2"
    assert "admin.requests" in shown["other"]
    assert screenshot.stat().st_size > 10_000
    copy = os.environ.get("XTOMP_CONSOLE_SCREENSHOT")
    if copy:
        shutil.copy(screenshot, copy)
