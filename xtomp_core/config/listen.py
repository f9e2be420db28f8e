"""Parsing ``listen`` entries: ``HOST:PORT``, ``[IPV6]:PORT``, ``PORT``, ``SCHEME://HOST:PORT/PATH``."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..primitives import ListenAddress

__all__ = ["parse_listen"]


def parse_listen(text: str) -> ListenAddress:
    """Parse one entry; raise ValueError saying what a valid entry looks like."""
    entry = text.strip()
    scheme = "tcp"
    if "://" in entry:
        parts = urlsplit(entry)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        if not scheme or port is None:
            raise ValueError(f"{text!r}: expected SCHEME://HOST:PORT[/PATH], e.g. ws://127.0.0.1:15674/ws")
        return ListenAddress(scheme, parts.hostname or "", port, parts.path, text)
    if entry.isdigit():
        host, port_text = "", entry
    elif entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    else:
        host, _, port_text = entry.rpartition(":")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:61613")
    return ListenAddress(scheme, host, int(port_text), "", text)
