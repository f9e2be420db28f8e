"""The ``xtomp`` command imports nothing heavy a configuration does not use: no ``ssl`` (OpenSSL)
without a TLS listener, even though asyncio and uvloop import it themselves
(:mod:`xtomp_core.server.lazyssl`), no ``hashlib``/``hmac`` without a login, and TLS still
works on both event loops when a listener asks for it."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from xtomp_testing import BrokerProcess, RawClient, TestPKI, write_config

#: Imports the idle core + topics broker must not make: each was measured in bench/RESULTS.md
#: ("Where the idle memory goes") and made lazy; one coming back fails this test.
HEAVY = (
    "ssl", "_ssl",  # OpenSSL (libssl + libcrypto), asyncio's and uvloop's import
    "hashlib", "_hashlib", "hmac",  # libcrypto again: passwords, tokens, the static login
    "websockets", "xtomp_websocket",  # a disabled plugin
    "xtomp_core.server.tls",
    "argparse", "shutil",  # the command line's parser (its help formatter imports shutil, bz2, lzma)
    "importlib.resources", "tempfile",  # importlib.abc's imports
    "difflib",  # "did you mean", on the error path only
    "encodings.idna", "stringprep", "unicodedata",  # uvloop's encoding of a text listen host
    "pathlib", "urllib.parse", "ipaddress",  # config paths, listen URLs, protected mode's loopback test
    # authenticators nobody configured (no login, [users] password, secret or tls_client_auth)
    "xtomp_core.security.passwords", "xtomp_core.security.token", "xtomp_core.security.tls_client",
    "dataclasses",  # the module and the code it compiles per class: xtomp_core._record instead
    "tomllib", "datetime",  # the config's reader: dropped once the files are read (config/loader.py)
    "resource",  # the open-file limit comes from os.sysconf (security/admission.py)
    # what only a first request or connection needs (checked with the plugins enabled below)
    "xtomp_admin.http", "xtomp_admin.metrics",  # the admin listener's HTTP server and Prometheus writer
)

#: What only the first connection imports (server/connections.py): an idle broker does without.
FIRST_CONNECTION = (
    "xtomp_core.server.connection", "xtomp_core.server.framed",
    "xtomp_core.broker.session", "xtomp_core.broker.acks", "xtomp_core.broker.receipts",
    "xtomp_core.broker.transactions", "xtomp_core.broker.filtering",
    "xtomp_core.protocol.parser", "xtomp_core.protocol._scanner", "xtomp_core.protocol.negotiation",
    "xtomp_core.protocol.frame",
)

SLIM = """
[server]
listen = ["127.0.0.1:0"]

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
"""

#: The ``xtomp`` command, writing its sys.modules to argv[2] as it exits.
CLI_SCRIPT = r"""
import atexit, sys
atexit.register(lambda: open(sys.argv[2], "w").write("\n".join(sorted(sys.modules))))
from xtomp_core.cli import main
sys.exit(main(["-c", sys.argv[1]]))
"""

LOOPS = {"uvloop": {}, "asyncio": {"XTOMP_NO_UVLOOP": "1"}}


def cli_modules(tmp_path: Path, config: str, env: dict[str, str], exercise, as_file: bool = False) -> set[str]:
    """Run ``config`` under the xtomp command (``-c DIR``, or ``-c FILE.toml`` when ``as_file``),
    ``exercise(broker)``, stop it: its sys.modules."""
    report = tmp_path / "modules.json"
    # Under `make test` (coverage run, patch = subprocess) every child would start coverage,
    # which imports hashlib, urllib.parse... itself: this child runs without it.
    env = {**env, "COVERAGE_PROCESS_START": "", "COVERAGE_PROCESS_CONFIG": ""}
    directory = write_config(tmp_path / "conf", config, base="")
    path = tmp_path / "xtomp.toml" if as_file else directory
    if as_file:
        path.write_text(config)
    broker = BrokerProcess(directory, env=env)
    broker.command = [sys.executable, "-c", CLI_SCRIPT, str(path), str(report)]
    with broker:
        exercise(broker)
        assert broker.stop() == 0
    return set(report.read_text().split())


def pub_sub(port: int, tls: ssl.SSLContext | None = None) -> None:
    with RawClient("127.0.0.1", port, tls=tls) as subscriber, RawClient("127.0.0.1", port, tls=tls) as publisher:
        subscriber.connect()
        subscriber.subscribe("/topic/lazy")
        publisher.connect()
        publisher.send_frame("SEND", {"destination": "/topic/lazy", "receipt": "r"}, "hello")
        publisher.expect_receipt("r")
        assert subscriber.expect("MESSAGE").body == b"hello"


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_slim_broker_imports_nothing_heavy(tmp_path, loop):
    modules = cli_modules(tmp_path, SLIM, LOOPS[loop], lambda broker: pub_sub(broker.port))
    assert "xtomp_topics" in modules
    assert ("uvloop" in modules) == (loop == "uvloop")
    assert sorted(modules & set(HEAVY)) == []


def test_a_toml_file_is_read_without_the_nginx_reader(tmp_path):
    """``-c FILE.toml`` never imports the reader of xtomp's nginx-style files (with the
    pathlib and dataclasses it needs: 0.9 MB of an idle broker)."""
    modules = cli_modules(tmp_path, SLIM, LOOPS["uvloop"], lambda broker: pub_sub(broker.port), as_file=True)
    assert "xtomp_topics" in modules
    assert sorted(modules & {*HEAVY, "xtomp_core.config.nginx"}) == []


def test_the_connection_code_waits_for_the_first_connection(tmp_path):
    """Idle (nothing connected), the broker has not imported its connections' and sessions'
    modules; the first connection imports them and works."""
    idle = cli_modules(tmp_path / "idle", SLIM, LOOPS["uvloop"], lambda broker: None)
    assert "xtomp_topics" in idle
    assert sorted(idle & set(FIRST_CONNECTION)) == []
    used = cli_modules(tmp_path / "used", SLIM, LOOPS["uvloop"], lambda broker: pub_sub(broker.port))
    assert set(FIRST_CONNECTION) <= used


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_plugin_listeners_import_nothing_heavy(tmp_path, loop):
    """The WebSocket and admin listeners pass their host through listen_host too; ws:// URLs
    are read without urllib.parse, the admin console's files found without pathlib."""
    pytest.importorskip("xtomp_websocket")
    pytest.importorskip("xtomp_admin")
    config = SLIM + """
[plugins.websocket]
listen = ["ws://127.0.0.1:0/ws"]

[plugins.admin]
listen = "127.0.0.1:0"
"""
    modules = cli_modules(tmp_path, config, LOOPS[loop], lambda broker: pub_sub(broker.port))
    assert "xtomp_admin" in modules and "xtomp_websocket" in modules
    assert sorted(modules & set(HEAVY) - {"xtomp_websocket"}) == []


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_tls_listener_works_on_both_loops(tmp_path, loop):
    pki = TestPKI(tmp_path / "pki")
    config = SLIM.replace(
        'listen = ["127.0.0.1:0"]',
        f'listen = ["tls://127.0.0.1:0"]\ntls_certificate = "{pki.server.certificate}"\ntls_key = "{pki.server.key}"',
    )
    context = ssl.create_default_context(cafile=str(pki.ca))
    modules = cli_modules(tmp_path, config, LOOPS[loop], lambda broker: pub_sub(broker.port, context))
    assert "ssl" in modules and "xtomp_core.server.tls" in modules


