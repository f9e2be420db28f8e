"""Plugin loading and start-up: enabled plugins only, in-process plugins, and errors naming file and key."""

from __future__ import annotations

import re
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import xtomp_core.plugins as plugins_module
from xtomp_core import hookimpl
from xtomp_core.bootstrap import build_broker, load_config
from xtomp_core.broker.broker import Broker
from xtomp_core.destination import Destination
from xtomp_core.config import DESTINATION, SERVER, plugin_scope
from xtomp_core.errors import ConfigError
from xtomp_core.plugins import ENTRY_POINT_GROUP, PluginHost
from xtomp_testing import write_config


class Blackhole(Destination):
    """Accepts every message and keeps none."""

    __slots__ = ()
    type_name = "blackhole"

    def publish(self, message: Any, sender: Any) -> None:
        self.dropped += 1


class BlackholePlugin:
    """An in-process plugin: a destination type and a directive in each kind of scope."""

    @hookimpl
    def xtomp_add_directives(self, directives: Any) -> None:
        directives.declare("hole_depth", "int", 3, DESTINATION, "How deep the hole is.", minimum=1)
        directives.declare("hole_limit", "size", 1024, SERVER, "Most bytes swallowed per second.")
        directives.declare("colour", "choice", "black", plugin_scope("blackhole"), "Hole colour.",
                           choices=("black", "grey"))

    @hookimpl
    def xtomp_register_destination_types(self, registry: Any) -> None:
        registry.register("blackhole", Blackhole)


def test_not_installed_plugin_names_file_key_and_cause(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "[plugins.nosuchplugin]\n")
    with pytest.raises(ConfigError) as raised:
        load_config(directory)
    message = str(raised.value)
    assert message.startswith(
        f"{directory / '50-test.toml'}: plugins.nosuchplugin: plugin 'nosuchplugin' is enabled but not installed "
    )
    assert re.search(r"\(installed plugins: [^)]*\btopics\b", message)
    assert message.endswith("install the distribution xtomp-nosuchplugin or rename the file to *.disabled")


def test_load_config_imports_exactly_the_enabled_plugins(tmp_path: Path) -> None:
    config, host = load_config(write_config(tmp_path))
    assert host.enabled == ["topics"]
    assert list(config.plugins) == ["topics"]
    assert host.manager.get_plugin("topics") is sys.modules["xtomp_topics.plugin"]
    assert config.destination_defaults["slow_consumer"] == "pause"  # the topics plugin's directive


def test_plugin_disabled_means_its_directives_are_unknown(tmp_path: Path) -> None:
    base = '[server]\nlisten = ["127.0.0.1:0"]\n[destination_defaults]\nslow_consumer = "disconnect"\n'
    directory = write_config(tmp_path, base=base)
    with pytest.raises(ConfigError) as raised:
        load_config(directory)
    assert str(raised.value) == (
        f"{directory / '00-base.toml'}: destination_defaults.slow_consumer: unknown directive; "
        "plugin 'topics' (installed with xtomp-topics) provides it: enable it with a [plugins.topics] table"
    )


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, points: dict[str, str]) -> None:
    eps = [EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in points.items()]

    def entry_points(group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return eps

    monkeypatch.setattr(plugins_module, "entry_points", entry_points)


def test_only_enabled_entry_points_are_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("xtomp_fake_plugin")
    module.xtomp_register_destination_types = hookimpl(  # type: ignore[attr-defined]
        lambda registry: registry.register("fake", Blackhole)
    )
    monkeypatch.setitem(sys.modules, "xtomp_fake_plugin", module)
    fake_entry_points(
        monkeypatch, {"fake": "xtomp_fake_plugin", "broken": "xtomp_no_such_module_anywhere:plugin"}
    )
    host = PluginHost()
    host.load(["fake"], {"fake": "conf.d/30-fake.toml"})  # "broken" is installed but not enabled
    assert host.enabled == ["fake"]
    assert "xtomp_no_such_module_anywhere" not in sys.modules
    assert host.registries().destination_types.owner("fake") == "fake"


def test_plugin_that_fails_to_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, {"broken": "xtomp_no_such_module_anywhere:plugin"})
    with pytest.raises(ConfigError) as raised:
        PluginHost().load(["broken"])
    assert str(raised.value).startswith(
        "plugin 'broken' (xtomp_no_such_module_anywhere:plugin) failed to import: No module named"
    )


def test_missing_plugin_origin_falls_back_to_config(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, {})
    with pytest.raises(ConfigError) as raised:
        PluginHost().load(["queues"])
    assert str(raised.value) == (
        "config: plugins.queues: plugin 'queues' is enabled but not installed (installed plugins: none); "
        "install the distribution xtomp-queues or rename the file to *.disabled"
    )


# -- in-process plugins ---------------------------------------------------------------------


