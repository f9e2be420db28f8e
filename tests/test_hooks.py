"""Every hook specification, driven by a test plugin through a real broker and real sockets.

``test_every_hook_has_a_test`` fails when a hook is added without a test naming it here.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

import xtomp_core.hookspecs as hookspecs
from xtomp_core import ConfigError, Destination, FrameRejected, Principal, hookimpl, plugin_scope
from xtomp_core.bootstrap import load_config
from xtomp_core.broker import Broker
from xtomp_testing import write_config


class PrefixFilter:
    """Matches messages whose ``kind`` header starts with a prefix (a residual filter)."""

    index_key = None
    exact = False

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix

    def __call__(self, headers):
        return headers.get(b"kind", b"").startswith(self.prefix)


class EqualsFilter:
    """``x-equals: name=value``: an exact index key, so the index alone decides."""

    exact = True

    def __init__(self, name: bytes, value: bytes) -> None:
        self.index_key = (name, value)

    def __call__(self, headers):  # pragma: no cover - exact filters are never called
        raise AssertionError("an exact filter must not be called")


class PrefixEngine:
    header = b"x-prefix"

    def compile(self, value, destination):
        return PrefixFilter(value)

    def check_unfiltered(self, destination):
        pass


class EqualsEngine:
    header = b"x-equals"

    def compile(self, value, destination):
        name, _, wanted = value.partition(b"=")
        return EqualsFilter(name, wanted)

    def check_unfiltered(self, destination):
        """Refuse a SUBSCRIBE that carries no filter header at all, where it must."""
        if destination.name.startswith(b"/topic/strict"):
            raise FrameRejected("strict destinations need a filter")


class WebTcp:
    """A transport whose sessions count as web sessions (for web_read/write_block)."""

    def prepare(self, address, context):
        pass

    async def listen(self, address, context):
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: context.connection(transport_name="webtcp", web=True), address.host or None, address.port
        )
        return server, [sock.getsockname()[:2] for sock in server.sockets]


class TokenAuth:
    """An asynchronous authenticator: accepts the passcode ``token-ok``, declines others."""

    def __init__(self, context) -> None:
        self.context = context

    async def authenticate(self, login, passcode, session):
        await asyncio.sleep(0.05)
        if passcode == "token-ok":
            return Principal(login or "token-user", ("ops",))
        return None


class Sink(Destination):
    """Keeps every message body; delivers it to subscribers too when asked to."""

    __slots__ = ("bodies", "deliver")
    type_name = "sink"

    def __init__(self, name, settings, context, deliver=False):
        super().__init__(name, settings, context)
        self.bodies: list[bytes] = []
        self.deliver = deliver

    def publish(self, message, sender):
        self.enqueued += 1
        self.bodies.append(message.body)
        if self.deliver:
            self.fan_out(message)


class HookPlugin:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    @hookimpl
    def xtomp_add_directives(self, directives):
        directives.declare("refuse", "bool", False, plugin_scope("hooks"), "Make xtomp_configure fail.")

    @hookimpl
    def xtomp_register_destination_types(self, registry):
        registry.register("sink", Sink)

    @hookimpl
    def xtomp_register_filter_engines(self, registry):
        registry.register("prefix", PrefixEngine())
        registry.register("equals", EqualsEngine())

    @hookimpl
    def xtomp_register_transports(self, registry):
        registry.register("webtcp", WebTcp())

    @hookimpl
    def xtomp_register_authenticators(self, registry):
        registry.register("async_token", TokenAuth)

    @hookimpl
    def xtomp_register_session_destinations(self, registry):
        # /mine/NAME: a topic private to each connection
        registry.register("/mine/", lambda context, session, name: context.destination(
            b"/topic/private-" + session.id + b"-" + name[len(b"/mine/"):]
        ))

    @hookimpl
    def xtomp_register_send_headers(self, registry):
        # x-stamp: the sender's session id is appended, unless the value is "keep"
        registry.register(
            "x-stamp", lambda context, session, value: None if value == b"keep" else value + b"@" + session.id
        )

    @hookimpl
    def xtomp_configure(self, config, broker):
        self.events.append(("configure",))
        if config.plugins["hooks"]["refuse"]:
            raise ConfigError(f"{config.plugins['hooks'].origin('refuse')}: plugins.hooks.refuse: refused on purpose")

    @hookimpl
    def xtomp_resolve_destination(self, name, context):
        if name.startswith(b"/dyn/"):
            self.events.append(("resolve", name))
            return Sink(name, context.destination_defaults, context, deliver=True)
        return None

    @hookimpl
    def xtomp_startup(self, broker):
        async def started():
            self.events.append(("startup",))

        return started()

    @hookimpl
    def xtomp_shutdown(self, broker):
        self.events.append(("shutdown",))

    @hookimpl
    def xtomp_session_opened(self, session, broker):
        self.events.append(("opened", session.login))

    @hookimpl
    def xtomp_session_closed(self, session, reason):
        self.events.append(("closed", session.login, reason))

    @hookimpl
    def xtomp_collect_stats(self, broker, stats):
        stats["hooks"] = {"opened": sum(1 for event in self.events if event[0] == "opened")}


CONFIG = """
[plugins.hooks]

