"""Reading config files: the main file or directory, ``include`` globs, merging with provenance.

``xtomp -c PATH`` takes a file or a directory. A directory means every ``*.toml`` in it,
in sorted order (``conf.d/00-core.toml``, ``10-topics.toml``...); a file may name more
files with ``include = ["conf.d/*.toml"]`` (globs relative to the file, sorted, as nginx's
``include``). A file renamed to ``*.disabled`` drops out of the glob. Tables from several
files merge; a value set in two files is an error naming both, never a silent override.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .directives import toml_string
from .raw import MAX_INCLUDE_DEPTH, RawConfig
from .raw import KeyPath as KeyPath  # validate.py imports it from here

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["RawConfig", "read_config", "key_path", "default_config_path", "DEFAULT_SEARCH", "MAX_INCLUDE_DEPTH"]



#: Where ``xtomp`` looks for its configuration without ``-c`` or ``$XTOMP_CONFIG``, in order:
#: an installed broker's directory, a source checkout's (or any working directory's)
#: ``conf.d``, then the C broker's file, so that an xtomp host that installs this one keeps
#: its configuration. The first that exists wins; none: ``conf.d`` (the error names it).
DEFAULT_SEARCH = ("/etc/xtomp", "conf.d", "/etc/xtomp.conf")


def default_config_path(search: tuple[str, ...] = DEFAULT_SEARCH) -> str:
    """Where ``xtomp`` reads its configuration unless told: ``$XTOMP_CONFIG``, else the first
    of ``search`` that exists (a directory for ``/etc/xtomp`` and ``conf.d``, a file for
    ``/etc/xtomp.conf``), else ``conf.d``."""
    configured = os.environ.get("XTOMP_CONFIG")
    if configured:
        return configured
    for candidate in search:
        if os.path.isdir(candidate) if not candidate.endswith(".conf") else os.path.isfile(candidate):
            return candidate
    return "conf.d"


_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def key_path(path: KeyPath) -> str:
    """``destinations."/topic/*".max_messages`` style rendering of a key path.

    Destination names are always quoted, as config files write them
    (``[destinations."memq"]``), so the key in an error message is found by searching
    the file for it.
    """
    rendered = []
    for index, part in enumerate(path):
        is_destination = index == 1 and path[0] == "destinations"
        if part and not is_destination and all(ch in _BARE_KEY_CHARS for ch in part):
            rendered.append(part)
        else:
            rendered.append(toml_string(part))
    return ".".join(rendered)


def read_config(path: str | Path, global_directives: str | None = None) -> RawConfig:
    """Read and merge a config file (with its includes) or a directory of ``*.toml`` files.

    A ``.conf`` file, or one that does not start as TOML, is xtomp's original nginx-style
    configuration: :mod:`.nginx` translates it into the same RawConfig, origins ``FILE:LINE``.
    ``global_directives`` (``xtomp -g``) are nginx-syntax main-context directives merged in
    as if the main file held them: a key set there and in a file is an error naming both."""
    before = set(sys.modules)
    try:
        raw = _read_path(_clean(os.fspath(path)))
    finally:
        _forget_toml_reader(before)
    if global_directives is not None:
        from .nginx import GLOBAL_DIRECTIVES, log, translate_global_directives

        translation = translate_global_directives(global_directives)
        for note in translation.notes:
            log.log(note.level, "%s", note)
        _merge(raw.data, translation.raw.data, raw.origins, GLOBAL_DIRECTIVES, ())
        raw.files.append(GLOBAL_DIRECTIVES)
    return raw


#: The TOML reader's modules, and datetime, which it imports (for TOML's date and time values,
#: whose types live in the C module _datetime and stay valid without it).
_TOML_READER = ("tomllib", "tomli", "datetime")


def _forget_toml_reader(before: set[str]) -> None:
    """Drop the TOML reader from ``sys.modules`` when this read imported it (the next read
    imports it again) and collect it at once: its 0.3 MB then serve the imports that follow
    (the plugins, the event loop), where kept it would stay in an idle broker for good."""
    fresh = [name for name in sys.modules.keys() - before if name.partition(".")[0] in _TOML_READER]
    if fresh:
        for name in fresh:
            del sys.modules[name]
        gc.collect()  # the modules' functions and their globals form cycles


# Paths are strings and os.path here, not pathlib: with the urllib.parse and ipaddress it
# imports, pathlib would be 0.6 MB of an idle broker for reading its files once.
def _clean(path: str) -> str:
    """``str(pathlib.Path(path))``: ``.`` parts and repeated or trailing slashes dropped
    (``..`` kept), so that file names in messages and origins read as before."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return ("/" if path.startswith("/") else "") + "/".join(parts) or "."


