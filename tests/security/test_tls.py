"""The tls:// transport with a throwaway CA made at run time: server certificates, minimum version,
client certificates (mutual TLS) as logins, config errors, and no ssl import without a TLS listener."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time

import pytest

from xtomp_core import ConfigError
from xtomp_core.bootstrap import build_broker
from xtomp_core.security.passwords import hash_password
from xtomp_testing import RawClient, TestPKI, stomp_py_connection, write_config

BASE = '[plugins.topics]\n[destinations."/topic/*"]\ntype = "topic"\n'


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> TestPKI:
    """Another CA, whose certificates the broker must not trust."""
    return TestPKI(tmp_path_factory.mktemp("stranger"), name="stranger CA")


def tls_config(pki: TestPKI, extra: str = "") -> str:
    return f"""
[server]
listen = ["127.0.0.1:0", "tls://127.0.0.1:0"]
timeout = "2s"
auth_failure_delay = "0ms"
tls_certificate = "{pki.server.certificate}"
tls_key = "{pki.server.key}"
{extra}
"""


def client_context(pki: TestPKI, certificate=None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if certificate is not None:
        context.load_cert_chain(str(certificate.certificate), str(certificate.key))
    if maximum is not None:
        context.maximum_version = maximum
    return context


def tls_client(broker, context: ssl.SSLContext, timeout: float = 5.0) -> RawClient:
    host, port = broker.addresses("tls")[0]
    return RawClient(host, port, timeout, tls=context)


def refused_handshake(broker, context: ssl.SSLContext) -> None:
    """The broker refuses the client's certificate: the handshake, or the first read, fails."""
    try:
        client = tls_client(broker, context)
    except (ssl.SSLError, ConnectionResetError):
        return  # TLS 1.2: the handshake itself fails
    with client:  # TLS 1.3: the client learns on its first read
        client.send_frame("CONNECT", {"accept-version": "1.2"})
        with pytest.raises(AssertionError, match="closed by the broker"):
            client.recv()


@pytest.mark.parametrize("use_uvloop", [True, False], ids=["uvloop", "asyncio"])
def test_tls_and_tcp_clients_share_destinations(xtomp_factory, pki, use_uvloop):
    broker = xtomp_factory(tls_config(pki), base=BASE, use_uvloop=use_uvloop)
    host, port = broker.addresses("tls")[0]
    subscriber, recorder = stomp_py_connection(host, port)
    subscriber.set_ssl(for_hosts=[(host, port)], ca_certs=str(pki.ca))  # stomp.py over TLS
    subscriber.connect(wait=True)
    try:
        subscriber.subscribe("/topic/mixed", id="1", headers={"receipt": "sub"})
        recorder.wait_for(lambda: "sub" in recorder.receipts)
        with RawClient(broker.host, broker.port) as publisher:  # plain TCP
            publisher.connect()
            publisher.send_frame("SEND", {"destination": "/topic/mixed", "receipt": "r"}, "over tcp, read over tls")
            publisher.expect_receipt("r")
        assert recorder.wait_messages(1)[0].body == "over tcp, read over tls"
        links = broker.call(lambda: sorted(s.link.transport_name for s in broker.broker.sessions))
        assert "tls" in links  # (the TCP publisher may not be gone yet)
    finally:
        subscriber.disconnect()


def test_raw_tls_client_and_large_frames(xtomp_factory, pki):
    broker = xtomp_factory(tls_config(pki), base=BASE)
    body = "x" * 200_000  # several TLS records
    with tls_client(broker, client_context(pki)) as client:
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.connect()
        client.subscribe("/topic/big")
        client.send_frame("SEND", {"destination": "/topic/big"}, body)
        assert client.expect("MESSAGE").body == body.encode()


def test_minimum_version(xtomp_factory, pki):
    broker = xtomp_factory(tls_config(pki, 'tls_min_version = "1.3"'), base=BASE)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_client(broker, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
    with tls_client(broker, client_context(pki)) as client:
        assert client.sock.version() == "TLSv1.3"
        client.connect()


def test_client_certificate_is_the_login(xtomp_factory, pki, stranger):
    extra = f"""
authenticators = ["tls_client_auth"]
tls_verify_client = "required"
tls_client_ca = "{pki.ca}"

[users.alice]
groups = ["ops"]
"""
    broker = xtomp_factory(tls_config(pki, extra), base=BASE)
    with tls_client(broker, client_context(pki, pki.client("alice"))) as alice:
        session = alice.connect().headers[b"session"]
        who = broker.call(lambda: [(s.login, s.principal.groups) for s in broker.broker.sessions if s.id == session])
        assert who == [("alice", ("ops",))]
    with tls_client(broker, client_context(pki, pki.client("alice"))) as alice:
        alice.connect(login="alice")  # naming oneself is fine
    with tls_client(broker, client_context(pki, pki.client("alice"))) as alice:
        alice.send_frame("CONNECT", {"accept-version": "1.2", "login": "root", "passcode": "x"})
        alice.expect_error("auth err")  # a certificate for alice does not log in root
    refused_handshake(broker, client_context(pki))  # no certificate
    refused_handshake(broker, client_context(pki, stranger.client("alice")))  # not signed by our CA
    # plain TCP clients have no certificate, so the chain refuses them
    with RawClient(broker.host, broker.port) as plain:
        plain.send_frame("CONNECT", {"accept-version": "1.2", "login": "alice"})
        plain.expect_error("auth err")


def test_optional_client_certificates_fall_back_to_passwords(xtomp_factory, pki):
    hashed = hash_password("bob-pw", cost=4)
    extra = f"""
authenticators = ["tls_client_auth", "users"]
tls_verify_client = "optional"
tls_client_ca = "{pki.ca}"
tls_login_field = "emailAddress"

[users.bob]
password = "{hashed}"
"""
    broker = xtomp_factory(tls_config(pki, extra), base=BASE)
    with tls_client(broker, client_context(pki, pki.client("Carol C", email="carol@example.com"))) as carol:
        session = carol.connect().headers[b"session"]
        assert broker.call(lambda: [s.login for s in broker.broker.sessions if s.id == session]) == ["carol@example.com"]
    with tls_client(broker, client_context(pki)) as bob:  # no certificate: the password decides
        bob.connect(login="bob", passcode="bob-pw")
    with tls_client(broker, client_context(pki)) as nobody:
        nobody.send_frame("CONNECT", {"accept-version": "1.2"})
        nobody.expect_error("auth err")


def test_handshake_must_finish_within_timeout(xtomp_factory, pki):
    broker = xtomp_factory(tls_config(pki).replace('timeout = "2s"', 'timeout = "300ms"'), base=BASE)
    host, port = broker.addresses("tls")[0]
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=5) as silent:
        assert silent.recv(100) == b""  # closed without a handshake (a hang times out the recv)
        assert time.monotonic() - started >= 0.3 - 0.01  # not before the configured timeout (uvloop: whole ms)
    with socket.create_connection((host, port), timeout=5) as garbage:
        garbage.sendall(b"CONNECT\naccept-version:1.2\n\n\x00")  # STOMP on the TLS port
        try:
            garbage.recv(100)
        except ConnectionResetError:
            pass
    with tls_client(broker, client_context(pki)) as client:  # still serving
        client.connect()


