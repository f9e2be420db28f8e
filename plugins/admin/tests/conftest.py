"""Fixtures for the admin plugin's tests: a broker with the admin endpoint on a free port."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest

from xtomp_admin.plugin import admin_for

ADMIN = '[plugins.admin]\nlisten = "127.0.0.1:0"\n'


class AdminClient:
    """The broker (a BrokerThread) and plain HTTP requests to its admin endpoint."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        admin = broker.call(lambda: admin_for(broker.broker))
        assert admin is not None, "the admin plugin did not start"
        self.admin = admin
        self.host, self.port = admin.bound[0]
        self.url = admin.url

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def json(self, path: str = "/stats") -> dict[str, Any]:
        status, headers, body = self.request(path)
        assert status == 200, body
        assert headers["content-type"] == "application/json; charset=utf-8"
        return json.loads(body)

    def metrics(self) -> str:
        status, headers, body = self.request("/metrics")
        assert status == 200, body
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        return body.decode()


@pytest.fixture
def admin_factory(xtomp_factory) -> Callable[..., AdminClient]:
    def start(extra: str = "", admin: str = ADMIN, **kwargs: Any) -> AdminClient:
        return AdminClient(xtomp_factory(admin + extra, **kwargs))

    return start


@pytest.fixture
def admin(admin_factory) -> AdminClient:
    return admin_factory()
