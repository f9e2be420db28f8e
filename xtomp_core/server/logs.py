"""Logging set-up: stderr or syslog, level from config; nothing is written to files.

There is deliberately no file target (xtomp writes nothing to disk): under systemd, stderr
goes to the journal; elsewhere, syslog or the caller's redirection handles rotation. SIGUSR1
(what logrotate sends) is therefore a no-op: :func:`reopen` only says so at debug level.
"""

from __future__ import annotations

import logging
import sys

from ..config import Section

__all__ = ["configure_logging", "set_level", "reopen"]

FORMAT = "%(asctime)s xtomp[%(process)d] %(levelname)s %(name)s: %(message)s"


def configure_logging(server: Section) -> None:
    root = logging.getLogger("xtomp")
    for previous in list(root.handlers):
        root.removeHandler(previous)
    handler: logging.Handler
    if server["log_target"] == "syslog":
        from logging.handlers import SysLogHandler  # imported only when syslog is configured

        address: str | tuple[str, int] = server["syslog_address"]
        if isinstance(address, str) and not address.startswith("/") and ":" in address:
            host, _, port = address.rpartition(":")
            address = (host, int(port))
        handler = SysLogHandler(address=address, facility=server["syslog_facility"])
        handler.setFormatter(logging.Formatter("xtomp[%(process)d]: %(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    set_level(server)
    root.propagate = False


def set_level(server: Section) -> None:
    """The level of ``server.log_level`` (at start-up and on reload)."""
    logging.getLogger("xtomp").setLevel(server["log_level"].upper())


def reopen() -> None:
    """SIGUSR1: reopen log files. There are none (stderr or syslog), so nothing to do."""
    logging.getLogger("xtomp.server").debug("SIGUSR1: no log file to reopen (logs go to stderr or syslog)")
