"""xtomp's original configuration (``/etc/xtomp.conf``, nginx syntax) read directly.

``xtomp -c /etc/xtomp.conf`` works unchanged: this module parses the nginx syntax (``#``
comments, quoted strings, ``;`` and ``{ }`` blocks, ``include``) and translates every
directive of the C broker into the same :class:`RawConfig` the TOML loader produces, with
each key's origin ``FILE:LINE``. Validation, ``--show-config`` and every check then run
exactly as for TOML. Units follow nginx: a bare time is seconds (``ms s m h d w M y``
suffixes), sizes take ``k``/``m``.

Each directive is *mapped* to a key (``pid`` -> ``server.pid_file``), *accepted* with a
note saying why it has no effect (``user``: run the service as that user), or *refused*
with a ConfigError naming ``FILE:LINE`` (``listen 61613 ssl``). :func:`translate`
returns the notes and, per key, the directive it came from, for ``xtomp convert``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .raw import MAX_INCLUDE_DEPTH, KeyPath, RawConfig
from .units import format_duration, format_size

__all__ = [
    "Statement",
    "Note",
    "Translation",
    "GLOBAL_DIRECTIVES",
    "is_nginx_config",
    "parse_nginx",
    "translate",
    "translate_global_directives",
    "read_nginx_config",
]

log = logging.getLogger("xtomp.config")

#: The path the xtomp-console (and xtomp's handbook) use for WebSocket connections.
XTOMP_WS_PATH = "/xtomp"


@dataclass
class Statement:
    """One directive: ``name args... ;`` or ``name args... { children }``."""

    name: str
    args: list[str]
    file: str
    line: int
    children: list[Statement] | None = None
    #: How :attr:`text` shows it, when it stands for several directives (the listens of one key).
    shown: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def text(self) -> str:
        """The directive as written (quoted where needed), for comments."""
        if self.shown is not None:
            return self.shown
        words = [self.name, *(_quote(arg) for arg in self.args)]
        return " ".join(words) + (" { }" if self.children is not None else ";")


@dataclass(frozen=True)
class Note:
    """What became of a directive that maps to no key, or whose meaning changed."""

    level: int  # logging.DEBUG (honoured as is), INFO (no effect here), WARNING (behaviour differs)
    statement: Statement
    text: str

    def __str__(self) -> str:
        return f"{self.statement.where}: {self.statement.name} {self.text}"


@dataclass
class Translation:
    raw: RawConfig
    notes: list[Note] = field(default_factory=list)
    #: For each key (and each table) set, the directive it came from.
    sources: dict[KeyPath, Statement] = field(default_factory=dict)


# -- detection -----------------------------------------------------------------------------

_TOML_START = re.compile(r"""^(\[|[A-Za-z0-9_\-."']+\s*=)""")


def is_nginx_config(path: Path) -> bool:
    """A ``.conf`` file, or a file whose first meaningful line is not TOML
    (``[table]`` or ``key = value``)."""
    if path.suffix == ".conf":
        return True
    if path.suffix == ".toml":
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                stripped = line.strip()
                if stripped and not stripped.startswith("#"):
                    return not _TOML_START.match(stripped)
    except OSError:
        return False
    return False


# -- parsing ---------------------------------------------------------------------------------

_ESCAPES = {"t": "\t", "r": "\r", "n": "\n"}


def _quote(word: str) -> str:
    if word and not any(char in word for char in " \t\r\n;{}#\"'\\"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tokens(text: str, file: str) -> list[tuple[str, int, bool]]:
    """``(token, line, quoted)``; ``;``, ``{`` and ``}`` are tokens of their own."""
    tokens: list[tuple[str, int, bool]] = []
    i, line, size = 0, 1, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif char == "#":
            while i < size and text[i] != "\n":
                i += 1
        elif char in ";{}":
            tokens.append((char, line, False))
            i += 1
        elif char in "\"'":
            start_line = line
            i += 1
            word: list[str] = []
            while True:
                if i >= size:
                    raise ConfigError(f"{file}:{start_line}: unexpected end of file, expecting {char}")
                current = text[i]
                if current == "\\" and i + 1 < size:
                    following = text[i + 1]
                    word.append(_ESCAPES.get(following, following if following in "\"'\\" else "\\" + following))
                    i += 2
                    continue
                if current == char:
                    i += 1
                    break
                if current == "\n":
                    line += 1
                word.append(current)
                i += 1
            if i < size and text[i] not in " \t\r\n;{}":
                raise ConfigError(f'{file}:{line}: unexpected "{text[i]}" after a quoted string')
            tokens.append(("".join(word), start_line, True))
        else:
            word = []
            while i < size and text[i] not in " \t\r\n;{}":
                if text[i] == "\\" and i + 1 < size and text[i + 1] not in "\r\n":
                    following = text[i + 1]
                    word.append(_ESCAPES.get(following, following))
                    i += 2
                    continue
                word.append(text[i])
                i += 1
            tokens.append(("".join(word), line, False))
    return tokens


def parse_nginx(
    path: Path, depth: int = 0, seen: frozenset[Path] = frozenset(), files: list[str] | None = None
) -> list[Statement]:
    """The statements of an nginx-syntax file; ``include GLOB;`` is expanded in place
    (globs relative to the including file, sorted, as nginx). ``files`` collects the files read."""
    file = str(path)
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"{file}: included twice (include cycle)")
    if depth > MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{file}: includes nested deeper than {MAX_INCLUDE_DEPTH}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{file}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    if files is not None:
        files.append(file)

    def include(args: list[str], line: int) -> list[Statement]:
        return _include(path, args, line, depth, seen | {resolved}, files)

    return _statements(_tokens(text, file), file, include)


def _statements(
    tokens: list[tuple[str, int, bool]], file: str, include: Callable[[list[str], int], list[Statement]]
) -> list[Statement]:
    position = 0

    def block(closing: bool, opened_at: int) -> list[Statement]:
        nonlocal position
        statements: list[Statement] = []
        words: list[tuple[str, int, bool]] = []
        while position < len(tokens):
            token, line, quoted = tokens[position]
            position += 1
            if quoted or token not in ";{}":
                words.append((token, line, quoted))
                continue
            if token == "}":
                if words:
                    raise ConfigError(f'{file}:{words[0][1]}: missing ";" after "{words[0][0]}" (before the "}}" '
                                      f"of line {line})")
                if not closing:
                    raise ConfigError(f'{file}:{line}: unexpected "}}"')
                return statements
            if not words:
                raise ConfigError(f'{file}:{line}: unexpected "{token}"')
            name, first_line, _ = words[0]
            args = [word for word, _, _ in words[1:]]
            words = []
            if token == "{":
                statements.append(Statement(name, args, file, first_line, block(True, first_line)))
            elif name == "include":
                statements += include(args, first_line)
            else:
                statements.append(Statement(name, args, file, first_line))
        if words:
            raise ConfigError(f'{file}:{words[-1][1]}: unexpected end of file, expecting ";" or "}}"')
        if closing:
            raise ConfigError(f'{file}:{opened_at}: unexpected end of file, expecting "}}" (block opened here)')
        return statements

    return block(False, 0)


def _include(
    path: Path, args: list[str], line: int, depth: int, seen: frozenset[Path], files: list[str] | None
) -> list[Statement]:
    file = str(path)
    if len(args) != 1:
        raise ConfigError(f"{file}:{line}: include takes one file name or glob")
    pattern = Path(args[0])
    base = pattern.parent if pattern.is_absolute() else path.parent / pattern.parent
    matches = sorted(base.glob(pattern.name))
    if not matches and not any(char in args[0] for char in "*?["):
        raise ConfigError(f"{file}:{line}: include {args[0]!r}: no such file")
    statements: list[Statement] = []
    for included in matches:
        if included.is_file():
            statements += parse_nginx(included, depth + 1, seen, files)
    return statements


# -- values ----------------------------------------------------------------------------------

_TIME_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
_SIZE = re.compile(r"(\d+)([kKmMgG]?)")


def parse_nginx_time(text: str) -> float:
    """Seconds from nginx's time syntax: ``120`` (a bare number is seconds), ``500ms``,
    ``2m``, ``1h30m``; raise ValueError."""
    position, total = 0, 0.0
    while position < len(text):
        match = _TIME_PART.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f'"{text}" is not a time: write seconds (120) or a unit (500ms, 15s, 2m, 1h)')
        unit = match.group(2) or "s"
        total += int(match.group(1)) * _TIME_UNITS[unit]
        position = match.end()
    if not text:
        raise ValueError("empty time")
    return total


def parse_nginx_size(text: str) -> int:
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f'"{text}" is not a size: write bytes (4096) or k/m (64k, 1m)')
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]


