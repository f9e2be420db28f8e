"""The connection log: one logfmt line when a session opens (after CONNECT) and one when it closes."""

from __future__ import annotations

import logging
import time

from ..destination import Session
from ..protocol.constants import VERSION_TEXT

__all__ = ["logfmt", "log_opened", "log_closed", "connections_log"]

#: One line per connection: ``opened`` after CONNECT, ``closed`` when it ends (logfmt fields).
connections_log = logging.getLogger("xtomp.connections")


def logfmt(fields: tuple[tuple[str, object], ...]) -> str:
    """``key=value`` pairs; values with spaces, quotes or control characters JSON-quoted."""
    parts = []
    for key, value in fields:
        text = "-" if value is None or value == "" else str(value)
        if " " in text or '"' in text or "=" in text or "\\" in text or not text.isprintable():
            import json  # at the first value that needs quoting (a close reason), not at start-up

            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def log_opened(session: Session) -> None:
    if connections_log.isEnabledFor(logging.INFO):
        connections_log.info("opened %s", logfmt((
            ("id", session.id.decode()),
            ("peer", session.link.peer),
            ("transport", session.link.transport_name),
            ("login", session.login),
            ("version", VERSION_TEXT[session.version].decode()),
        )))


def log_closed(session: Session, reason: str) -> None:
    if connections_log.isEnabledFor(logging.INFO):
        link = session.link
        connections_log.info("closed %s", logfmt((
            ("id", session.id.decode()),
            ("peer", link.peer),
            ("transport", link.transport_name),
            ("login", session.login),
            ("frames_in", session.frames_in),
            ("frames_out", link.frames_out),
            ("duration", f"{time.monotonic() - session.opened_at:.3f}s"),
            ("reason", reason),
        )))
