"""Shared fixtures of the filters plugin's tests: a real broker with the plugin enabled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from filters_support import FILTERS_BASE

from xtomp_testing import BrokerThread


@pytest.fixture
def filtered(xtomp_factory: Callable[..., BrokerThread]) -> Callable[..., BrokerThread]:
    """``filtered(extra_toml)`` starts a broker with the filters plugin enabled."""

    def start(extra: str = "", base: str = FILTERS_BASE) -> BrokerThread:
        return xtomp_factory(extra, base=base)

    return start


@pytest.fixture
def broker(filtered: Callable[..., BrokerThread]) -> BrokerThread:
    return filtered(
        '[destinations."memfilter"]\ntype = "topic"\nfilter = "required"\nfilter_header = "colour"\n'
        '[destinations."nofilter"]\ntype = "topic"\nfilter = "off"\n'
    )