#: In a fresh interpreter: asyncio imported without ssl, then ssl imported late by someone.
LATE_SSL_SCRIPT = r"""
import json, sys
from xtomp_core.server import lazyssl
assert lazyssl.import_asyncio_without_ssl()
import asyncio, asyncio.base_events, asyncio.selector_events, asyncio.sslproto
before = [getattr(sys.modules[name], "ssl", None) is None for name in lazyssl.ASYNCIO_SSL_MODULES]
uvloop = lazyssl.import_uvloop() if sys.argv[1] == "uvloop" else None
import ssl  # anyone's late import hands asyncio the module
after = [sys.modules[name].ssl is ssl for name in lazyssl.ASYNCIO_SSL_MODULES]
again = asyncio.sslproto.SSLAgainErrors == (ssl.SSLWantReadError, ssl.SSLSyscallError)
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_context.load_cert_chain(sys.argv[2], sys.argv[3])
client_context = ssl.create_default_context(cafile=sys.argv[4])

async def round_trip():
    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
    try:
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context)
    except Exception as error:
        return type(error).__name__
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context, server_hostname="localhost")
    writer.write(b"over tls\n")
    line = await reader.readline()
    writer.close()
    server.close()
    return line.decode()

loop = uvloop.new_event_loop() if uvloop else asyncio.new_event_loop()
print(json.dumps({"before": before, "after": after, "again": again, "tls": loop.run_until_complete(round_trip()),
                  "loop": type(loop).__module__, "meta_path": [type(f).__name__ for f in sys.meta_path]}))
"""


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_late_ssl_import_gives_asyncio_tls_and_uvloop_a_clear_error(tmp_path, loop):
    pki = TestPKI(tmp_path / "pki")
    output = subprocess.run(
        [sys.executable, "-c", LATE_SSL_SCRIPT, loop, str(pki.server.certificate), str(pki.server.key), str(pki.ca)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    ).stdout
    report = json.loads(output)
    assert report["before"] == [True, True, True]  # asyncio was imported as if ssl were absent
    assert report["after"] == [True, True, True] and report["again"]  # the state a normal import leaves
    assert "_SslArrival" not in report["meta_path"]  # the finder left once it had done its work
    if loop == "asyncio":
        assert report["tls"] == "over tls\n"
    else:  # uvloop copied the stand-in: TLS on it fails loudly, never half-works
        assert report["loop"].startswith("uvloop") and report["tls"] == "SslNotLoaded"


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_wss_listener_works_on_both_loops(tmp_path, loop):
    """ssl comes from the websocket plugin's wss:// listener (prepared before the loop exists)."""
    pytest.importorskip("xtomp_websocket")
    pki = TestPKI(tmp_path / "pki")
    config = SLIM + f"""
[plugins.websocket]
listen = ["wss://127.0.0.1:0/ws"]
certificate = "{pki.server.certificate}"
private_key = "{pki.server.key}"
"""
    context = ssl.create_default_context(cafile=str(pki.ca))

    def upgrade(broker: BrokerProcess) -> None:
        port = next(port for scheme, _, port in broker.addresses if scheme == "wss")
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 101 ")

    modules = cli_modules(tmp_path, config, LOOPS[loop], upgrade)
    assert "ssl" in modules and "websockets" in modules


def test_queue_priorities_and_expiry_wait_for_a_message_that_uses_them(tmp_path):
    """A queue imports its priority levels and its expiry timer with the first message that
    has a priority or a deadline, and then delivers by priority and expires as before."""
    pytest.importorskip("xtomp_queues")
    config = SLIM + '\n[plugins.queues]\n\n[destinations."/queue/*"]\ntype = "queue"\n'
    lazy = {"xtomp_queues.priority", "xtomp_queues.expiry"}

    def plain(broker: BrokerProcess) -> None:
        with RawClient("127.0.0.1", broker.port) as client:
            client.connect()
            client.send_frame("SEND", {"destination": "/queue/plain", "receipt": "r"}, "hello")
            client.expect_receipt("r")
            client.subscribe("/queue/plain")
            assert client.expect("MESSAGE").body == b"hello"

    def ranked(broker: BrokerProcess) -> None:
        with RawClient("127.0.0.1", broker.port) as client:
            client.connect()
            for body, headers in (("low", {"priority": "1"}), ("high", {"priority": "9"}),
                                  ("gone", {"expires": "1"})):  # 1 ms after 1970: expired on arrival
                client.send_frame("SEND", {"destination": "/queue/ranked", "receipt": body, **headers}, body)
                client.expect_receipt(body)
            client.subscribe("/queue/ranked")
            assert [client.expect("MESSAGE").body for _ in range(2)] == [b"high", b"low"]
            client.expect_nothing(0.1)

    modules = cli_modules(tmp_path / "plain", config, LOOPS["uvloop"], plain)
    assert "xtomp_queues.queue" in modules and sorted(modules & lazy) == []
    assert lazy <= cli_modules(tmp_path / "ranked", config, LOOPS["uvloop"], ranked)
