"""``parse_listen`` reads URL entries as ``urllib.parse.urlsplit`` does (it no longer imports it:
0.6 MB of an idle broker with pathlib and ipaddress), and ``is_loopback`` agrees with
``ipaddress`` (which protected mode no longer imports)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest

from xtomp_core import ListenAddress, parse_listen
from xtomp_core.broker.auth import is_loopback

URLS = [
    "ws://127.0.0.1:15674/ws", "WS://Host.Example:1/Path", "wss://[::1]:15673/ws", "ws://[::1]/ws", "ws://h:/x",
    "ws://h:99999/x", "ws://h:-1/x", "ws://:80/x", "tcp://0.0.0.0:61613", "ws://user@h:1/p", "://h:1", "1ws://h:1",
    "w s://h:1", "ws://h:1?query", "ws://h:1/p?q#f", "ws://h:1#f/x", "ws://h:1:2/x", "ws://[::ffff:1.2.3.4]:5/ws",
    "http://127.0.0.1:15680/", "ws://h:1//a/b", "ws+x://h:12", "ws://h:0012/x", "ws://h: 1/x", "ws://h:\u0663/x",
]


def reference(text: str) -> ListenAddress | None:
    """The reading parse_listen had with urlsplit; None where it raised ValueError."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or port is None:
        return None
    return ListenAddress(parts.scheme.lower(), parts.hostname or "", port, parts.path, text)


@pytest.mark.parametrize("text", URLS)
def test_url_entries_read_as_urlsplit_reads_them(text):
    expected = reference(text)
    if expected is None:
        with pytest.raises(ValueError, match="expected SCHEME://HOST:PORT"):
            parse_listen(text)
    else:
        assert parse_listen(text) == expected


def test_an_unclosed_ipv6_bracket_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'ws://\[::1:5/x': expected SCHEME://HOST:PORT"):
        parse_listen("ws://[::1:5/x")


HOSTS = ["127.0.0.1", "127.1.2.3", "128.0.0.1", "10.0.0.1", "::1", "::2", "::", "::ffff:127.0.0.1",
         "::ffff:10.0.0.1", "fe80::1%eth0", "::1%lo", "localhost", "", "1.2.3", "0:0:0:0:0:0:0:1",
         "::ffff:7f00:1", "::127.0.0.1", "127.0.0.1%x", "not an address"]


@pytest.mark.parametrize("host", HOSTS)
def test_is_loopback_agrees_with_ipaddress(host):
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        expected = False
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        expected = address.is_loopback or (mapped is not None and mapped.is_loopback)
    assert is_loopback(host) == expected
