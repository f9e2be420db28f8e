"""Parsing ``listen`` entries: ``HOST:PORT``, ``[IPV6]:PORT``, ``PORT``, ``SCHEME://HOST:PORT/PATH``."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

from ..primitives import ListenAddress

__all__ = ["parse_listen", "listen_host"]


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


def listen_host(host: str) -> Any:  # str, [bytes] or None: asyncio's stubs say str only
    """The ``host`` argument of ``loop.create_server`` for a listen entry's host (``""``: every
    interface, ``None``). Called with the loop running.

    uvloop encodes a text host with the ``idna`` codec before ``getaddrinfo``, which imports
    ``encodings.idna``, ``stringprep`` and ``unicodedata``: 0.4 MB of an idle broker for
    ``127.0.0.1``. An ASCII host needs no encoding, so uvloop gets it as bytes (in a list: a
    bare ``bytes`` would be taken for a sequence of hosts). asyncio resolves an IP literal
    without ``getaddrinfo`` and would decode bytes with that codec, so it keeps the text."""
    if not host:
        return None
    uvloop = sys.modules.get("uvloop")
    if uvloop is not None and host.isascii():
        import asyncio  # imported by now (the loop runs); not at module level: see server/lazyssl.py

        if isinstance(asyncio.get_running_loop(), uvloop.Loop):
            return [host.encode("ascii")]
    return host
