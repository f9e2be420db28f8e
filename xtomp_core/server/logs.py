"""Logging set-up: stderr or syslog, level from config; nothing is written to files."""

from __future__ import annotations

import logging
import sys

from ..config import Section

__all__ = ["configure_logging"]

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
    root.setLevel(server["log_level"].upper())
    root.propagate = False
