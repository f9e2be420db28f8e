"""Documentation that must not drift: the directive reference and the hook documentation."""

from __future__ import annotations

from pathlib import Path

from tools.gen_docs import README, render

import xtomp_core.hookspecs as hookspecs

ROOT = Path(__file__).resolve().parents[1]


def test_readme_directive_reference_is_current():
    text = README.read_text()
    assert render(text) == text, "README.md's directive reference is stale: run `make docs`"


def test_every_hook_is_documented_in_the_plugin_guide():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("xtomp_")]
    assert hooks
    missing = [name for name in hooks if f"`{name}" not in guide]
    assert not missing, f"docs/plugins.md does not document {missing}"
