"""Registries: duplicate names name both plugins, lookups say what to install, frozen after start-up."""

from __future__ import annotations

import pytest

from xtomp_core.errors import ConfigError
from xtomp_core.plugins import PluginHost
from xtomp_core.registry import Registrar, Registry


def test_register_and_get() -> None:
    registry: Registry[str] = Registry("destination type")
    registry.register("topic", "Topic", plugin="topics")
    registry.register("blackhole", "Blackhole", plugin="blackhole")
    assert registry.get("topic") == "Topic"
    assert registry.owner("blackhole") == "blackhole"
    assert "topic" in registry and "queue" not in registry
    assert list(registry) == ["topic", "blackhole"]
    assert registry.items() == [("topic", "Topic"), ("blackhole", "Blackhole")]
    assert len(registry) == 2


def test_duplicate_name_names_both_plugins() -> None:
    registry: Registry[str] = Registry("destination type")
    registry.register("topic", "Topic", plugin="topics")
    with pytest.raises(ConfigError) as raised:
        registry.register("topic", "OtherTopic", plugin="fasttopics")
    assert str(raised.value) == (
        "destination type 'topic' is registered twice: by plugin topics and by plugin fasttopics"
    )
    assert registry.get("topic") == "Topic"  # the first registration stands
    assert registry.owner("topic") == "topics"


@pytest.mark.parametrize("name", ["", None, 3])
def test_invalid_name_refused(name: object) -> None:
    registry: Registry[str] = Registry("transport")
    with pytest.raises(ConfigError) as raised:
        registry.register(name, "x", plugin="odd")  # type: ignore[arg-type]
    assert str(raised.value) == f"plugin odd registered a transport with an invalid name {name!r}"


def test_unknown_name_lists_known_names() -> None:
    registry: Registry[str] = Registry("filter engine")
    registry.register("zeta", "Z", plugin="a")
    registry.register("alpha", "A", plugin="b")
    with pytest.raises(ConfigError) as raised:
        registry.get("beta")
    assert str(raised.value) == "unknown filter engine 'beta' (known: alpha, zeta)"


def test_unknown_name_in_empty_registry() -> None:
    registry: Registry[str] = Registry("authenticator")
    assert registry.missing("ldap") == "unknown authenticator 'ldap' (known: none)"


@pytest.mark.parametrize(
    ("kind", "name", "plugin"),
    [
        ("destination type", "queue", "queues"),
        ("destination type", "topic", "topics"),
        ("filter engine", "selector", "filters"),
        ("filter engine", "header", "filters"),
        ("transport", "ws", "websocket"),
        ("transport", "wss", "websocket"),
        ("authenticator", "jwt", "jwt"),
    ],
)
def test_an_unknown_name_names_the_installed_plugin_that_provides_it(kind: str, name: str, plugin: str) -> None:
    """Found among the installed plugins (this repository's, installed by make), not a table."""
    registry = getattr(PluginHost().registries(), {
        "destination type": "destination_types", "filter engine": "filter_engines",
        "transport": "transports", "authenticator": "authenticators",
    }[kind])
    with pytest.raises(ConfigError) as raised:
        registry.get(name)
    assert str(raised.value).endswith(
        f"; plugin {plugin!r} (installed with xtomp-{plugin}) provides it: enable it with a [plugins.{plugin}] table"
    )


def test_an_enabled_plugin_is_not_suggested_and_the_hint_depends_on_the_kind() -> None:
    host = PluginHost()
    host.load(["queues"])
    registries = host.registries()
    assert registries.transports.missing("queue") == "unknown transport 'queue' (known: tcp, tls)"
    assert "provides it" not in registries.destination_types.missing("nothing-provides-this")
    assert host.hints("destination type", "queue") is None  # enabled already: nothing to suggest


def test_a_registry_without_hints_lists_the_known_names() -> None:
    assert Registry("transport").missing("queue") == "unknown transport 'queue' (known: none)"


def test_frozen_registry_refuses_registration() -> None:
    registry: Registry[str] = Registry("transport")
    registry.register("tcp", "Tcp", plugin="core")
    assert not registry.frozen
    registry.freeze()
    assert registry.frozen
    with pytest.raises(RuntimeError) as raised:
        registry.register("ws", "Ws", plugin="websocket")
    assert str(raised.value) == "the transport registry is frozen after start-up"
    with pytest.raises(RuntimeError, match="frozen"):
        registry.scoped("websocket").register("ws", "Ws")
    assert list(registry) == ["tcp"]
    assert registry.get("tcp") == "Tcp"  # lookups still work


def test_registrar_credits_the_plugin() -> None:
    registry: Registry[str] = Registry("destination type")
    registrar = registry.scoped("queues")
    assert isinstance(registrar, Registrar)
    assert registrar.plugin == "queues"
    assert registrar.kind == "destination type"
    registrar.register("queue", "Queue")
    assert registry.owner("queue") == "queues"
    assert "queue" in registrar
    with pytest.raises(ConfigError, match="registered twice: by plugin queues and by plugin other"):
        registry.scoped("other").register("queue", "Queue2")


def test_registrar_has_no_back_door() -> None:
    registrar = Registry[str]("transport").scoped("p")
    with pytest.raises(AttributeError):
        registrar.extra = 1  # type: ignore[attr-defined]  # __slots__
    assert not hasattr(registrar, "get")


def test_core_registries_are_frozen_and_credited() -> None:
    registries = PluginHost().registries()
    for registry in (
        registries.destination_types,
        registries.filter_engines,
        registries.transports,
        registries.authenticators,
    ):
        assert registry.frozen
    assert list(registries.transports) == ["tcp", "tls"]
    assert registries.transports.owner("tcp") == "core"
    assert list(registries.authenticators) == ["static", "users", "token", "tls_client_auth"]
    assert registries.authenticators.owner("static") == "core"
    assert len(registries.destination_types) == 0  # topics come with a plugin
    with pytest.raises(RuntimeError, match="frozen"):
        registries.transports.register("ws", object(), plugin="test")
