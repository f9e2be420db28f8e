"""Shared fixtures of the queues plugin's tests: a real broker with queues enabled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xtomp_testing import BrokerThread

QUEUES = '[plugins.queues]\n\n[destinations."/queue/*"]\ntype = "queue"\n'


@pytest.fixture
def queues(xtomp_factory: Callable[..., BrokerThread]) -> Callable[..., BrokerThread]:
    """``queues(extra_toml)`` starts a broker with ``/queue/*`` queues plus ``extra_toml``.

    Keys of ``[destinations."/queue/*"]`` go in ``queue_settings`` (one TOML table is
    defined once).
    """

    def start(extra: str = "", queue_settings: str = "") -> BrokerThread:
        return xtomp_factory(QUEUES + queue_settings + "\n" + extra)

    return start


@pytest.fixture
def broker(queues: Callable[..., BrokerThread]) -> BrokerThread:
    return queues()
