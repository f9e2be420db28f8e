"""Fixtures for the sans-IO protocol tests.

Every test here runs twice: with the C frame scanner (``[c]``) and with the pure-Python
parser (``[py]``), by swapping ``xtomp_core.protocol.parser._scan`` - the one switch
``FrameParser._parse`` reads. The ``[c]`` runs are skipped when the extension was not built
(test_scanner.py fails instead if a compiler was there to build it). XTOMP_PURE_PYTHON does
not change what runs here: both paths are always tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from splits import MODES, Feeder

from xtomp_core.protocol import parser as parser_module
from xtomp_testing.tools import missing_tool

try:
    from xtomp_core.protocol._scanner import scan as c_scan
except ImportError:  # pragma: no cover - a machine without a C compiler
    c_scan = None

IMPLEMENTATIONS = ("c", "py")


@pytest.fixture(params=IMPLEMENTATIONS, scope="session", autouse=True)
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """The parser implementation every protocol test runs against (session-scoped so that
    hypothesis tests may use it, and so pytest runs all of one before the other)."""
    if request.param == "c" and c_scan is None:
        missing_tool("the C scanner (xtomp_core.protocol._scanner): install a C compiler and Python's headers "
                     "(Debian: apt-get install gcc python3-dev), then `pip install -e .` again")
    saved = parser_module._scan
    parser_module._scan = c_scan if request.param == "c" else None
    try:
        yield request.param
    finally:
        parser_module._scan = saved


@pytest.fixture(params=MODES)
def feeder(request: pytest.FixtureRequest) -> Feeder:
    """Each parser case runs three times: fed whole, byte by byte, and with a trailing frame."""
    return Feeder(request.param)