def _size_value(size: int) -> int | str:
    text = format_size(size)
    return size if text.isdigit() else text


# -- translation -----------------------------------------------------------------------------

#: nginx core directives that have no meaning here, and why.
_IGNORED_CORE = {
    "user": "is ignored: run the service as that user (User= in the systemd unit)",
    "daemon": "is ignored: xtomp stays in the foreground; run it under systemd or another service manager",
    "master_process": "is ignored: xtomp has a master process when worker_processes is above 1, none otherwise",
    "worker_rlimit_nofile": (
        "is ignored: raise the open-file limit with LimitNOFILE= in the systemd unit (or ulimit -n); "
        "connection_limit follows that limit (less 64) unless worker_connections is set"
    ),
    "timer_resolution": "is ignored: nginx internals",
    "lock_file": "is ignored: no lock file is used",
    "working_directory": "is ignored: set WorkingDirectory= in the service unit",
    "env": "is ignored: set Environment= in the service unit",
    "worker_priority": "is ignored: set Nice= in the service unit",
    "worker_cpu_affinity": "is ignored: set CPUAffinity= in the service unit",
    "worker_rlimit_core": "is ignored: set LimitCORE= in the service unit",
    "debug_points": "is ignored: nginx internals",
    "load_module": "is ignored: xtomp loads its plugins from [plugins.NAME] tables",
    "pcre_jit": "is ignored: nginx internals",
    "thread_pool": "is ignored: nginx internals",
}
_IGNORED_EVENTS = {"use", "multi_accept", "accept_mutex", "accept_mutex_delay", "debug_connection", "worker_aio_requests"}
_TIME_KEYS = {
    "timeout": "timeout",
    "secret_timeout": "secret_timeout",
    "heart_beat_read": "heart_beat_read",
    "heart_beat_write_min": "heart_beat_write_min",
    "heart_beat_write_max": "heart_beat_write_max",
}
_IGNORED_SERVER = {
    "server_name": "is ignored: unused by xtomp too (virtual_hosts in TOML checks CONNECT's host header)",
    "protocol": "is ignored: unused by xtomp too",
    "resolver_timeout": "is ignored: unused by xtomp too",
    "request_client_buffer": (
        "is ignored: frames are limited by max_frame_size and header lines by max_header_length, "
        "not by a fixed input buffer"
    ),
    "response_client_buffer": (
        "is ignored: no fixed output buffer (xtomp silently dropped a MESSAGE whose headers outgrew it)"
    ),
}
_DESTINATION_DIRECTIVES = {
    "name", "max_connections", "max_messages", "max_message_size", "min_delivery", "expiry", "filter",
    "filter_header", "stats", "log_messages", "web_read_block", "web_write_block", "no_subscribers",
}
_LOG_LEVELS = {
    "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
    "error": "error", "crit": "error", "alert": "error", "emerg": "error",
}
#: Ports xtomp treated as "web" (web_*_block applied to plain STOMP on them) and its trusted port.
_WEB_PORTS = {80, 81, *range(8000, 8100)}
_TRUSTED_PORT = 61616


