"""Where xtomp's idle memory goes: RSS of the interpreter, of each import, and of the idle broker.

    .venv/bin/python -m bench.footprint              # the bundled conf.d/ (make run)
    .venv/bin/python -m bench.footprint --config DIR # another configuration

Each step runs in a fresh interpreter, so each figure is what that step adds on top of the
one before it. The last line starts the broker with the configuration, waits until it
listens, lets it settle and reads its resident set (``VmRSS``) and its peak (``VmHWM``). A
configuration may listen on port 0: the broker's ``listening on`` log line says which port the
OS gave it, and the last line reports it (``port``).

xtomp's own modules are byte-compiled first (``__pycache__``), as pip does when it installs a
wheel and as a broker's first run does unless ``PYTHONDONTWRITEBYTECODE`` is set: compiling
from source at every start leaves about 1 MB more RSS behind (the compiler's peak).
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from .run import rss_kb

ROOT = Path(__file__).resolve().parents[1]

#: How the ``xtomp`` command imports asyncio: with ``ssl`` out of reach (xtomp_core/server/lazyssl.py).
ASYNCIO = "import sys; sys.modules['ssl'] = None; import asyncio; del sys.modules['ssl']"
CORE = ("from xtomp_core.server.lazyssl import import_asyncio_without_ssl, import_uvloop; "
        "import_asyncio_without_ssl(); import xtomp_core.server.app, xtomp_core.cli, xtomp_core.bootstrap")
PLUGINS = ("import xtomp_topics.plugin, xtomp_queues.plugin, xtomp_filters.plugin, xtomp_websocket.plugin, "
           "xtomp_websocket.transport, xtomp_admin.plugin")

#: (label, code run before RSS is read): each step includes the ones above it.
STEPS = [
    ("python -c pass (the interpreter, site included)", "pass"),
    ("+ import asyncio, without ssl (as the xtomp command imports it)", ASYNCIO),
    ("+ the core (server, broker, codec, config)", CORE),
    ("+ import uvloop (without ssl, as the xtomp command imports it)", CORE + "; import_uvloop()"),
    ("+ the default plugins' modules", CORE + "; import_uvloop(); " + PLUGINS),
]

#: Shown apart, for comparison: what CPython's own import of asyncio costs (ssl and OpenSSL with it).
PLAIN_ASYNCIO = ("python -c 'import asyncio' (ssl included)", "import asyncio")

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


#: The broker's log line for each listener, in configuration order (``[server] listen`` first).
LISTENING = re.compile(r"listening on \w+://(.+):(\d+)")


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its sockets matched against /proc/PID/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(process: subprocess.Popen[str], port: int, log: list[str], timeout: float = 60.0) -> int:
    """The port of the broker's first listener, once it listens: ``port``, or when that is 0 the one
    its ``listening on`` log line names."""
    deadline = time.monotonic() + timeout
    while True:
        for line in list(log):
            match = LISTENING.search(line)
            if match:
                return int(match.group(2))
        if port and port in listening_ports(process.pid):
            return port
        if process.poll() is not None:
            raise SystemExit(f"the broker exited with status {process.returncode}:\n{''.join(log)[-2000:]}")
        if time.monotonic() > deadline:
            hint = " (port 0 needs its 'listening on' line: log_level info, log_target stderr)" if not port else ""
            raise SystemExit(f"the broker did not listen within {timeout:.0f} s{hint}")
        time.sleep(0.05)


def _collect(stream: IO[str], log: list[str]) -> None:
    for line in stream:
        log.append(line)


def broker_kb(config: Path) -> tuple[int, int, int]:
    """The idle broker's RSS and peak RSS (KB), and the port of its first listener."""
    port = listen_port(config)
    if port:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"something already listens on 127.0.0.1:{port}: stop it first")
    process = subprocess.Popen([sys.executable, "-m", "xtomp_core", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    log: list[str] = []
    threading.Thread(target=_collect, args=(process.stderr, log), daemon=True).start()
    try:
        bound = wait_listening(process, port, log)
        time.sleep(3.0)
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(status.split("VmHWM:")[1].split()[0])
        return rss_kb([process.pid]), peak, bound
    finally:
        process.terminate()
        process.wait(20)


def compile_sources() -> None:
    """Byte-compile the core and every plugin in this checkout (an
    editable install runs them from here), as an installed wheel is."""
    for directory in [ROOT / "xtomp_core", *ROOT.glob("plugins/*/xtomp_*")]:
        compileall.compile_dir(str(directory), quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "conf.d")
    options = parser.parse_args()
    compile_sources()
    previous = 0
    rows = []
    for label, code in STEPS:
        try:
            kb = step_kb(code)
        except subprocess.CalledProcessError:
            continue  # uvloop or a plugin not installed: its step is skipped
        rows.append({"step": label, "rss_mb": round(kb / 1024, 1), "adds_mb": round((kb - previous) / 1024, 1)})
        previous = kb
    try:
        plain = step_kb(PLAIN_ASYNCIO[1])
    except subprocess.CalledProcessError:
        plain = 0
    rss, peak, port = broker_kb(options.config)
    rows.append({"step": f"idle broker, {options.config}", "rss_mb": round(rss / 1024, 1),
                 "adds_mb": round((rss - previous) / 1024, 1), "peak_mb": round(peak / 1024, 1), "port": port})
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print("\n| step | RSS MB | adds MB |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['step']} | {row['rss_mb']} | {row['adds_mb']} |")
    if plain:
        print(f"\nfor comparison, {PLAIN_ASYNCIO[0]}: {plain / 1024:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