def _read_path(root: str) -> RawConfig:
    raw = RawConfig()
    if os.path.isdir(root):
        files = sorted(name for name in os.listdir(root) if name.endswith(".toml"))
        if not files:
            raise ConfigError(f"{root}: no *.toml file in this directory")
        for name in files:
            _read_file(os.path.join(root, name), raw, depth=0, seen=set())
    elif os.path.isfile(root):
        # A .toml file is read without importing the nginx reader (and the pathlib and
        # dataclasses it imports: 0.9 MB of an idle broker started with -c FILE.toml).
        if not root.endswith(".toml"):
            from pathlib import Path

            from .nginx import is_nginx_config, read_nginx_config  # xtomp's original syntax

            if is_nginx_config(Path(root)):
                return read_nginx_config(Path(root))
        _read_file(root, raw, depth=0, seen=set())
    else:
        raise ConfigError(f"{root}: no such config file or directory")
    return raw


def _read_file(file: str, raw: RawConfig, depth: int, seen: set[str]) -> None:
    resolved = os.path.realpath(file)
    if resolved in seen:
        raise ConfigError(f"{file}: included twice (include cycle)")
    for earlier in raw.files:
        if os.path.realpath(earlier) == resolved:
            # Two includes reaching one file would otherwise report every key in it as
            # "already set in" itself.
            raise ConfigError(f"{file}: included twice (already read as {earlier})")
    if depth > MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{file}: includes nested deeper than {MAX_INCLUDE_DEPTH}")
    seen = seen | {resolved}
    name = file
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    try:
        with open(file, "rb") as handle:
            table = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{name}: TOML syntax error: {error}") from None
    except OSError as error:
        raise ConfigError(f"{name}: cannot read: {error.strerror}") from None
    raw.files.append(name)
    includes = table.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        raise ConfigError(f"{name}: include: expected a list of file globs")
    _merge(raw.data, table, raw.origins, name, ())
    if includes:
        from pathlib import Path  # includes are rare: conf.d has none
    for pattern in includes:
        base = Path(file).parent
        matches = sorted(base.glob(pattern)) if not Path(pattern).is_absolute() else sorted(
            Path(pattern).parent.glob(Path(pattern).name)
        )
        if not matches and not _is_glob(pattern):
            # As nginx: a glob may match nothing, a plain file name must exist (a typo
            # would otherwise drop a whole file of settings without a word).
            raise ConfigError(f"{name}: include: {pattern!r}: no such file")
        for included in matches:
            if included.is_file():
                _read_file(str(included), raw, depth + 1, seen)


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def _merge(into: dict[str, Any], new: dict[str, Any], origins: dict[KeyPath, str], file: str, path: KeyPath) -> None:
    for key, value in new.items():
        here = path + (key,)
        existing = into.get(key)
        if isinstance(value, dict):
            if existing is None:
                into[key] = {}
                origins[here] = file
            elif not isinstance(existing, dict):
                raise ConfigError(
                    f"{file}: {key_path(here)} is a table here but a value in {origins.get(here, '?')}"
                )
            _merge(into[key], value, origins, file, here)
        else:
            if key in into:
                raise ConfigError(
                    f"{file}: {key_path(here)} is already set in {origins.get(here, '?')}: "
                    "set each value in one file only"
                )
            into[key] = value
            origins[here] = file
