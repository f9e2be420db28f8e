"""stomp.py's ``WSConnection`` (websocket-client underneath), the README's Python WebSocket
client, over ws:// and over wss:// with a certificate it verifies, talking to a TCP client."""

from __future__ import annotations

import pytest
import stomp

from xtomp_testing import RawClient, Recorder, TestPKI, wait_until


@pytest.fixture(params=["ws", "wss"])
def scheme(request):
    return request.param


@pytest.fixture
def broker(ws_broker, scheme, tmp_path):
    if scheme == "ws":
        return ws_broker(), None
    pki = TestPKI(tmp_path / "pki")
    options = f'certificate = "{pki.server.certificate}"\nprivate_key = "{pki.server.key}"'
    return ws_broker(options, listen='"wss://127.0.0.1:0/ws"'), pki


def test_stomp_py_wsconnection_both_ways(broker, scheme):
    broker, pki = broker
    host, port = broker.addresses(scheme)[0]
    connection = stomp.WSConnection([(host, port)], ws_path="/ws", reconnect_attempts_max=1, timeout=5)
    if pki is not None:
        connection.set_ssl(for_hosts=[(host, port)], ca_certs=str(pki.ca))
    recorder = Recorder()
    connection.set_listener("recorder", recorder)
    connection.connect(wait=True)
    try:
        # the broker sees it on the listener it was meant for
        names = broker.call(lambda: [s.link.transport_name for s in broker.broker.sessions])
        assert names == [scheme]
        connection.subscribe("/topic/py", id="1", receipt="subscribed")
        recorder.wait_for(lambda: "subscribed" in recorder.receipts)
        with RawClient(*broker.addresses("tcp")[0]) as tcp:
            tcp.connect()
            tcp.subscribe("/topic/back")
            tcp.send_frame("SEND", {"destination": "/topic/py", "receipt": "r"}, "to stomp.py")
            tcp.expect_receipt("r")
            [message] = recorder.wait_messages(1)
            assert message.body == "to stomp.py" and message.headers["subscription"] == "1"
            connection.send("/topic/back", "from stomp.py")
            assert tcp.expect("MESSAGE").body == b"from stomp.py"
        assert recorder.errors == []
    finally:
        connection.disconnect()
    wait_until(lambda: broker.call(lambda: len(broker.broker.sessions)) == 0, what="the session closed")
