"""pytest fixtures for xtomp and plugin authors (loaded through the ``pytest11`` entry point).

* ``xtomp_factory(extra="", base=BASE_CONFIG, plugins=())`` starts a broker in a thread from
  ``base`` + ``extra`` TOML (``plugins`` are in-process ``(name, object)`` pairs) and
  stops it after the test;
* ``xtomp`` is a broker with the default test config (topics under ``/topic/``);
* ``raw_client(broker=None, timeout=5.0, source=None)`` opens a :class:`RawClient` to a broker
  (default ``xtomp``), optionally from another loopback address (``source="127.0.0.2"``);
* ``stomp_py(broker=None, version="1.2")`` gives a stomp.py connection and its recorder,
  disconnected after the test;
* ``redis_server`` is a started :class:`~xtomp_testing.RedisServer` (a throwaway
  ``redis-server`` on a free port, no persistence; ``url``, ``stop()``, ``start()`` on the same
  port, ``command(...)``), killed after the test; without Debian's redis-server or redis-tools
  the test is skipped (failed under ``make test``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .client import RawClient
from .redis import RedisServer, redis_available
from .runner import BASE_CONFIG, BrokerThread, start_broker, write_config
from .stomppy import Recorder, stomp_py_connection
from .tools import missing_tool


@pytest.fixture
def xtomp_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerThread]]:
    started: list[BrokerThread] = []

    def start(
        extra: str = "",
        base: str = BASE_CONFIG,
        plugins: Iterable[tuple[str, object]] = (),
        use_uvloop: bool = True,
    ) -> BrokerThread:
        directory = write_config(tmp_path / f"conf{len(started)}", extra, base)
        broker = start_broker(directory, plugins, use_uvloop=use_uvloop)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def xtomp(xtomp_factory: Callable[..., BrokerThread]) -> BrokerThread:
    return xtomp_factory()


@pytest.fixture
def raw_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., RawClient]]:
    opened: list[RawClient] = []

    def open_client(broker: BrokerThread | None = None, timeout: float = 5.0, source: str | None = None) -> RawClient:
        target = broker if broker is not None else request.getfixturevalue("xtomp")
        client = RawClient(target.host, target.port, timeout, source)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def stomp_py(request: pytest.FixtureRequest) -> Iterator[Callable[..., tuple[Any, Recorder]]]:
    opened: list[Any] = []

    def open_connection(
        broker: BrokerThread | None = None, version: str = "1.2", **kwargs: Any
    ) -> tuple[Any, Recorder]:
        target = broker if broker is not None else request.getfixturevalue("xtomp")
        connection, recorder = stomp_py_connection(target.host, target.port, version, **kwargs)
        opened.append(connection)
        return connection, recorder

    yield open_connection
    for connection in opened:
        try:
            if connection.is_connected():
                connection.disconnect()
        except Exception:
            pass


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():
        missing_tool("redis-server (Debian: apt-get install redis-tools, which has it without a service; make test installs it)")
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.close()


__all__ = ["BASE_CONFIG", "xtomp_factory", "xtomp", "raw_client", "stomp_py", "redis_server"]
