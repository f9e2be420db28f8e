"""@stomp/stompjs in node: subscribers with selectors and a filter, and the ERROR for a bad selector.

The client runs over plain TCP through a WebSocket-shaped adapter (see stompjs/filters.mjs).
Skipped only when node is missing; `make install` installs stompjs (npm ci) next to the script.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from xtomp_testing.tools import missing_tool

NODE = shutil.which("node")
HERE = Path(__file__).resolve().parent / "stompjs"



def test_stompjs_subscribers_get_what_their_selectors_say(broker):
    if NODE is None:
        missing_tool("node (Debian: apt-get install nodejs npm)")
    if not (HERE / "node_modules" / "@stomp" / "stompjs").is_dir():
        missing_tool(f"@stomp/stompjs in {HERE}: `make test` runs npm ci there")
    assert NODE is not None
    run = subprocess.run([NODE, str(HERE / "filters.mjs"), str(broker.port)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(map(tuple, result["received"])) == [
        ("big", "m2"), ("blue", "m1"), ("eu", "m1"), ("eu", "m2"), ("pay", "m3"), ("pay", "m4"),
    ]
    assert result["errors"] == [
        "invalid selector - at position 18: expected a value, a header name or '(', found the end of the selector"
    ]
