"""Parsing ``listen`` entries: ``HOST:PORT``, ``[IPV6]:PORT``, ``PORT``, ``SCHEME://HOST:PORT/PATH``."""

from __future__ import annotations

import sys
from typing import Any

from ..primitives import ListenAddress

__all__ = ["parse_listen", "listen_host"]


def parse_listen(text: str) -> ListenAddress:
    """Parse one entry; raise ValueError saying what a valid entry looks like."""
    entry = text.strip()
    scheme = "tcp"
    if "://" in entry:
        # Read as urllib.parse.urlsplit reads it (scheme and host lower-cased, a query or
        # fragment dropped), which an idle broker does not import for this one use.
        scheme, _, rest = entry.partition("://")
        scheme = scheme.lower()
        end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
        authority, path = rest[:end].rpartition("@")[2], rest[end:].partition("#")[0].partition("?")[0]
        host, port = _host_port(authority)
        if not _is_scheme(scheme) or port is None:
            raise ValueError(f"{text!r}: expected SCHEME://HOST:PORT[/PATH], e.g. ws://127.0.0.1:15674/ws")
        return ListenAddress(scheme, host.lower(), port, path, text)
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


def _is_scheme(scheme: str) -> bool:
    return scheme[:1].isalpha() and scheme.isascii() and all(ch.isalnum() or ch in "+-." for ch in scheme)


def _host_port(authority: str) -> tuple[str, int | None]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` of a URL: the host without brackets and the port, None
    when it is missing or not a number from 0 to 65535."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        return host, None
    return host, int(port_text)


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
