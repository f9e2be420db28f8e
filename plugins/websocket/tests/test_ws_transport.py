"""Listeners: STOMP and WebSocket on one port, wss:// with a certificate made at run time, config errors, lazy imports."""

from __future__ import annotations

import datetime
import ssl
import subprocess
import sys
import textwrap
import time

import pytest
from wsraw import WsClient, ws_config

from xtomp_core import ConfigError
from xtomp_testing import RawClient, load_broker, wait_until, write_config


# -- plain_stomp: STOMP and WebSocket on the same port -------------------------------------------------


@pytest.fixture(params=["uvloop", "asyncio"])
def shared_port(ws_broker, request):
    """Both loops: the hand-over relies on the transport's set_protocol."""
    return ws_broker("plain_stomp = true", server='timeout = "1500ms"', use_uvloop=request.param == "uvloop")


def test_plain_stomp_and_websocket_on_one_port(shared_port, ws_client):
    host, port = shared_port.addresses("ws")[0]
    with RawClient(host, port) as tcp:  # plain STOMP to the WebSocket port
        assert tcp.connect().headers[b"version"] == b"1.2"
        tcp.subscribe("/topic/shared")
        web = ws_client(shared_port)
        web.handshake()
        web.connect()
        web.send_stomp("SEND", {"destination": "/topic/shared", "receipt": "r"}, "same port")
        web.expect("RECEIPT")
        assert tcp.expect("MESSAGE").body == b"same port"
        # both open now, each told apart by its first bytes
        names = shared_port.call(lambda: sorted(s.link.transport_name for s in shared_port.broker.sessions))
        assert names == ["tcp", "ws"]


def test_plain_stomp_told_apart_byte_by_byte(shared_port):
    host, port = shared_port.addresses("ws")[0]
    with RawClient(host, port) as tcp:
        tcp.send_in_pieces(b"\nCONNECT\naccept-version:1.2\nhost:localhost\n\n\x00", size=1, pause=0.005)
        assert tcp.expect("CONNECTED").headers[b"version"] == b"1.2"
    raw = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with WsClient(host, port) as web:
        web.send(raw[:2])  # "GE", a prefix of "GET ": the broker waits for more
        time.sleep(0.05)
        assert web.request(raw[2:]).status == 101
        web.connect()


def test_health_check_on_a_shared_port(shared_port):
    import urllib.request

    host, port = shared_port.addresses("ws")[0]
    with urllib.request.urlopen(f"http://{host}:{port}/health_check", timeout=5) as answer:
        assert answer.status == 200


def test_a_silent_connection_on_a_shared_port_times_out(shared_port):
    host, port = shared_port.addresses("ws")[0]
    with RawClient(host, port) as client:
        client.expect_closed(timeout=3)


# -- wss:// ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for localhost/127.0.0.1, made now with cryptography."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def client_context(cert_path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_path))
    return context


def test_wss(ws_broker, ws_client, certificate):
    cert_path, key_path = certificate
    broker = ws_broker(
        f'certificate = "{cert_path}"\nprivate_key = "{key_path}"', listen='"wss://127.0.0.1:0/ws"'
    )
    web = ws_client(broker, scheme="wss", tls=client_context(cert_path))
    web.handshake()
    web.connect()
    web.subscribe("/topic/secure")
    assert broker.call(lambda: [s.link.transport_name for s in broker.broker.sessions]) == ["wss"]
    with RawClient(*broker.addresses("tcp")[0]) as tcp:
        tcp.connect()
        tcp.send_frame("SEND", {"destination": "/topic/secure", "receipt": "r"}, "encrypted")
        tcp.expect_receipt("r")
    assert web.expect("MESSAGE").body == b"encrypted"
    web.send_stomp("DISCONNECT", {"receipt": "bye"})
    web.expect("RECEIPT")
    web.expect_close(1000)
    wait_until(lambda: broker.call(lambda: len(broker.broker.sessions)) == 0, what="the wss session gone")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_wss_and_plain_stomp_over_tls_on_one_port(ws_broker, certificate, loop):
    cert_path, key_path = certificate
    broker = ws_broker(
        f'certificate = "{cert_path}"\nprivate_key = "{key_path}"\nplain_stomp = true',
        listen='"wss://127.0.0.1:0/ws"',
        use_uvloop=loop == "uvloop",
    )
    host, port = broker.addresses("wss")[0]
    with WsClient(host, port, tls=client_context(cert_path)) as web:
        web.handshake()
        web.connect()
    with WsClient(host, port, tls=client_context(cert_path)) as tls:  # STOMP over TLS, no WebSocket
        tls.send(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00")
        tls._wait(lambda: b"\x00" in tls.buffer, "CONNECTED")
        assert tls.buffer.startswith(b"CONNECTED\nversion:1.2\n")


# -- configuration errors ---------------------------------------------------------------------------


def broker_from(tmp_path, text: str):
    return load_broker(write_config(tmp_path, text))


def test_wss_without_a_certificate_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"plugins\.websocket\.certificate: a wss:// listener needs certificate"):
        broker_from(tmp_path, ws_config(listen='"wss://127.0.0.1:0/ws"'))