[server]
listen = ["127.0.0.1:0", "webtcp://127.0.0.1:0"]
authenticators = ["async_token"]
login = "guest"
passcode = "guest"

[destinations."ro"]
web_write_block = true

[destinations."wo"]
web_read_block = true

[destinations."kept"]
type = "sink"
"""

BASE = '[plugins.topics]\n[destinations."/topic/*"]\ntype = "topic"\n'


@pytest.fixture
def plugin():
    return HookPlugin()


@pytest.fixture
def broker(xtomp_factory, plugin):
    return xtomp_factory(CONFIG, base=BASE, plugins=[("hooks", plugin)])


def test_every_hook_has_a_test():
    """Each hook is named by a test function of this module (as datasette does)."""
    tests = " ".join(re.findall(r"^def (test_\w+)", Path(__file__).read_text(), re.MULTILINE))
    hooks = [name for name in dir(hookspecs) if name.startswith("xtomp_")]
    assert len(hooks) == 14
    untested = [name for name in hooks if name not in tests]
    assert not untested, f"hooks without a test in {__file__}: {untested}"


def test_xtomp_add_directives_and_xtomp_configure(tmp_path, plugin):
    from xtomp_core.plugins import PluginHost

    host = PluginHost()
    host.register("hooks", plugin)
    config, host = load_config(write_config(tmp_path, CONFIG.replace("[plugins.hooks]", "[plugins.hooks]\nrefuse = true"), BASE), host)
    assert config.directives.get("plugins.hooks", "refuse").plugin == "hooks"
    with pytest.raises(ConfigError, match="plugins.hooks.refuse: refused on purpose"):
        Broker(config, host)


def test_xtomp_register_authenticators_async_chain_in_order(broker, raw_client, plugin):
    client = raw_client(broker)
    # frames pipelined behind CONNECT wait for the asynchronous answer, then run in order
    client.send(
        b"CONNECT\naccept-version:1.2\nlogin:alice\npasscode:token-ok\n\n\x00"
        b"SUBSCRIBE\ndestination:/topic/a\nid:1\nreceipt:sub\n\n\x00"
        b"SEND\ndestination:/topic/a\nreceipt:sent\n\nafter auth\x00"
    )
    client.expect("CONNECTED")
    client.expect_receipt("sub")
    assert client.expect("MESSAGE").body == b"after auth"
    client.expect_receipt("sent")
    # the next link of the chain (static) still accepts its own credentials
    raw_client(broker).connect(login="guest", passcode="guest")
    refused = raw_client(broker)
    refused.send_frame("CONNECT", {"accept-version": "1.2", "login": "alice", "passcode": "nope"})
    refused.expect_error("auth err")
    assert ("opened", "alice") in plugin.events and ("opened", "guest") in plugin.events


def test_xtomp_register_filter_engines(broker, raw_client):
    subscriber = raw_client(broker)
    subscriber.connect(passcode="token-ok")
    subscriber.subscribe("/topic/f", id="prefix", **{"x-prefix": "red"})
    subscriber.subscribe("/topic/f", id="equals", **{"x-equals": "kind=blue"})
    publisher = raw_client(broker)
    publisher.connect(passcode="token-ok")
    for kind in ("red-1", "blue", "green", "redder", "blue-ish"):
        publisher.send_frame("SEND", {"destination": "/topic/f", "kind": kind}, kind)
    got = [(m.headers[b"subscription"], m.body) for m in subscriber.messages(3)]
    assert got == [(b"prefix", b"red-1"), (b"equals", b"blue"), (b"prefix", b"redder")]
    subscriber.expect_nothing()


def test_xtomp_register_filter_engines_check_unfiltered(broker, raw_client):
    """An engine's optional check_unfiltered sees every SUBSCRIBE without a filter header."""
    client = raw_client(broker)
    client.connect(passcode="token-ok")
    client.subscribe("/topic/strict-a", id="filtered", **{"x-equals": "kind=blue"})
    client.subscribe("/topic/lenient", id="plain")
    client.send_frame("SUBSCRIBE", {"destination": "/topic/strict-b", "id": "bare", "receipt": "r"})
    frame = client.expect_error("strict destinations need a filter")
    assert frame.headers[b"receipt-id"] == b"r"