def test_in_process_plugin_adds_directives_credited_to_it() -> None:
    host = PluginHost()
    host.register("blackhole", BlackholePlugin())
    directives = host.directives()
    depth = directives.get(DESTINATION, "hole_depth")
    assert depth is not None
    assert (depth.plugin, depth.kind, depth.default, depth.minimum) == ("blackhole", "int", 3, 1)
    assert directives.get(SERVER, "hole_limit").plugin == "blackhole"  # type: ignore[union-attr]
    assert directives.get("plugins.blackhole", "colour").choices == ("black", "grey")  # type: ignore[union-attr]
    # The core's own are still credited to the core, not to the last plugin that ran.
    assert directives.get(SERVER, "max_frame_size").plugin == "core"  # type: ignore[union-attr]
    assert directives.get(DESTINATION, "max_messages").plugin == "core"  # type: ignore[union-attr]
    assert directives.current_plugin == "core"
    assert host.enabled == ["blackhole"]


def test_in_process_module_plugin() -> None:
    module = types.ModuleType("xtomp_inline")

    @hookimpl
    def xtomp_add_directives(directives: Any) -> None:
        directives.declare("inline_flag", "bool", False, SERVER, "A flag.")

    module.xtomp_add_directives = xtomp_add_directives  # type: ignore[attr-defined]
    host = PluginHost()
    host.register("inline", module)
    assert host.directives().get(SERVER, "inline_flag").plugin == "inline"  # type: ignore[union-attr]


def test_in_process_plugin_through_load_config_and_broker(tmp_path: Path) -> None:
    host = PluginHost()
    host.register("blackhole", BlackholePlugin())
    directory = write_config(
        tmp_path,
        '[plugins.blackhole]\ncolour = "grey"\n[server]\nhole_limit = "4k"\n'
        '[destination_defaults]\nhole_depth = 5\n[destinations."/dev/null"]\ntype = "blackhole"\nhole_depth = 9\n',
    )
    config, same_host = load_config(directory, host)
    assert same_host is host
    assert host.enabled == ["blackhole", "topics"]  # not loaded twice from entry points
    extra = str(directory / "50-test.toml")
    assert dict(config.plugins["blackhole"]) == {"colour": "grey"}
    assert config.server["hole_limit"] == 4096
    assert config.destination_defaults["hole_depth"] == 5
    hole = config.destinations["/dev/null"]
    assert (hole["hole_depth"], hole.origin("hole_depth")) == (9, extra)
    assert config.prefixes[0][1]["hole_depth"] == 5  # "/topic/*" inherits the defaults
    broker = Broker(config, host)
    assert broker.registries.destination_types.owner("blackhole") == "blackhole"
    assert broker.registries.destination_types.owner("topic") == "topics"
    assert isinstance(broker.destinations[b"/dev/null"], Blackhole)


def test_in_process_plugin_directive_is_validated(tmp_path: Path) -> None:
    host = PluginHost()
    host.register("blackhole", BlackholePlugin())
    directory = write_config(tmp_path, '[destinations."/dev/null"]\ntype = "blackhole"\nhole_depth = 0\n')
    with pytest.raises(ConfigError) as raised:
        load_config(directory, host)
    assert str(raised.value) == (
        f'{directory / "50-test.toml"}: destinations."/dev/null".hole_depth: must be at least 1'
    )


class TtlA:
    @hookimpl
    def xtomp_add_directives(self, directives: Any) -> None:
        directives.declare("ttl", "duration", 0.0, DESTINATION, "Time to live.")


class TtlB(TtlA):
    pass


def test_directive_declared_by_two_plugins_names_both() -> None:
    host = PluginHost()
    host.register("expiry", TtlA())
    host.register("ttl", TtlB())
    with pytest.raises(ConfigError) as raised:
        host.directives()
    message = str(raised.value)
    assert message.startswith("directive destination.ttl is declared twice (by ")
    assert sorted(re.findall(r"by (\w+)", message)) == ["expiry", "ttl"]


def test_plugin_redeclaring_a_core_directive_names_core() -> None:
    class Greedy:
        @hookimpl
        def xtomp_add_directives(self, directives: Any) -> None:
            directives.declare("max_frame_size", "size", 1024, SERVER, "Mine now.")

    host = PluginHost()
    host.register("greedy", Greedy())
    with pytest.raises(ConfigError) as raised:
        host.directives()
    assert sorted(re.findall(r"by (\w+)", str(raised.value))) == ["core", "greedy"]
    assert str(raised.value).startswith("directive server.max_frame_size is declared twice")


def test_destination_type_registered_by_two_plugins_names_both() -> None:
    class Other:
        @hookimpl
        def xtomp_register_destination_types(self, registry: Any) -> None:
            registry.register("blackhole", Blackhole)

    host = PluginHost()
    host.register("blackhole", BlackholePlugin())
    host.register("other", Other())
    with pytest.raises(ConfigError) as raised:
        host.registries()
    message = str(raised.value)
    assert message.startswith("destination type 'blackhole' is registered twice: by plugin ")
    assert sorted(re.findall(r"by plugin (\w+)", message)) == ["blackhole", "other"]


# -- the broker's start-up checks -----------------------------------------------------------


