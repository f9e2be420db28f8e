"""bench/connection_memory.py: every connection is seen, and its cost is split by allocation site."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_cost_per_connection_by_site(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    result = subprocess.run([sys.executable, "-m", "bench.connection_memory", "--connections", "60", "--loop", loop],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    record = json.loads(lines[0])
    assert record["loop"] == loop and record["connections"] == record["sessions_seen"] == 60
    # The broker's own objects (connection, session, parser, subscription) are in the trace,
    # and the sites account for the total (the client's memory is in another process).
    assert record["by_area"]["xtomp core"] > 0
    assert sum(record["by_area"].values()) == pytest.approx(record["bytes_per_connection"], abs=len(record["by_area"]))
    table = "\n".join(lines)
    assert "self.session = Session(self.kind.broker, self)" in table
    assert "| allocation site | code | bytes per connection | blocks per connection |" in table
