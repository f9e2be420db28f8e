"""``make dist``: an sdist and a pure-Python wheel of every distribution in this repository, into dist/.

xtomp-core, xtomp-testing, each plugin under plugins/ and each example under examples/. The core
wheel is built with ``XTOMP_BUILD_SCANNER=0``: ``py3-none-any``, so one wheel installs on any
CPU (a Raspberry Pi as well as the build machine) and the broker uses its pure-Python parser;
the sdist keeps the C scanner's source for whoever wants to compile it on the device.

Each project is copied to a scratch directory first (no ``build/`` or ``*.egg-info`` left in
the checkout, and none of their stale files in a wheel), then built by ``python -m build``
without isolation: the pinned build tools of requirements/dist.txt, no network.

    python -m tools.dist [--outdir dist] [--wheel-only] [NAME ...]   # NAME: xtomp-core, xtomp-topics...
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Left out of every copy: droppings of earlier builds, tests, and node packages.
IGNORE = shutil.ignore_patterns(
    "build", "dist", "*.egg-info", "__pycache__", "*.so", "tests", "node_modules", ".venv", ".cache", ".mypy_cache"
)

#: What the core's build needs from the repository's root (the rest of it is tests and tools).
CORE_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def projects() -> dict[str, Path]:
    """Distribution name -> project directory, the core first."""
    found = [ROOT, ROOT / "testing"]
    found += sorted(path.parent for path in ROOT.glob("plugins/*/pyproject.toml"))
    found += sorted(path.parent for path in ROOT.glob("examples/*/pyproject.toml"))
    return {_name(path): path for path in found}


def _name(project: Path) -> str:
    match = re.search(r'^name\s*=\s*"([^"]+)"', (project / "pyproject.toml").read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{project / 'pyproject.toml'}: no [project] name")
    return match.group(1)


def _copy(project: Path, target: Path) -> Path:
    if project == ROOT:
        target.mkdir()
        for name in CORE_FILES:
            shutil.copy(ROOT / name, target)
        shutil.copytree(ROOT / "xtomp_core", target / "xtomp_core", ignore=IGNORE)
    else:
        shutil.copytree(project, target, ignore=IGNORE)
    return target


def build(names: list[str] | None = None, outdir: Path = ROOT / "dist", sdist: bool = True) -> list[Path]:
    """Build the named distributions (all by default) into ``outdir``; return the files made."""
    available = projects()
    unknown = sorted(set(names or ()) - set(available))
    if unknown:
        raise SystemExit(f"unknown distributions {unknown}; known: {sorted(available)}")
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    env = {**os.environ, "XTOMP_BUILD_SCANNER": "0"}
    kinds = ["--sdist", "--wheel"] if sdist else ["--wheel"]

    def one(name: str, scratch: Path) -> None:
        source = _copy(available[name], scratch / name)
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", *kinds, "--outdir", str(outdir), str(source)],
            env=env, capture_output=True, text=True,
        )
        if result.returncode:  # setuptools' warnings are noise on success, the story on failure
            raise SystemExit(f"building {name} failed:\n{result.stdout}{result.stderr}")

    # Each build is a few short-lived processes: one per CPU at a time halves make dist on two.
    with tempfile.TemporaryDirectory(prefix="xtomp-dist-") as scratch, \
            ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for future in [pool.submit(one, name, Path(scratch)) for name in names or list(available)]:
            future.result()
    return sorted(set(outdir.iterdir()) - before)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="distributions to build (default: all)")
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist")
    parser.add_argument("--wheel-only", action="store_true", help="no sdists")
    args = parser.parse_args(argv)
    for path in build(args.names or None, args.outdir, sdist=not args.wheel_only):
        print(path.relative_to(args.outdir.parent) if args.outdir.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
