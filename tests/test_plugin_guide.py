"""docs/plugins.md must not drift from the code: excerpts match their files, every other snippet
runs against the public API, and the hook reference matches xtomp_core/hookspecs.py."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import xtomp_core
import xtomp_core.hookspecs as hookspecs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()

# A fenced block, optionally preceded by <!-- file: PATH --> (an excerpt of that file).
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)
BLOCKS = [(m["file"], m["lang"], m["body"], GUIDE.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(GUIDE)]
EXCERPTS = [(file, body, line) for file, _, body, line in BLOCKS if file]
SNIPPETS = [(body, line) for file, lang, body, line in BLOCKS if lang == "python" and not file]


def test_the_guide_has_excerpts_and_snippets():
    assert len(EXCERPTS) >= 5 and len(SNIPPETS) >= 8


@pytest.mark.parametrize("file, body, line", EXCERPTS, ids=[f"line {line}" for _, _, line in EXCERPTS])
def test_an_excerpt_is_verbatim_from_its_file(file, body, line):
    assert body in (ROOT / file).read_text(), f"docs/plugins.md:{line}: the block is no longer in {file}"


@pytest.mark.parametrize("body, line", SNIPPETS, ids=[f"line {line}" for _, line in SNIPPETS])
def test_a_snippet_imports_only_the_public_api_and_runs(body, line):
    tree = ast.parse(body, f"docs/plugins.md:{line}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("xtomp_core", "xtomp_testing")):
            assert node.module in ("xtomp_core", "xtomp_testing"), f"line {line}: imports {node.module}"
            if node.module == "xtomp_core":
                private = [alias.name for alias in node.names if alias.name not in xtomp_core.__all__]
                assert not private, f"docs/plugins.md:{line}: {private} are not in xtomp_core.__all__"
    if "def test_" in body:
        return  # a test module: it imports the example under test, and pytest would run it
    exec(compile(tree, f"docs/plugins.md:{line}", "exec"), {"__name__": "guide_snippet"})


def test_the_hook_reference_matches_the_hook_specifications():
    reference = GUIDE[GUIDE.index("## 18. Hook reference"):]
    rows = dict(re.findall(r"^\| `(xtomp_\w+)` \| [^|]* \| ([^|]*) \|", reference, re.M))
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("xtomp_"))
    assert sorted(rows) == hooks
    for name in hooks:
        documented = re.findall(r"`(\w+):", rows[name])
        assert documented == list(inspect.signature(getattr(hookspecs, name)).parameters), name