class _Translator:
    def __init__(self) -> None:
        self.out = Translation(RawConfig())
        self.errors: list[str] = []
        self.error_log: Statement | None = None
        self.listens: dict[tuple[str, int], Statement] = {}

    # -- helpers ---------------------------------------------------------------------------
    def error(self, statement: Statement, message: str) -> None:
        self.errors.append(f"{statement.where}: {message}")

    def note(self, statement: Statement, level: int, text: str) -> None:
        self.out.notes.append(Note(level, statement, text))

    def table(self, path: KeyPath, statement: Statement) -> dict[str, Any]:
        node = self.out.raw.data
        for depth in range(len(path)):
            here = path[: depth + 1]
            if path[depth] not in node:
                node[path[depth]] = {}
                self.out.raw.origins[here] = statement.where
                self.out.sources[here] = statement
            node = node[path[depth]]
        return node

    def put(self, path: KeyPath, value: Any, statement: Statement) -> None:
        table = self.table(path[:-1], statement)
        if path[-1] in table:
            first = self.out.sources[path]
            self.error(statement, f'"{statement.name}" is duplicate (first set at {first.where})')
            return
        table[path[-1]] = value
        self.out.raw.origins[path] = statement.where
        self.out.sources[path] = statement

    def args(self, statement: Statement, count: int | None = 1, block: bool = False) -> bool:
        """Check the statement's shape: ``count`` arguments (None: one or more), a block or not."""
        if block and statement.children is None:
            self.error(statement, f'directive "{statement.name}" has no opening "{{"')
            return False
        if not block and statement.children is not None:
            self.error(statement, f'directive "{statement.name}" is not a block: end it with ";"')
            return False
        if count is None and not statement.args or count is not None and len(statement.args) != count:
            self.error(statement, f'invalid number of arguments in "{statement.name}" directive')
            return False
        return True

    def flag(self, statement: Statement) -> bool | None:
        if not self.args(statement):
            return None
        value = statement.args[0]
        if value not in ("on", "off"):
            self.error(statement, f'invalid value "{value}" in "{statement.name}": expected on or off')
            return None
        return value == "on"

    def integer(self, statement: Statement) -> int | None:
        if not self.args(statement):
            return None
        if not statement.args[0].isdigit():
            self.error(statement, f'invalid value "{statement.args[0]}" in "{statement.name}": expected a number')
            return None
        return int(statement.args[0])

    def time(self, statement: Statement) -> str | None:
        if not self.args(statement):
            return None
        text = statement.args[0]
        try:
            seconds = parse_nginx_time(text)
        except ValueError as problem:
            self.error(statement, f'"{statement.name}": {problem}')
            return None
        if text.isdigit() and seconds >= 1000:
            self.note(statement, logging.WARNING,
                      f"{text} means {text} seconds ({format_duration(seconds)}), as in xtomp (a bare time is "
                      f"seconds); if milliseconds were meant, write {text}ms")
        return format_duration(seconds)

    def size(self, statement: Statement) -> int | str | None:
        if not self.args(statement):
            return None
        try:
            return _size_value(parse_nginx_size(statement.args[0]))
        except ValueError as problem:
            self.error(statement, f'"{statement.name}": {problem}')
            return None

    def unknown(self, statement: Statement, context: str) -> None:
        if statement.name in _DESTINATION_DIRECTIVES and context != "destination":
            self.error(statement, f'"{statement.name}" belongs in a destination {{ }} block (xtomp crashed on it here)')
        else:
            self.error(statement, f'unknown directive "{statement.name}" in {context}')

    # -- main level ------------------------------------------------------------------------
    def main(self, statements: list[Statement]) -> None:
        xtomp_blocks = [s for s in statements if s.name == "xtomp"]
        for statement in statements:
            if statement.name == "xtomp":
                if statement is not xtomp_blocks[0]:
                    self.error(statement, f'"xtomp" directive is duplicate (first at {xtomp_blocks[0].where})')
                elif self.args(statement, 0, block=True):
                    self.xtomp(statement)
            else:
                self.core(statement)
        if not xtomp_blocks:
            file = statements[0].file if statements else "?"
            self.errors.append(f'{file}: no "xtomp {{ }}" block: nothing to serve')

    def core(self, statement: Statement) -> None:
        """One directive of the main context other than ``xtomp { }`` (nginx's core module)."""
        name = statement.name
        if name == "events":
            if self.args(statement, 0, block=True):
                self.events(statement)
        elif name == "worker_processes":
            if self.args(statement):
                value = statement.args[0]
                if value == "auto":
                    self.put(("server", "workers"), "auto", statement)
                elif value.isdigit() and int(value) >= 1:
                    self.put(("server", "workers"), int(value), statement)
                else:
                    self.error(statement, f'invalid value "{value}" in "worker_processes": expected a number '
                                          "of processes or auto")
        elif name == "pid":
            if self.args(statement):
                self.put(("server", "pid_file"), statement.args[0], statement)
        elif name == "error_log":
            self.error_log_directive(statement)
        elif name in _IGNORED_CORE:
            if self.args(statement, None if name != "daemon" and name != "master_process" else 1):
                if name in ("daemon", "master_process") and statement.args[0] not in ("on", "off"):
                    self.error(statement, f'invalid value "{statement.args[0]}" in "{name}": expected on or off')
                else:
                    self.note(statement, logging.INFO, _IGNORED_CORE[name])
        else:
            self.unknown(statement, "the main context")

    def events(self, block: Statement) -> None:
        for statement in block.children or []:
            if statement.name == "worker_connections":
                value = self.integer(statement)
                if value is not None:
                    self.put(("server", "connection_limit"), value, statement)
            elif statement.name in _IGNORED_EVENTS:
                self.note(statement, logging.INFO, "is ignored: nginx event-loop tuning")
            else:
                self.unknown(statement, "events { }")

    def error_log_directive(self, statement: Statement) -> None:
        if not self.args(statement, None):
            return
        if self.error_log is not None:
            self.note(statement, logging.INFO,
                      f"is ignored: the broker has one log; the error_log at {self.error_log.where} applies")
            return
        self.error_log = statement
        target = statement.args[0]
        levels = statement.args[1:]
        if len(levels) > 1:
            self.error(statement, "error_log takes a target and one level")
            return
        level = levels[0] if levels else "error"
        mapped = "debug" if level.startswith("debug") else _LOG_LEVELS.get(level)
        if mapped is None:
            self.error(statement, f'invalid log level "{level}": expected one of {", ".join(_LOG_LEVELS)}')
            return
        self.put(("server", "log_level"), mapped, statement)
        if target == "stderr":
            self.put(("server", "log_target"), "stderr", statement)
        elif target.startswith("syslog:"):
            self.put(("server", "log_target"), "syslog", statement)
            ignored = []
            for option in target[len("syslog:"):].split(","):
                key, _, value = option.partition("=")
                if key == "server":
                    if value.startswith("unix:"):
                        address = value[len("unix:"):]
                    elif value.startswith("[") or value.count(":") == 1:
                        address = value
                    else:
                        address = f"{value}:514"
                    self.put(("server", "syslog_address"), address, statement)
                elif key == "facility":
                    self.put(("server", "syslog_facility"), value, statement)
                elif key in ("tag", "severity", "nohostname"):
                    ignored.append(key)
                else:
                    self.error(statement, f'unknown syslog parameter "{option}"')
            if ignored:
                self.note(statement, logging.INFO, f"syslog {', '.join(ignored)}: ignored (the tag is xtomp)")
        else:
            self.note(statement, logging.WARNING,
                      f"{target}: no log file is written: the log goes to standard error (the journal "
                      "under systemd); for syslog write error_log syslog:server=unix:/dev/log")

    # -- xtomp { } and server { } ----------------------------------------------------------
    def xtomp(self, block: Statement) -> None:
        inherited: dict[str, tuple[str, Statement]] = {}
        servers: list[Statement] = []
        for statement in block.children or []:
            name = statement.name
            if name == "server":
                servers.append(statement)
            elif name in ("timeout", "secret_timeout", "heart_beat_read", "heart_beat_write_min",
                          "heart_beat_write_max"):
                value = self.time(statement)
                if value is not None:
                    inherited[name] = (value, statement)
            elif name == "error_log":
                self.error_log_directive(statement)
            elif name == "server_name":
                self.note(statement, logging.INFO, _IGNORED_SERVER[name])
            else:
                self.unknown(statement, "xtomp { }")
        if not servers:
            self.error(block, 'no "server { }" in xtomp { }: nothing to listen on')
            return
        for extra in servers[1:]:
            self.error(extra, f"a second server {{ }} (the first is at {servers[0].where}): this broker runs one "
                              "server per process; split it into one config file (and service) per server")
        if self.args(servers[0], 0, block=True):
            self.server(servers[0], inherited)

    def server(self, block: Statement, inherited: dict[str, tuple[str, Statement]]) -> None:
        self.table(("server",), block)
        self.plugin("topics", block)  # xtomp's destinations are topics unless min_delivery is 1
        listens: list[Statement] = []
        websockets: Statement | None = None
        origins: Statement | None = None
        destinations: list[Statement] = []
        for statement in block.children or []:
            name = statement.name
            if name == "listen":
                listens.append(statement)
            elif name == "destination":
                destinations.append(statement)
            elif name in ("login", "passcode"):
                if self.args(statement):
                    self.put(("server", name), statement.args[0], statement)
            elif name == "secret":
                if self.args(statement):
                    self.put(("server", "secret"), statement.args[0], statement)
                    self.put(("server", "secret_algorithm"), "sha1", statement)
                    self.note(statement, logging.INFO,
                              "keeps xtomp's token format base64(sha1(login + secret)) (secret_algorithm "
                              "\"sha1\"; weaker than \"hmac-sha256\": move issuers to it when you can)")
            elif name in _TIME_KEYS:
                value = self.time(statement)
                if value is not None:
                    self.put(("server", _TIME_KEYS[name]), value, statement)
            elif name == "websockets":
                if self.flag(statement) is not None:
                    websockets = statement
            elif name == "websockets_origin":
                if self.args(statement):
                    origins = statement
            elif name == "error_log":
                self.error_log_directive(statement)
            elif name in _IGNORED_SERVER:
                if self.args(statement):
                    self.note(statement, logging.INFO, _IGNORED_SERVER[name])
            else:
                self.unknown(statement, "server { }")
        for name, (value, statement) in inherited.items():
            if name not in self.out.raw.data.get("server", {}):
                self.put(("server", name), value, statement)
        web = websockets is not None and websockets.args[0] == "on"
        if web:
            assert websockets is not None
            self.plugin("websocket", websockets)
            self.put(("plugins", "websocket", "plain_stomp"), True, websockets)
            self.put(("plugins", "websocket", "paths"), ["*"], websockets)
            self.note(websockets, logging.DEBUG,
                      "on: every listen port serves STOMP and WebSocket (any path, as xtomp), and GET /health_check")
        elif websockets is None:
            self.note(block, logging.INFO,
                      "{ } has no websockets directive: xtomp served WebSocket on every port unless "
                      "\"websockets off\"; here WebSocket is off unless \"websockets on;\" is written")
        if origins is not None:
            if web:
                entries = [entry for entry in origins.args[0].split(",") if entry]
                self.put(("plugins", "websocket", "websockets_origin"), entries, origins)
            else:
                self.note(origins, logging.INFO, "is ignored: WebSocket is off (websockets on; to serve it)")
        addresses = [address for address in (self.listen(statement, web) for statement in listens) if address]
        if not listens:
            self.error(block, f'no "listen" is defined for server in {block.where}')
        elif addresses:
            self.put(("server", "listen"), addresses, listens[0])
            if len(listens) > 1:
                # One key, several directives: cite the first; convert lists them all.
                self.out.sources[("server", "listen")] = Statement(
                    "listen", [], listens[0].file, listens[0].line,
                    shown=" ".join(f"{s.text} (line {s.line})" if s is not listens[0] else s.text for s in listens),
                )
        names: dict[str, Statement] = {}
        for statement in destinations:
            if self.args(statement, 0, block=True):
                self.destination(statement, names)
        self.port_notes(names)

    def listen(self, statement: Statement, web: bool) -> str | None:
        if not self.args(statement, None):
            return None
        address, options = statement.args[0], statement.args[1:]
        for option in options:
            key = option.partition("=")[0]
            if option == "ssl":
                self.error(statement, "listen ... ssl: xtomp had no TLS (it refused ssl too); for TLS convert this "
                                      "file (xtomp convert) and use a tls:// listener")
                return None
            if key in ("bind", "backlog", "ipv6only", "so_keepalive", "default_server"):
                self.note(statement, logging.INFO, f"{option} is ignored: the listener binds its own address "
                                                   "with the system's backlog and keep-alive settings")
            else:
                self.error(statement, f'invalid parameter "{option}" in listen')
                return None
        if address.startswith("unix:"):
            self.error(statement, "listen unix:...: UNIX sockets are not supported; listen on a loopback address")
            return None
        if address.isdigit():
            host, port_text = "0.0.0.0", address
        elif address.startswith("["):
            host, _, rest = address.partition("]")
            host, port_text = host + "]", rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = address.rpartition(":")
            host = "0.0.0.0" if host in ("", "*") else host
        if not port_text.isdigit() or int(port_text) > 65535:
            self.error(statement, f'invalid port in "{address}" of listen')
            return None
        port = int(port_text)
        first = self.listens.get((host, port))
        if first is not None:
            self.error(statement, f'duplicate listen {address} (first at {first.where})')
            return None
        self.listens[(host, port)] = statement
        if web:
            return f"ws://{host}:{port}{XTOMP_WS_PATH}"
        return f"{host}:{port}"

    def plugin(self, name: str, statement: Statement) -> None:
        if name not in self.out.raw.data.get("plugins", {}):
            self.table(("plugins", name), statement)

    def destination(self, block: Statement, names: dict[str, Statement]) -> None:
        named = [s for s in block.children or [] if s.name == "name"]
        if not named:
            self.error(block, "destination { } has no name (xtomp called it \"unknown\")")
            return
        if not self.args(named[0]):
            return
        name = named[0].args[0]
        if name in names:
            self.error(named[0], f'destination "{name}" is duplicate (first at {names[name].where}; xtomp used '
                                 "the first and ignored this one)")
            return
        names[name] = named[0]
        path: KeyPath = ("destinations", name)
        self.table(path, block)
        for statement in block.children or []:
            key = statement.name
            if key == "name":
                if statement is not named[0]:
                    self.error(statement, f'"name" is duplicate (first at {named[0].where})')
            elif key in ("max_connections", "max_messages"):
                value = self.integer(statement)
                if value is not None:
                    self.put(path + (key,), value, statement)
            elif key == "max_message_size":
                size = self.size(statement)
                if size is not None:
                    self.put(path + (key,), size, statement)
            elif key == "min_delivery":
                value = self.integer(statement)
                if value is not None and value > 1:
                    self.error(statement, f"min_delivery {value}: re-sending each message to {value} consumers is "
                                          "not supported (1 makes a queue: each message to one consumer)")
                elif value is not None:
                    self.put(path + (key,), value, statement)
                    if value == 1:
                        self.plugin("queues", statement)
            elif key in ("stats", "web_read_block", "web_write_block"):
                value_flag = self.flag(statement)
                if value_flag is not None:
                    self.put(path + (key,), value_flag, statement)
            elif key == "filter":
                if self.args(statement):
                    mode = statement.args[0]
                    if mode not in ("on", "off", "required"):
                        self.error(statement, f'invalid value "{mode}" in "filter": expected on, off or required')
                        continue
                    self.plugin("filters", statement)
                    # xtomp's "filter on" required a filter header on every SUBSCRIBE.
                    self.put(path + ("filter",), "off" if mode == "off" else "required", statement)
                    if mode == "on":
                        self.note(statement, logging.DEBUG,
                                  "on: as in xtomp, every SUBSCRIBE must carry a filter header (filter = \"required\")")
            elif key == "filter_header":
                if self.args(statement):
                    self.plugin("filters", statement)
                    self.put(path + (key,), statement.args[0], statement)
            elif key == "expiry":
                if self.time(statement) is not None:
                    self.note(statement, logging.INFO,
                              "is ignored: xtomp never enforced it; to have queued messages expire, write "
                              "expiry in TOML (xtomp convert)")
            elif key == "log_messages":
                value_flag = self.flag(statement)
                if value_flag:
                    self.note(statement, logging.WARNING,
                              "on is ignored: there is no message journal (xtomp appended every message to "
                              "/var/spool/xtomp/data/uber.stomp)")
                elif value_flag is not None:
                    self.note(statement, logging.DEBUG, "off: there is no message journal")
            elif key == "no_subscribers":
                if self.args(statement):
                    self.note(statement, logging.INFO, "is ignored: unused by xtomp too")
            else:
                self.unknown(statement, "destination { }")

    def port_notes(self, names: dict[str, Statement]) -> None:
        data = self.out.raw.data.get("destinations", {})
        stats = [name for name, table in data.items() if table.get("stats")]
        if stats and "/xtomp/stat" not in data:
            statement = self.out.sources[("destinations", stats[0], "stats")]
            self.note(statement, logging.WARNING,
                      "on: figures are published to the destination /xtomp/stat only (xtomp logged them when it "
                      "was not declared): declare destination { name /xtomp/stat; }")
        blocks = any(table.get("web_read_block") or table.get("web_write_block") for table in data.values())
        websocket = "websocket" in self.out.raw.data.get("plugins", {})
        for (_, port), statement in self.listens.items():
            if port in _WEB_PORTS and blocks and not websocket:
                self.note(statement, logging.WARNING,
                          f"{port}: xtomp applied web_read_block/web_write_block to plain STOMP on this \"web\" "
                          "port; here they apply to WebSocket sessions only")
            if port == _TRUSTED_PORT:
                self.note(statement, logging.WARNING,
                          f"{port}: xtomp's \"trusted\" port let SEND's id header set the message-id; here "
                          "message-ids are always the broker's")


