"""The ``xtomp`` command: run the broker, test or show the config, list plugins, print the version.

``xtomp COMMAND ...`` runs a command an installed distribution provides through an entry
point of group ``xtomp.commands`` (``passwd`` comes with xtomp-core itself, ``status`` with
xtomp-admin): the entry point is a function taking the remaining arguments and returning
the exit status. This module knows no command by name, and imports one only when it is
asked for.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config.loader import default_config_path
from .errors import ConfigError, XtompError

if TYPE_CHECKING:
    import argparse

__all__ = ["main", "DEFAULT_CONFIG", "COMMAND_GROUP"]

COMMAND_GROUP = "xtomp.commands"

DEFAULT_CONFIG = default_config_path()


def _parser() -> argparse.ArgumentParser:
    import argparse

    from .entrypoints import entry_points

    commands = sorted(point.name for point in entry_points(COMMAND_GROUP))
    parser = argparse.ArgumentParser(
        prog="xtomp",
        usage="%(prog)s [options]\n       %(prog)s COMMAND [--help] [args...]",
        description="xtomp: a small, fast, in-memory STOMP broker.",
        epilog=f"commands: {', '.join(commands) or 'none'} (xtomp COMMAND --help)",
    )
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, metavar="PATH",
        help="config file, or directory of *.toml files read in order "
        "(default: $XTOMP_CONFIG, else the first that exists of /etc/xtomp/, ./conf.d/ and the C broker's "
        "/etc/xtomp.conf; now %(default)s)",
    )
    parser.add_argument(
        "-g", dest="global_directives", metavar="DIRECTIVES",
        help="nginx-syntax directives of the main context, applied as if the configuration held them "
        "(as nginx's -g): -g 'pid /run/xtomp/xtomp.pid; worker_processes 2;'",
    )
    parser.add_argument("-t", "--test", action="store_true", help="check the configuration, then exit 0 or 1")
    parser.add_argument("--show-config", action="store_true", help="print the effective configuration and exit")
    parser.add_argument("--plugins", action="store_true", help="list installed plugins and exit")
    parser.add_argument(
        "--directives", action="store_true", help="print the directive reference (Markdown) and exit"
    )
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    return parser


class _Unset(SimpleNamespace):
    """The options of a command line that gave only the config path: every other one is unset
    (None; each option of :func:`_parser` defaults to None or False)."""

    def __getattr__(self, name: str) -> None:
        return None


def _config_only(arguments: list[str]) -> str | None:
    """The config path when the arguments say nothing else (none, ``-c PATH``, ``--config PATH``
    or ``--config=PATH``): how a broker is started, without argparse, whose help formatter
    imports shutil, bz2 and lzma (1.1 MB of a running broker's memory). None otherwise."""
    if not arguments:
        return DEFAULT_CONFIG
    if len(arguments) == 2 and arguments[0] in ("-c", "--config") and not arguments[1].startswith("-"):
        return arguments[1]
    if len(arguments) == 1 and arguments[0].startswith("--config=") and len(arguments[0]) > len("--config="):
        return arguments[0][len("--config="):]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and not arguments[0].startswith("-"):
        return _run_command(arguments[0], arguments[1:])
    config_path = _config_only(arguments)
    args: Any
    if config_path is not None:
        args = _Unset(config=config_path)
    else:
        args = _parser().parse_args(arguments)
    if args.version:
        print(f"xtomp {__version__}")
        return 0
    if args.plugins:
        return _list_plugins(args.config, args.global_directives)
    if args.directives:
        return _print_directives()
    from .server.lazyssl import import_asyncio_without_ssl

    import_asyncio_without_ssl()  # before the broker's modules import asyncio: no OpenSSL without TLS
    from .bootstrap import build_broker

    notes = _HeldNotes()  # what reading an xtomp.conf says about directives it ignores
    try:
        broker = build_broker(args.config, global_directives=args.global_directives)  # every check
        config = broker.config
    except ConfigError as error:
        print(f"xtomp: configuration error:\n{error}", file=sys.stderr)
        return 1
    finally:
        notes.close()
    if args.test or args.show_config:
        for record in notes.records:
            print(f"xtomp: [{record.levelname.lower()}] {record.getMessage()}", file=sys.stderr)
    if args.test:
        print(f"xtomp: the configuration {args.config} is valid ({', '.join(config.files)})")
        return 0
    if args.show_config:
        from .config.render import show_config, worst_case_memory

        sys.stdout.write(show_config(config))
        sys.stdout.write(worst_case_memory(config, broker.admission.limit, broker.memory.limit))
        return 0
    from .server.app import run
    from .server.logs import configure_logging

    configure_logging(config.server)
    notes.replay()
    if broker.worker[1] > 1:
        from .server.workers import run_workers

        return run_workers(broker, args.config, broker.worker[1])
    try:
        run(broker, args.config)  # SIGHUP reloads the same path
    except XtompError as error:
        print(f"xtomp: {error}", file=sys.stderr)
        return 1
    return 0


class _HeldNotes(logging.Handler):
    """Holds the INFO and WARNING notes of the ``xtomp.config`` logger while the config is
    read, before logging is configured; :meth:`replay` logs them once it is."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger("xtomp.config")
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(logging.NOTSET)
        super().close()

    def replay(self) -> None:
        threshold = logging.getLogger("xtomp").getEffectiveLevel()
        for record in self.records:
            if record.levelno >= threshold:
                self.logger.handle(record)


def _run_command(name: str, arguments: list[str]) -> int:
    from .entrypoints import entry_points

    points = {point.name: point for point in entry_points(COMMAND_GROUP)}
    point = points.get(name)
    if point is None:
        known = ", ".join(sorted(points)) or "none"
        print(f"xtomp: unknown command {name!r} (installed commands: {known})", file=sys.stderr)
        return 2
    command = point.load()
    assert callable(command), f"entry point {point.value} is not callable"
    status = command(arguments)
    return int(status) if status is not None else 0


def _list_plugins(config_path: str, global_directives: str | None) -> int:
    from .config import enabled_plugins, read_config
    from .plugins import installed_plugins

    try:
        enabled = set(enabled_plugins(read_config(config_path, global_directives)))
    except ConfigError:
        enabled = set()
    installed = installed_plugins()
    print(f"{'plugin':<14}{'distribution':<22}{'version':<10}{'enabled':<9}module")
    for name in sorted(installed):
        plugin = installed[name]
        state = "yes" if name in enabled else "no"
        print(f"{name:<14}{plugin.distribution:<22}{plugin.version:<10}{state:<9}{plugin.value}")
    for name in sorted(enabled - set(installed)):
        print(f"{name:<14}{'(not installed)':<22}{'-':<10}{'yes':<9}-")
    return 0


def _print_directives() -> int:
    from .config.render import directive_reference
    from .plugins import PluginHost, installed_plugins

    host = PluginHost()
    host.load(sorted(installed_plugins()))
    sys.stdout.write(directive_reference(host.directives()))
    return 0