def test_an_unreadable_certificate_is_a_config_error(tmp_path):
    text = ws_config(f'certificate = "{tmp_path}/nope.pem"\nprivate_key = "{tmp_path}/nope.key"',
                     listen='"wss://127.0.0.1:0/ws"')
    with pytest.raises(ConfigError, match=r"50-test.toml: plugins\.websocket\.certificate: cannot load"):
        broker_from(tmp_path, text)


def test_only_websocket_listeners_in_the_plugin_table(tmp_path):
    with pytest.raises(ConfigError, match=r"plugins\.websocket\.listen: 'tcp://127.0.0.1:1': only ws:// and wss://"):
        broker_from(tmp_path, ws_config(listen='"tcp://127.0.0.1:1"'))
    with pytest.raises(ConfigError, match=r"plugins\.websocket\.listen: 'ws://nowhere'"):
        broker_from(tmp_path / "b", ws_config(listen='"ws://nowhere"'))


def test_ws_listeners_in_the_server_table_work_too(xtomp_factory, ws_client):
    broker = xtomp_factory(
        "[plugins.websocket]\n",
        base="[server]\nlisten = [\"127.0.0.1:0\", \"ws://127.0.0.1:0/stomp\"]\n[plugins.topics]\n"
        '[destinations."/topic/*"]\ntype = "topic"\n',
    )
    web = ws_client(broker)
    web.handshake(path="/stomp")
    web.connect()


def test_bad_values_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="frame_type"):
        broker_from(tmp_path, ws_config('frame_type = "json"'))


# -- lazy imports -----------------------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import socket, sys
    from xtomp_testing import load_broker
    from xtomp_testing.runner import BrokerThread

    def loaded():
        return sorted(name for name in sys.modules if name.split(".")[0] == "websockets")

    broker = BrokerThread(load_broker(sys.argv[1])).start()
    print("started:", loaded())
    for host, port in broker.addresses("ws"):
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")
            print("handshake:", sock.recv(100).split(b"\\r\\n")[0].decode())
        print("connected:", loaded())
    print("plugin:", sorted(name for name in sys.modules if name.split(".")[0] == "xtomp_websocket"))
    broker.stop()
    """
)


@pytest.mark.parametrize("enabled", [False, True])
def test_websockets_is_imported_only_at_the_first_websocket_connection(tmp_path, enabled):
    """Enabling the plugin imports its small modules; the websockets library (2.5 MB with its
    own imports) waits for the first WebSocket connection."""
    text = ws_config() if enabled else ""
    directory = write_config(tmp_path / "conf", text)
    output = subprocess.run([sys.executable, "-c", PROBE, str(directory)], capture_output=True, text=True, check=True)
    lines = output.stdout.splitlines()
    assert lines[0] == "started: []"
    if enabled:
        assert lines[1] == "handshake: HTTP/1.1 101 Switching Protocols"
        assert "websockets.server" in lines[2]
        assert "xtomp_websocket.plugin" in lines[3]
    else:
        assert lines[1] == "plugin: []"
