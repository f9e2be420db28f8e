"""Where xtomp's idle memory goes: RSS of the interpreter, of each import, and of the idle broker.

    .venv/bin/python -m bench.footprint              # the bundled conf.d/ (make run)
    .venv/bin/python -m bench.footprint --config DIR # another configuration

Each step runs in a fresh interpreter, so each figure is what that step adds on top of the
one before it. The last line starts the broker with the configuration, waits until it
listens, lets it settle and reads its resident set (``VmRSS``) and its peak (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from .run import rss_kb, wait_port

ROOT = Path(__file__).resolve().parents[1]

#: (label, code run before RSS is read): each step includes the ones above it.
STEPS = [
    ("python -c pass (the interpreter, site included)", "pass"),
    ("+ import asyncio (imports ssl too)", "import asyncio"),
    ("+ import uvloop", "import asyncio, uvloop"),
    ("+ the core (server, broker, codec, config)", "import asyncio, uvloop, xtomp_core.server.app, xtomp_core.cli"),
    ("+ the default plugins' modules",
     "import asyncio, uvloop, xtomp_core.server.app, xtomp_core.cli, xtomp_topics.plugin, xtomp_queues.plugin, "
     "xtomp_filters.plugin, xtomp_websocket.plugin, xtomp_admin.plugin"),
]

READ_RSS = (
    "\nimport re\n"
    "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
)


def step_kb(code: str) -> int:
    result = subprocess.run([sys.executable, "-c", code + READ_RSS], capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1])


def listen_port(config: Path) -> int:
    """The first ``listen`` port of the configuration, read as the broker reads it."""
    from xtomp_core.config.listen import parse_listen
    from xtomp_core.config.loader import read_config

    entries = read_config(config).data.get("server", {}).get("listen", ["61613"])
    return parse_listen(entries[0]).port


def broker_kb(config: Path) -> tuple[int, int]:
    port = listen_port(config)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"something already listens on 127.0.0.1:{port}: stop it first")
    process = subprocess.Popen([sys.executable, "-m", "xtomp_core", "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(3.0)
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(status.split("VmHWM:")[1].split()[0])
        return rss_kb([process.pid]), peak
    finally:
        process.terminate()
        process.wait(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "conf.d")
    options = parser.parse_args()
    previous = 0
    rows = []
    for label, code in STEPS:
        try:
            kb = step_kb(code)
        except subprocess.CalledProcessError:
            continue  # uvloop or a plugin not installed: its step is skipped
        rows.append({"step": label, "rss_mb": round(kb / 1024, 1), "adds_mb": round((kb - previous) / 1024, 1)})
        previous = kb
    rss, peak = broker_kb(options.config)
    rows.append({"step": f"idle broker, {options.config}", "rss_mb": round(rss / 1024, 1),
                 "adds_mb": round((rss - previous) / 1024, 1), "peak_mb": round(peak / 1024, 1)})
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print("\n| step | RSS MB | adds MB |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['step']} | {row['rss_mb']} | {row['adds_mb']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
