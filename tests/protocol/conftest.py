"""Fixtures for the sans-IO protocol tests."""

from __future__ import annotations

import pytest
from splits import MODES, Feeder


@pytest.fixture(params=MODES)
def feeder(request: pytest.FixtureRequest) -> Feeder:
    """Each parser case runs three times: fed whole, byte by byte, and with a trailing frame."""
    return Feeder(request.param)
