"""Finding entry points by reading ``entry_points.txt`` files on ``sys.path`` directly.

``importlib.metadata`` would do, but importing it pulls in ``email``, ``zipfile``,
``csv``, ``pathlib``... about 3 MB of resident memory in a broker that aims at 20 MB. The
broker only needs one group's ``name = module:attr`` lines, read once at start-up.
Distributions installed as zipped eggs are not searched; the command line's ``--plugins``
listing still uses ``importlib.metadata`` for distribution names and versions.
"""

from __future__ import annotations

import importlib
import os
import sys
from ._record import record

__all__ = ["PluginEntryPoint", "entry_points"]


@record(frozen=True)
class PluginEntryPoint:
    __slots__ = ("name", "value", "distribution")
    name: str
    value: str  # "package.module" or "package.module:attribute"
    #: The distribution that declares it, as its metadata directory names it (``xtomp-queues``).
    distribution: str

    def __init__(self, name: str, value: str, distribution: str = "?") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "distribution", distribution)

    def load(self) -> object:
        module_name, _, attribute = self.value.partition(":")
        target: object = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")):
            target = getattr(target, part)
        return target


def _read_group(path: str, group: str) -> list[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    in_group = False
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            in_group = line == f"[{group}]"
        elif in_group and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def entry_points(group: str) -> list[PluginEntryPoint]:
    """The entry points of ``group`` of every distribution on ``sys.path`` (first one wins)."""
    seen: dict[str, PluginEntryPoint] = {}
    for directory in sys.path:
        try:
            entries = sorted(os.scandir(directory or "."), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith((".dist-info", ".egg-info")) and entry.is_dir():
                distribution = entry.name.rsplit(".", 1)[0].split("-", 1)[0].replace("_", "-")
                for name, value in _read_group(os.path.join(entry.path, "entry_points.txt"), group):
                    seen.setdefault(name, PluginEntryPoint(name, value, distribution))
    return list(seen.values())