@pytest.mark.parametrize(
    "extra, message",
    [
        ("", None),
        ("tls_certificate = \"/nonexistent/cert.pem\"", "server.tls_certificate: no such file"),
        ("tls_verify_client = \"required\"", "server.tls_verify_client: 'required' needs tls_client_ca"),
        ("tls_verify_client = \"optional\"\ntls_client_ca = \"/nonexistent/ca.pem\"", "server.tls_client_ca: cannot load"),
        ("tls_ciphers = \"NO-SUCH-CIPHER\"", "server.tls_ciphers: OpenSSL accepts none"),
        ("authenticators = [\"tls_client_auth\"]", "\"tls_client_auth\" needs tls_verify_client"),
    ],
)
def test_config_errors(tmp_path, pki, extra, message):
    text = tls_config(pki, extra)
    if "tls_certificate = \"/nonexistent" in extra:
        text = text.replace(f'tls_certificate = "{pki.server.certificate}"\n', "")
    directory = write_config(tmp_path, text, base=BASE)
    if message is None:
        build_broker(directory)  # the certificate and key load
        return
    with pytest.raises(ConfigError, match=message):
        build_broker(directory)


def test_tls_listener_needs_a_certificate(tmp_path):
    directory = write_config(tmp_path, '[server]\nlisten = ["tls://127.0.0.1:0"]\n', base=BASE)
    with pytest.raises(ConfigError, match="server.tls_certificate: a tls:// listener needs a certificate"):
        build_broker(directory)


# -- ssl is imported only with a TLS listener ---------------------------------------------------

BROKER_SCRIPT = r"""
import json, sys
if sys.argv[2] == "block":
    sys.modules["ssl"] = None  # any "import ssl" from now on fails; asyncio copes without it
from xtomp_core.bootstrap import build_broker
from xtomp_testing.runner import BrokerThread

broker = BrokerThread(build_broker(sys.argv[1]), use_uvloop=False).start()
print(json.dumps({"port": broker.port, "loop": type(broker.loop).__module__}), flush=True)
sys.stdin.readline()
print(json.dumps({"modules": sorted(sys.modules), "ssl": sys.modules.get("ssl") is not None}), flush=True)
broker.stop()
"""


@pytest.mark.parametrize("mode", ["block", "plain"])
def test_no_ssl_without_a_tls_listener(tmp_path, mode):
    """The whole security machinery (users, tokens, access rules) runs without ssl.

    CPython's asyncio imports ssl itself when it is available (asyncio.base_events), and so
    does uvloop; the ``xtomp`` command keeps it out (tests/server/test_lazy_imports.py), an
    embedding program like this one does not. What we check here: with ssl made unimportable
    the broker (on asyncio) still starts and serves authenticated clients, so no xtomp code
    path without a tls:// listener needs ssl; and our TLS module is not imported.
    """
    hashed = hash_password("pw", cost=4)
    config = f"""
[server]
listen = ["127.0.0.1:0"]
secret = "0123456789abcdef0123"
auth_failure_delay = "0ms"

[users.alice]
password = "{hashed}"
groups = ["ops"]

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
allow_send = ["@ops"]
"""
    directory = write_config(tmp_path / "conf", config, base="")
    process = subprocess.Popen(
        [sys.executable, "-c", BROKER_SCRIPT, str(directory), mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        assert started["loop"].startswith("asyncio")
        with RawClient("127.0.0.1", started["port"]) as client:
            client.connect(login="alice", passcode="pw")
            client.subscribe("/topic/x")
            client.send_frame("SEND", {"destination": "/topic/x"}, "no ssl needed")
            assert client.expect("MESSAGE").body == b"no ssl needed"
        process.stdin.write("\n")
        process.stdin.flush()
        report = json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        assert process.wait(20) == 0
    modules = set(report["modules"])
    assert "xtomp_core.server.tls" not in modules
    assert {m for m in modules if m.startswith(("cryptography", "jwt"))} == set()
    if mode == "block":
        assert report["ssl"] is False
