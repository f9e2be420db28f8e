"""A transport plugin's Framing: a version cap set before CONNECT, and its own goodbye.

The WebSocket plugin caps the STOMP version at what its subprotocol allows (``v11.stomp``)
and ends a connection with its own closing handshake instead of a TCP half-close; both are
driven here through an in-process transport with a pass-through framing over real sockets.
"""

from __future__ import annotations

import asyncio

import pytest

from xtomp_core import hookimpl
from xtomp_core.protocol import V1_0, V1_1, V1_2, negotiate_version
from xtomp_testing import BASE_CONFIG, RawClient


@pytest.mark.parametrize(
    ("offered", "cap", "expected"),
    [
        (b"1.0,1.1,1.2", V1_2, V1_2),
        (b"1.0,1.1,1.2", V1_1, V1_1),
        (b"1.2,1.0", V1_1, V1_0),
        (b"1.2", V1_1, None),
        (b"1.2", V1_0, None),
        (None, V1_0, V1_0),  # no accept-version header: 1.0, allowed under any cap
    ],
)
def test_negotiate_version_with_a_cap(offered, cap, expected):
    assert negotiate_version(offered, cap) == expected


class CappedFraming:
    """A pass-through Framing that caps the version at 1.1 and records each goodbye."""

    transport_name = "capped"
    web = False
    header_for = None  # the header depends on the length alone (header() below)
    goodbyes: list[str] = []

    def attach(self, stream):
        self.stream = stream
        stream.limit_version(V1_1)

    def data_received(self, data):
        self.stream.receive(data)

    def holds_partial_frame(self):
        return False

    def header(self, length):
        return b""

    def goodbye(self, reason):
        CappedFraming.goodbyes.append(reason)
        return None  # nothing to say at this level: close the socket after the queued frames

    def timed_out(self):
        return False


class CappedTransport:
    def prepare(self, address, context):
        pass

    async def listen(self, address, context):
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: context.connection(CappedFraming()), address.host, address.port)
        return server, [sock.getsockname()[:2] for sock in server.sockets]


class CappedPlugin:
    @hookimpl
    def xtomp_register_transports(self, registry):
        registry.register("capped", CappedTransport())


@pytest.fixture
def capped(xtomp_factory):
    CappedFraming.goodbyes.clear()
    base = BASE_CONFIG.replace('listen = ["127.0.0.1:0"]', 'listen = ["capped://127.0.0.1:0"]')
    broker = xtomp_factory(base=base, plugins=[("capped", CappedPlugin())])
    return broker


def test_a_capped_connection_negotiates_at_most_the_cap(capped):
    with RawClient(capped.host, capped.port) as client:
        connected = client.connect("1.0,1.1,1.2")
        assert connected.headers[b"version"] == b"1.1"
        client.send_frame("DISCONNECT", {"receipt": "bye"})
        client.expect_receipt("bye")
        client.expect_closed()
    assert CappedFraming.goodbyes == ["DISCONNECT"]


def test_a_version_above_the_cap_is_refused_naming_what_is_left(capped):
    with RawClient(capped.host, capped.port) as client:
        client.send_frame("CONNECT", {"accept-version": "1.2", "host": "localhost"})
        error = client.expect_error("this broker speaks 1.0 and 1.1 on this connection")
        assert error.headers[b"version"] == b"1.0,1.1"
        assert error.body == b"Supported protocol versions are 1.0 1.1\n"
