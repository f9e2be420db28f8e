"""Tests that need a tool outside Python (node, npm packages, Chromium, a C compiler).

Under ``make test`` (which sets ``XTOMP_REQUIRE_TOOLS=1``) and in CI (``CI`` set), a missing
tool fails the test with what to install; a plain ``pytest`` skips it instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_TOOLS", "tools_required", "missing_tool"]

#: The environment variable ``make test`` sets.
REQUIRE_TOOLS = "XTOMP_REQUIRE_TOOLS"


def tools_required() -> bool:
    """True under ``make test`` and in CI: every test must run, none may skip for a tool."""
    return os.environ.get(REQUIRE_TOOLS, "") not in ("", "0") or bool(os.environ.get("CI"))


def missing_tool(what: str) -> NoReturn:
    """Fail (``make test``, CI) or skip (plain pytest) a test that needs ``what``, which says
    what to install and how."""
    if tools_required():
        pytest.fail(f"missing {what} ({REQUIRE_TOOLS} is set, so this test may not skip)", pytrace=False)
    pytest.skip(f"missing {what}")
