"""``xtomp convert XTOMP.CONF DIR``: xtomp's nginx-style file as a ``conf.d`` of TOML files.

The files are those of the bundled ``conf.d`` (``00-core.toml``, ``10-topics.toml``,
``20-queues.toml``, ``30-filters.toml``, ``40-websocket.toml``), holding exactly the keys
``xtomp -c XTOMP.CONF`` reads, so both give the same effective configuration. Every key
carries a comment naming the directive (``FILE:LINE``) it came from; directives with no
key are listed as comments saying why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .directives import toml_string
from .loader import key_path
from .raw import KeyPath
from .nginx import Note, Statement, Translation, translate

__all__ = ["convert_main", "render_conf_d"]

_CORE = "00-core.toml"
_PLUGIN_FILES = {
    "topics": "10-topics.toml",
    "queues": "20-queues.toml",
    "filters": "30-filters.toml",
    "websocket": "40-websocket.toml",
}
#: Destination keys that belong to a plugin's file (they go away with it).
_PLUGIN_KEYS = {"filter": "filters", "filter_header": "filters"}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)


def _comment(statement: Statement) -> str:
    return f"{statement.where}: {statement.text}"


class _Files:
    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def add(self, file: str, *lines: str) -> None:
        self.lines.setdefault(file, []).extend(lines)


def _table(files: _Files, file: str, out: Translation, path: KeyPath, keys: list[str]) -> None:
    table = out.raw.data
    for part in path:
        table = table[part]
    source = out.sources.get(path)
    files.add(file, f"[{key_path(path)}]" + (f"  # {_comment(source)}" if source and path[0] == "destinations" else ""))
    for key in keys:
        statement = out.sources[path + (key,)]
        files.add(file, f"{key_path((key,))} = {_value(table[key])}  # {_comment(statement)}")


def _note_lines(notes: list[Note]) -> list[str]:
    return [f"# {note.statement.where}: {note.statement.text} -- {note.text}" for note in notes]


def render_conf_d(out: Translation, source: str) -> dict[str, str]:
    """File name -> TOML text for the translated ``out`` of the file ``source``."""
    files = _Files()
    data = out.raw.data
    header = f"# Converted from {source} (xtomp's nginx-style configuration) by `xtomp convert`."
    files.add(_CORE, header,
              "# Each value names the directive it came from. Files are read in name order.", "")
    if "server" in data:
        _table(files, _CORE, out, ("server",), list(data["server"]))
    # Notes go to the file of the destination whose block holds their directive, else the core file.
    where: dict[int, KeyPath] = {}
    for name in data.get("destinations", {}):
        block = out.sources[("destinations", name)]
        for child in block.children or []:
            where[id(child)] = ("destinations", name)
    core_notes = [note for note in out.notes if id(note.statement) not in where]
    if core_notes:
        files.add(_CORE, "", "# Directives with no key of their own:", *_note_lines(core_notes))
    plugins = data.get("plugins", {})
    for plugin in sorted(plugins, key=lambda name: _PLUGIN_FILES.get(name, name)):
        file = _PLUGIN_FILES.get(plugin, f"50-{plugin}.toml")
        files.add(file, header, "")
        _table(files, file, out, ("plugins", plugin), list(plugins[plugin]))
    for name, table in data.get("destinations", {}).items():
        path: KeyPath = ("destinations", name)
        own = [key for key in table if key not in _PLUGIN_KEYS]
        file = _PLUGIN_FILES["queues" if table.get("min_delivery") == 1 else "topics"]
        files.add(file, "")
        _table(files, file, out, path, own)
        notes = [note for note in out.notes if where.get(id(note.statement)) == path]
        files.add(file, *_note_lines(notes))
        for plugin in sorted({_PLUGIN_KEYS[key] for key in table if key in _PLUGIN_KEYS}):
            keys = [key for key in table if _PLUGIN_KEYS.get(key) == plugin]
            files.add(_PLUGIN_FILES[plugin], "")
            _table(files, _PLUGIN_FILES[plugin], out, path, keys)
    return {file: "\n".join(lines).rstrip() + "\n" for file, lines in sorted(files.lines.items())}


def convert_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="xtomp convert",
        description="Write the conf.d TOML files equivalent to an xtomp.conf (xtomp's nginx-style configuration).",
    )
    parser.add_argument("source", metavar="XTOMP.CONF", help="the nginx-style file, e.g. /etc/xtomp.conf")
    parser.add_argument("directory", metavar="DIR", help="where to write the *.toml files (created if missing)")
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    args = parser.parse_args(list(argv))
    try:
        out = translate(args.source)
    except ConfigError as error:
        print(f"xtomp convert: configuration error:\n{error}", file=sys.stderr)
        return 1
    rendered = render_conf_d(out, args.source)
    directory = Path(args.directory)
    existing = [name for name in rendered if (directory / name).exists()]
    if existing and not args.force:
        print(f"xtomp convert: {directory}: {', '.join(existing)} exist; --force overwrites them", file=sys.stderr)
        return 1
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (directory / name).write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"xtomp convert: {error}", file=sys.stderr)
        return 1
    for note in out.notes:
        if note.level >= 30:  # logging.WARNING: what behaves differently deserves a look
            print(f"xtomp convert: note: {note}", file=sys.stderr)
    print(f"xtomp convert: wrote {', '.join(str(directory / name) for name in rendered)}")
    print(f"xtomp convert: check with: xtomp -t -c {directory}")
    return 0
