"""The plugin contract: one public module, a snapshot of it, and the boundary plugins keep.

* ``xtomp_core`` is the only import path for plugins: every plugin and example of this
  repository imports xtomp names from it alone (tests may add ``xtomp_testing``, the
  xtomp-testing distribution);
* importing it loads nothing of the broker or server internals;
* its names and signatures are snapshotted in ``tests/public_api.txt``: a change to the API
  fails here until the snapshot is regenerated on purpose
  (``python -m tests.test_public_api > tests/public_api.txt``);
* the core has no import cycle, counting imports under ``TYPE_CHECKING``;
* the core carries no test code: it imports neither ``xtomp_testing`` nor pytest.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import xtomp_core
from tools.import_graph import cycles, import_graph

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "public_api.txt"
PLUGIN_SOURCES = sorted(
    [*ROOT.glob("plugins/*/xtomp_*"), *ROOT.glob("examples/*/xtomp_*")], key=lambda path: str(path)
)
TEST_SOURCES = sorted(
    [*ROOT.glob("plugins/*/tests"), *ROOT.glob("examples/*/tests")], key=lambda path: str(path)
)


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _members(cls: type) -> list[str]:
    """Public methods, properties and attributes a class defines itself, with signatures."""
    lines = []
    protocol = getattr(cls, "_is_protocol", False)
    for name, value in sorted(vars(cls).items()):
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        if name == "__init__" and protocol:
            continue
        if isinstance(value, property):
            lines.append(f"    .{name} (property)")
        elif isinstance(value, (staticmethod, classmethod)):
            lines.append(f"    .{name}{_signature(value.__func__)}")
        elif inspect.isfunction(value):
            lines.append(f"    .{name}{_signature(value)}")
    annotations = vars(cls).get("__annotations__", {})
    lines += [f"    .{name}: {annotation}" for name, annotation in sorted(annotations.items()) if not name.startswith("_")]
    slots = vars(cls).get("__slots__", ())
    lines += [f"    .{name} (attribute)" for name in sorted(slots) if not name.startswith("_") and name not in annotations]
    return lines


def describe_api() -> str:
    """The public API as text: each name of ``xtomp_core.__all__``, its kind and signature."""
    lines = ["# xtomp_core: names and signatures of the public API (tests/test_public_api.py)"]
    for name in sorted(xtomp_core.__all__):
        value = getattr(xtomp_core, name)
        if inspect.isclass(value):
            bases = ", ".join(base.__name__ for base in value.__bases__ if base is not object)
            lines.append(f"class {name}({bases}){_signature(value) if not bases.startswith('Protocol') else ''}")
            lines += _members(value)
        elif callable(value) and not isinstance(value, type):
            lines.append(f"def {name}{_signature(value)}")
        elif name == "__version__":
            lines.append(f"{name}: str")
        elif isinstance(value, frozenset):
            lines.append(f"{name} = frozenset({sorted(value)!r})")  # set order varies between runs
        else:
            lines.append(f"{name} = {value!r}")
    return "\n".join(lines) + "\n"


def test_the_public_api_matches_its_snapshot():
    assert describe_api() == SNAPSHOT.read_text(), (
        "the public API changed: if on purpose, run `python -m tests.test_public_api > tests/public_api.txt` "
        "and say so in the changelog"
    )


def test_every_public_name_is_importable_and_documented():
    for name in xtomp_core.__all__:
        value = getattr(xtomp_core, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"xtomp_core.{name} has no docstring"


def test_importing_the_api_loads_no_broker_or_server_module():
    script = (
        "import sys, xtomp_core\n"
        "print(sorted(m for m in sys.modules if m.startswith(('xtomp_core.broker', 'xtomp_core.server', "
        "'xtomp_core.security', 'xtomp_core.bootstrap', 'xtomp_core.plugins', 'xtomp_core.builtin'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_the_api_modules_import_nothing_from_the_internals():
    """Statically, TYPE_CHECKING imports included: the API layer sits below broker/ and server/."""
    graph = import_graph(ROOT / "xtomp_core")
    internal = ("xtomp_core.broker", "xtomp_core.server", "xtomp_core.security", "xtomp_core.plugins",
                "xtomp_core.bootstrap", "xtomp_core.builtin", "xtomp_core.cli")
    api = {"xtomp_core"}
    seen: set[str] = set()
    while api - seen:
        module = (api - seen).pop()
        seen.add(module)
        api |= graph.get(module, set())
    leaks = sorted(module for module in seen if module.startswith(internal))
    assert not leaks, f"xtomp_core's public API reaches internal modules: {leaks}"


def test_the_core_has_no_import_cycle():
    """Counting imports under TYPE_CHECKING (before the plugin contract: one circle of 20 modules)."""
    found = cycles(import_graph(ROOT / "xtomp_core"))
    assert found == [], "import cycles in xtomp_core:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_core_carries_no_test_code():
    """The fixtures are the xtomp-testing distribution: a device installs xtomp-core without pytest."""
    assert not (ROOT / "xtomp_core" / "testing").exists()
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "xtomp_core").rglob("*.py"))
        for module, line in _imports(path, ("xtomp_testing", "pytest", "_pytest", "hypothesis", "stomp"))
    ]
    assert not offences, "xtomp_core imports test code:\n" + "\n".join(offences)


def _imports(path: Path, roots: tuple[str, ...]) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(name, node.lineno) for name in names if name.split(".")[0] in roots]
    return found


def _xtomp_imports(path: Path) -> list[tuple[str, int]]:
    return _imports(path, ("xtomp_core", "xtomp_testing"))


def test_plugins_and_examples_import_xtomp_only_from_the_public_api():
    assert PLUGIN_SOURCES, "no plugin sources found"
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for package in PLUGIN_SOURCES
        for path in sorted(package.rglob("*.py"))
        for module, line in _xtomp_imports(path)
        if module != "xtomp_core"
    ]
    assert not offences, "plugins must import xtomp names from xtomp_core only:\n" + "\n".join(offences)


PRIVATE_NAME = re.compile(
    r"\bxtomp_core\.("
    + "|".join(sorted(path.stem if path.is_file() else path.name for path in (ROOT / "xtomp_core").iterdir()
                      if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()))
    + r")\b"
)


def test_nothing_in_plugins_or_examples_names_a_private_module():
    """Text too (a script a plugin runs, a string passed to ``python -c``), not only import statements."""
    offences = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for root in sorted([*ROOT.glob("plugins/*"), *ROOT.glob("examples/*")])
        for path in sorted(root.rglob("*.py"))
        if ".egg-info" not in str(path)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE_NAME.search(line)
    ]
    assert not offences, "private xtomp_core modules named in plugins or examples:\n" + "\n".join(offences)


def test_plugin_tests_import_xtomp_only_from_the_api_and_the_testing_package():
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for directory in TEST_SOURCES
        for path in sorted(directory.rglob("*.py"))
        for module, line in _xtomp_imports(path)
        if module != "xtomp_core" and module.split(".")[0] != "xtomp_testing"
    ]
    assert not offences, "plugin tests may import xtomp_core and xtomp_testing only:\n" + "\n".join(offences)


if __name__ == "__main__":
    sys.stdout.write(describe_api())