def test_unregistered_destination_type_names_file_key_and_distribution(tmp_path: Path) -> None:
    directory = write_config(tmp_path, '[destinations."memq"]\ntype = "queue"\n')
    config, host = load_config(directory)
    with pytest.raises(ConfigError) as raised:
        Broker(config, host)
    assert str(raised.value) == (
        f'{directory / "50-test.toml"}: destinations."memq".type: unknown destination type \'queue\' '
        "(known: topic); plugin 'queues' (installed with xtomp-queues) provides it: enable it with a [plugins.queues] table"
    )


def test_unregistered_type_of_a_prefix_rule(tmp_path: Path) -> None:
    directory = write_config(tmp_path, '[destinations."/queue/*"]\ntype = "queue"\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value).startswith(
        f'{directory / "50-test.toml"}: destinations."/queue/*".type: unknown destination type \'queue\' (known: topic)'
    )


def test_unregistered_type_not_well_known_has_no_hint(tmp_path: Path) -> None:
    directory = write_config(tmp_path, '[destinations."x"]\ntype = "wormhole"\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value) == (
        f'{directory / "50-test.toml"}: destinations."x".type: unknown destination type \'wormhole\' (known: topic)'
    )


def test_type_inherited_from_defaults_names_the_defaults_file(tmp_path: Path) -> None:
    directory = write_config(tmp_path, '[destination_defaults]\ntype = "queue"\n[destinations."memq"]\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value).startswith(f'{directory / "50-test.toml"}: destinations."memq".type: ')


def test_topics_disabled_then_topic_type_says_what_to_enable(tmp_path: Path) -> None:
    # type is left to its default ("topic"), and the topics plugin is not enabled.
    directory = write_config(tmp_path, base='[server]\nlisten = ["127.0.0.1:0"]\n[destinations."/topic/*"]\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value) == (
        f'{directory / "00-base.toml"}: destinations."/topic/*".type: unknown destination type \'topic\' '
        "(known: none); plugin 'topics' (installed with xtomp-topics) provides it: enable it with a [plugins.topics] table"
    )


LISTEN_BASE = '[plugins.topics]\n[server]\nlisten = [{}]\n'


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('"nonsense"', "'nonsense': expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:61613"),
        ('"127.0.0.1:99999"', "'127.0.0.1:99999': expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:61613"),
        ('"127.0.0.1:"', "'127.0.0.1:': expected HOST:PORT (port 0-65535)"),
        ('""', "'': expected HOST:PORT (port 0-65535)"),
        ('"[::1]61613"', "'[::1]61613': expected [IPV6]:PORT"),
        ('"tcp://127.0.0.1"', "'tcp://127.0.0.1': expected SCHEME://HOST:PORT[/PATH], e.g. ws://127.0.0.1:15674/ws"),
        ('"tcp://127.0.0.1:70000"', "'tcp://127.0.0.1:70000': expected SCHEME://HOST:PORT[/PATH]"),
    ],
)
def test_invalid_listen_entry(tmp_path: Path, entry: str, problem: str) -> None:
    directory = write_config(tmp_path, base=LISTEN_BASE.format(entry))
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    message = str(raised.value)
    assert message.startswith(f"{directory / '00-base.toml'}: server.listen: ")
    assert problem in message


def test_unknown_listen_scheme_names_the_distribution(tmp_path: Path) -> None:
    directory = write_config(tmp_path, base=LISTEN_BASE.format('"127.0.0.1:0", "ws://127.0.0.1:15674/ws"'))
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value) == (
        f"{directory / '00-base.toml'}: server.listen: 'ws://127.0.0.1:15674/ws': unknown transport 'ws' "
        "(known: tcp, tls); plugin 'websocket' (installed with xtomp-websocket) provides it: enable it with a [plugins.websocket] table"
    )


def test_unknown_listen_scheme_not_well_known(tmp_path: Path) -> None:
    directory = write_config(tmp_path, base=LISTEN_BASE.format('"quic://127.0.0.1:1"'))
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value) == (
        f"{directory / '00-base.toml'}: server.listen: 'quic://127.0.0.1:1': unknown transport 'quic' (known: tcp, tls)"
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1:61613", ("tcp", "127.0.0.1", 61613, "")),
        ("61613", ("tcp", "", 61613, "")),
        ("[::1]:61613", ("tcp", "::1", 61613, "")),
        ("0.0.0.0:0", ("tcp", "0.0.0.0", 0, "")),
        ("tcp://localhost:61613", ("tcp", "localhost", 61613, "")),
        ("TCP://localhost:61613", ("tcp", "localhost", 61613, "")),
    ],
)
def test_valid_listen_entries(tmp_path: Path, entry: str, expected: tuple[str, str, int, str]) -> None:
    broker = build_broker(write_config(tmp_path, base=LISTEN_BASE.format(f'"{entry}"')))
    (address,) = broker.listen_addresses
    assert (address.scheme, address.host, address.port, address.path) == expected
    assert address.text == entry
