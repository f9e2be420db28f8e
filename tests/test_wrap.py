"""Registrar.wrap: a plugin decorates a destination type another plugin registers."""

from __future__ import annotations

import types
from typing import Any

import pytest

from xtomp_core import ConfigError, Destination, StashKey, hookimpl
from xtomp_testing import InMemoryBroker, check_config

TAGS = StashKey[list[tuple[str, bytes]]]("wrap test tags")


def _wrapping(name: str, tag: str, *, required: bool = True) -> types.ModuleType:
    """A plugin module whose destinations of type ``name`` remember that ``tag`` wrapped them."""
    module = types.ModuleType(f"wrap_{tag}")

    def wrapper(inner: Any) -> Any:
        def factory(dest_name: bytes, settings: Any, context: Any) -> Destination:
            destination = inner(dest_name, settings, context)
            destination.context.stash.setdefault(TAGS, list).append((tag, dest_name))
            return destination

        return factory

    @hookimpl
    def xtomp_register_destination_types(registry: Any) -> None:
        registry.wrap(name, wrapper, required=required)

    module.xtomp_register_destination_types = xtomp_register_destination_types  # type: ignore[attr-defined]
    return module


def test_a_wrapper_applies_to_the_type_another_plugin_registers_whatever_the_order():
    # The wrapping plugins are registered before topics would be looked at: wrappers still see
    # the topics plugin's factory, and apply in the order they were asked for (inner first).
    with InMemoryBroker(plugins=[("outer_a", _wrapping("topic", "a")), ("outer_b", _wrapping("topic", "b"))]) as memory:
        client = memory.client()
        client.subscribe("/topic/x", id="s")
        client.send("SEND", {"destination": "/topic/x"}, "hello")
        assert [frame.body for frame in client.frames() if frame.command == b"MESSAGE"] == [b"hello"]
        assert memory.context.stash[TAGS] == [("a", b"/topic/x"), ("b", b"/topic/x")]
        assert type(memory.destination("/topic/x")).__name__ == "Topic"


def test_wrapping_a_type_nobody_registers_is_a_config_error_naming_the_plugin():
    with pytest.raises(ConfigError, match=r"plugin lost wraps the destination type 'nowhere'.*known:"):
        check_config(plugins=[("lost", _wrapping("nowhere", "x"))])


def test_an_optional_wrapper_of_a_missing_type_is_skipped():
    with InMemoryBroker(plugins=[("maybe", _wrapping("queue", "q", required=False))]) as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/topic/x", "receipt": "r"}, "hello")
        assert [frame.command for frame in client.frames()] == [b"RECEIPT"]
        assert TAGS not in memory.context.stash
