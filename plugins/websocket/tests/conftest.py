"""Fixtures for the websocket plugin's tests: a broker with a ws:// listener, raw WebSocket clients."""

from __future__ import annotations

import pytest
from wsraw import WsClient, ws_config


@pytest.fixture
def ws_broker(xtomp_factory):
    """``ws_broker(options="", server="", listen=...)`` starts a broker with a WebSocket listener."""

    def start(options: str = "", server: str = "", listen: str = '"ws://127.0.0.1:0/ws"', **kwargs):
        return xtomp_factory(ws_config(options, listen, server), **kwargs)

    return start


@pytest.fixture
def ws_client():
    opened: list[WsClient] = []

    def open_client(broker, scheme: str = "ws", **kwargs) -> WsClient:
        host, port = broker.addresses(scheme)[0]
        client = WsClient(host, port, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()