def test_xtomp_register_transports(broker, raw_client):
    from xtomp_testing import RawClient

    host, port = broker.addresses("webtcp")[0]
    web = RawClient(host, port)
    web.connect(passcode="token-ok")
    web.subscribe("ro")
    web.send_frame("SEND", {"destination": "ro"}, "x")
    web.expect_error("blocked")
    web = RawClient(host, port)
    web.connect(passcode="token-ok")
    web.send_frame("SUBSCRIBE", {"destination": "wo", "id": "1"})
    web.expect_error("blocked")


def test_xtomp_resolve_destination(broker, raw_client, plugin):
    client = raw_client(broker)
    client.connect(passcode="token-ok")
    client.subscribe("/dyn/made-up")
    client.send_frame("SEND", {"destination": "/dyn/made-up"}, "x")
    assert client.expect("MESSAGE").body == b"x"
    assert plugin.events.count(("resolve", b"/dyn/made-up")) == 1  # memoized
    client.send_frame("SEND", {"destination": "/elsewhere"}, "x")
    client.expect_error("destination unknown")


def test_xtomp_register_session_destinations(broker, raw_client):
    alice, bob = raw_client(broker), raw_client(broker)
    for client in (alice, bob):
        client.connect(passcode="token-ok")
        client.subscribe("/mine/inbox", id="in")
    alice.send_frame("SEND", {"destination": "/mine/inbox", "receipt": "sent"}, "for alice")
    message = alice.expect("MESSAGE")
    alice.expect_receipt("sent")
    assert message.body == b"for alice" and message.headers[b"destination"].startswith(b"/topic/private-")
    bob.expect_nothing(0.1)  # the same name meant bob's own destination


def test_xtomp_register_send_headers(broker, raw_client):
    subscriber, sender = raw_client(broker), raw_client(broker)
    subscriber.connect(passcode="token-ok")
    subscriber.subscribe("/topic/stamped")
    connected = sender.connect(passcode="token-ok")
    session_id = connected.headers[b"session"]
    sender.send_frame("SEND", {"destination": "/topic/stamped", "x-stamp": "a"}, "1")
    sender.send_frame("SEND", {"destination": "/topic/stamped", "x-stamp": "keep"}, "2")
    sender.send_frame("SEND", {"destination": "/topic/stamped"}, "3")
    first, second, third = subscriber.messages(3)
    assert first.headers[b"x-stamp"] == b"a@" + session_id
    assert second.headers[b"x-stamp"] == b"keep"
    assert b"x-stamp" not in third.headers


def test_xtomp_startup_xtomp_shutdown_xtomp_session_opened_xtomp_session_closed(xtomp_factory, plugin, raw_client):
    broker = xtomp_factory(CONFIG, base=BASE, plugins=[("hooks", plugin)])
    assert ("startup",) in plugin.events
    client = raw_client(broker)
    client.connect(passcode="token-ok")
    client.send_frame("DISCONNECT", {"receipt": "bye"})
    client.expect_receipt("bye")
    deadline = time.monotonic() + 5
    while ("closed", "token-user", "DISCONNECT") not in plugin.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ("closed", "token-user", "DISCONNECT") in plugin.events  # xtomp_session_closed
    assert ("opened", "token-user") in plugin.events  # xtomp_session_opened
    broker.stop()
    assert plugin.events[-1] == ("shutdown",)


def test_xtomp_register_destination_types(broker, raw_client):
    client = raw_client(broker)
    client.connect(passcode="token-ok")
    client.send_frame("SEND", {"destination": "kept"}, "one")
    client.send_frame("SEND", {"destination": "kept", "receipt": "r"}, "two")
    client.expect_receipt("r")
    sink = broker.broker.destinations[b"kept"]
    assert broker.call(lambda: (type(sink).__name__, list(sink.bodies))) == ("Sink", [b"one", b"two"])
    assert broker.broker.registries.destination_types.owner("sink") == "hooks"


def test_xtomp_collect_stats(broker, raw_client):
    raw_client(broker).connect(passcode="token-ok")
    assert broker.stats()["hooks"] == {"opened": 1}