def translate(path: str | Path) -> Translation:
    """Parse and translate an xtomp.conf; raise one ConfigError listing every problem."""
    file = Path(path)
    translator = _Translator()
    statements = parse_nginx(file, files=translator.out.raw.files)
    translator.main(statements)
    if translator.errors:
        raise ConfigError("\n".join(translator.errors))
    return translator.out


#: What ``-g`` errors and origins are named.
GLOBAL_DIRECTIVES = "-g"


def translate_global_directives(text: str) -> Translation:
    """``xtomp -g 'pid /run/xtomp.pid; worker_processes 2;'``: nginx's ``-g``, directives of the
    main context (not ``xtomp { }``, nor ``include``) given on the command line; each error and
    origin names ``-g``. Raise one ConfigError listing every problem."""
    file = GLOBAL_DIRECTIVES

    def no_include(args: list[str], line: int) -> list[Statement]:
        raise ConfigError(f"{file}: include: only directives of the main context may be given with -g")

    translator = _Translator()
    statements = _statements(_tokens(text, file), file, no_include)
    for statement in statements:
        if statement.name == "xtomp":
            translator.error(statement, '"xtomp { }" belongs in the configuration file: -g takes directives of '
                                        "the main context (worker_processes, pid, error_log, daemon...)")
        else:
            translator.core(statement)
    if translator.errors:
        raise ConfigError("\n".join(translator.errors))
    return translator.out


def read_nginx_config(path: str | Path) -> RawConfig:
    """:func:`translate`, logging the notes on the ``xtomp.config`` logger."""
    translation = translate(path)
    for note in translation.notes:
        log.log(note.level, "%s", note)
    return translation.raw
