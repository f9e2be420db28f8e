"""Zero work at idle with every security feature on: a TLS listener, password logins checked in
worker threads, a failed login counted, access rules, frame_timeout, connection caps. After the
traffic, the broker process makes no wakeups (no timer is left behind by any of them)."""

from __future__ import annotations

import ssl

from tests.server.test_idle import QUIET_TICKS, clock, quiet_period  # noqa: F401 (clock: fixture)

from xtomp_core.security.passwords import hash_password
from xtomp_testing import BrokerProcess, RawClient, TestPKI, write_config


def test_idle_secured_broker_makes_no_wakeups(tmp_path, clock):
    pki = TestPKI(tmp_path / "pki")
    config = f"""
[server]
listen = ["127.0.0.1:0", "tls://127.0.0.1:0"]
tls_certificate = "{pki.server.certificate}"
tls_key = "{pki.server.key}"
auth_failure_delay = "50ms"
frame_timeout = "2s"  # shorter than the quiet period: a timer left armed would show

[users.alice]
password = "{hash_password('pw', cost=4)}"
groups = ["ops"]

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
allow_send = ["@ops"]
"""
    context = ssl.create_default_context(cafile=str(pki.ca))
    with BrokerProcess(write_config(tmp_path / "conf", config, base="")) as broker:
        tls_port = next(port for scheme, _, port in broker.addresses if scheme == "tls")
        clients = []
        for index in range(20):
            client = RawClient("127.0.0.1", tls_port if index % 2 else broker.port, tls=context if index % 2 else None)
            client.connect(login="alice", passcode="pw")
            client.subscribe("/topic/idle", id=str(index))
            clients.append(client)
        clients[0].send(b"SEND\ndestination:/topic/idle\n")  # a partial frame arms frame_timeout ...
        clients[0].send(b"\nhello\x00")  # ... completing it disarms it
        for client in clients:
            assert client.expect("MESSAGE").body == b"hello"
        with RawClient("127.0.0.1", broker.port) as wrong:  # a failed login (and its delay)
            wrong.send_frame("CONNECT", {"accept-version": "1.2", "login": "alice", "passcode": "guess"})
            wrong.expect_error("auth err")
        wakeups, ticks = quiet_period(broker.pid, clock)
        assert wakeups <= 2, f"{wakeups} context switches in {QUIET_TICKS} clock ticks of idleness"
        assert ticks <= 1, f"{ticks} CPU ticks in {QUIET_TICKS} clock ticks of idleness"
        for client in clients:
            client.close()
