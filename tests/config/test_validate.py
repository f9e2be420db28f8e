"""Validation against the declared directives: strict keys, types, units, merging, cross checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from xtomp_core.config import (
    DESTINATION,
    Config,
    DirectiveSet,
    build_config,
    enabled_plugins,
    plugin_scope,
    read_config,
)
from xtomp_core.config.directives import Directive
from xtomp_core.errors import ConfigError
from xtomp_core.plugins import PluginHost

LISTEN = '[server]\nlisten = ["127.0.0.1:0"]\n'


@pytest.fixture(scope="module")
def core() -> DirectiveSet:
    return PluginHost().directives()


def build(tmp_path: Path, *texts: str, directives: DirectiveSet | None = None) -> Config:
    """Write each text as its own file (00.toml, 01.toml...) and build the config from the directory."""
    for index, text in enumerate(texts):
        (tmp_path / f"{index:02d}.toml").write_text(text)
    return build_config(read_config(tmp_path), directives or PluginHost().directives())


def errors(tmp_path: Path, *texts: str, directives: DirectiveSet | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        build(tmp_path, *texts, directives=directives)
    return str(raised.value).split("\n")


def one_error(tmp_path: Path, *texts: str, directives: DirectiveSet | None = None) -> str:
    found = errors(tmp_path, *texts, directives=directives)
    assert len(found) == 1, found
    return found[0]


def file(tmp_path: Path, index: int = 0) -> str:
    return str(tmp_path / f"{index:02d}.toml")


# -- the core directives --------------------------------------------------------------------


def test_core_directives_are_credited_to_core(core: DirectiveSet) -> None:
    assert {directive.plugin for directive in core} == {"core"}
    assert core.get("server", "max_frame_size") == Directive(
        "max_frame_size", "size", 4 * 1024 * 1024, "server", core.get("server", "max_frame_size").help,
        "core", (), 1024, None,
    )
    assert core.get(DESTINATION, "max_messages").default == 100
    assert core.get("server", "max_messages") is None


def test_defaults_only(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN)
    assert config.server["listen"] == ("127.0.0.1:0",)
    assert config.server.origin("listen") == file(tmp_path)
    assert config.server["max_frame_size"] == 4 * 1024 * 1024
    assert config.server.origin("max_frame_size") == "default"
    assert config.server["timeout"] == 30.0
    assert config.server["pid_file"] is None
    assert config.destination_defaults["type"] is None  # topic, or queue when min_delivery = 1
    assert config.destination_defaults["min_delivery"] == 0
    assert config.destination_defaults.origin("type") == "default"
    assert dict(config.destinations) == {}
    assert config.prefixes == ()
    assert dict(config.plugins) == {}
    assert config.files == (file(tmp_path),)


def test_converted_values(tmp_path: Path) -> None:
    config = build(
        tmp_path,
        LISTEN
        + 'max_frame_size = "64k"\ntimeout = "500ms"\nheart_beat_read = "2m"\nheart_beat_grace = 2\n'
        'log_level = "debug"\nvirtual_hosts = ["a", "b"]\nmax_headers = 50\n',
    )
    server = config.server
    assert server["max_frame_size"] == 65536
    assert server["timeout"] == 0.5
    assert server["heart_beat_read"] == 120.0
    assert server["heart_beat_grace"] == 2.0 and type(server["heart_beat_grace"]) is float
    assert server["log_level"] == "debug"
    assert server["virtual_hosts"] == ("a", "b")
    assert server["max_headers"] == 50


def test_config_is_frozen(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN)
    with pytest.raises(AttributeError, match="cannot assign to field 'server'"):
        config.server = config.destination_defaults
    with pytest.raises(TypeError):
        config.server["max_headers"] = 1  # type: ignore[index]


# -- unknown keys ---------------------------------------------------------------------------


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + "[destination_defaults]\nmax_mesages = 5\n") == (
        f"{file(tmp_path)}: destination_defaults.max_mesages: unknown directive; did you mean max_messages?"
    )


def test_unknown_key_in_a_destination(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN, '[destinations."/topic/*"]\ntype = "topic"\nmax_conections = 5\n') == (
        f'{file(tmp_path, 1)}: destinations."/topic/*".max_conections: unknown directive; '
        "did you mean max_connections?"
    )


def test_unknown_key_without_a_close_match(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + "zzz = 1\n") == f"{file(tmp_path)}: server.zzz: unknown directive"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + "[severs]\nlisten = []\n") == (
        f"{file(tmp_path)}: severs: unknown top-level key; did you mean server?"
    )


def test_top_level_value_instead_of_table(tmp_path: Path) -> None:
    assert errors(tmp_path, "server = 1\ndestinations = 2\n") == [
        f"{file(tmp_path)}: server: expected a table: write [server]",
        f"{file(tmp_path)}: destinations: expected a table: write [destinations]",
        # listen falls back to its default, so no further error
    ]


def test_destination_key_in_server_says_where_it_belongs(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + "max_messages = 5\n") == (
        f"{file(tmp_path)}: server.max_messages: max_messages is not valid here: "
        'it belongs in [destination_defaults] or a [destinations."NAME"] table'
    )


def test_server_key_in_destination_says_where_it_belongs(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN, '[destinations."memq"]\nmax_frame_size = "1m"\n') == (
        f'{file(tmp_path, 1)}: destinations."memq".max_frame_size: max_frame_size is not valid here: '
        "it belongs in [server]"
    )


def test_plugin_key_in_server_says_where_it_belongs(tmp_path: Path) -> None:
    directives = PluginHost().directives()
    directives.add(Directive("path", "str", "/ws", plugin_scope("websocket"), "URL path.", "websocket"))
    assert one_error(tmp_path, LISTEN + 'path = "/stomp"\n', directives=directives) == (
        f"{file(tmp_path)}: server.path: path is not valid here: it belongs in [plugins.websocket]"
    )


def test_unexpected_table(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + "[server.tls]\ncert = 'x'\n") == (
        f"{file(tmp_path)}: server.tls: unexpected table in [server]"
    )


# -- types, units, limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('max_headers = "ten"', "expected an integer"),
        ("max_headers = 1.5", "expected an integer"),
        ("max_headers = true", "expected an integer"),
        ('heart_beat_grace = "2"', "expected a number"),
        ("heart_beat_grace = false", "expected a number"),
        ("syslog_address = 514", "expected a string"),
        ('virtual_hosts = "a"', "expected a list of strings"),
        ("virtual_hosts = [1]", "expected a list of strings"),
        ('log_level = "loud"', "expected one of 'debug', 'info', 'warning', 'error'"),
        ('log_level = "INFO"', "expected one of 'debug', 'info', 'warning', 'error'"),
        ("log_level = 1", "expected one of 'debug', 'info', 'warning', 'error'"),
        ('max_frame_size = "4q"', "'4q' is not a size: use bytes (4096) or a unit: "
         '"64k", "4m", "1g"'),
        ("max_frame_size = -1", "a size cannot be negative"),
        ("max_frame_size = true", 'expected a size such as 4096, "64k" or "4m"'),
        ("timeout = 30", 'has no unit: write "30ms" or "30s"'),
        ('timeout = "30"', "'30' is not a duration: use a unit"),
        ('timeout = "30 seconds"', "'30 seconds' is not a duration"),
        # below the minimum / above the maximum, shown in the directive's own unit
        ("max_frame_size = 100", 'must be at least "1k"'),
        ('write_buffer_high = "1k"', 'must be at least "4k"'),
        ("max_headers = 0", "must be at least 1"),
        ('timeout = "0"', 'must be at least "1ms"'),
        ("heart_beat_grace = 0.5", "must be at least 1.0"),
        ("heart_beat_grace = 11", "must be at most 10.0"),
    ],
)
def test_bad_server_value(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(" =")[0]
    error = one_error(tmp_path, LISTEN + line + "\n")
    assert error.startswith(f"{file(tmp_path)}: server.{key}: ")
    assert message in error


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ('"on"', True), ('"off"', False)])
def test_bool_accepts_true_false_on_off(tmp_path: Path, value: str, expected: bool) -> None:
    config = build(tmp_path, LISTEN, f'[destinations."d"]\nweb_read_block = {value}\n')
    assert config.destinations["d"]["web_read_block"] is expected


@pytest.mark.parametrize("value", ['"yes"', '"On"', "1", "0", '"true"'])
def test_bool_refuses_other_values(tmp_path: Path, value: str) -> None:
    assert one_error(tmp_path, LISTEN, f'[destinations."d"]\nweb_read_block = {value}\n') == (
        f'{file(tmp_path, 1)}: destinations."d".web_read_block: expected true or false'
    )


def test_zero_duration_allowed_where_minimum_is_zero(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN + 'heart_beat_read = 0\nheart_beat_write_max = "0"\nlinger = "0ms"\n')
    assert config.server["heart_beat_read"] == 0.0
    assert config.server["heart_beat_write_max"] == 0.0
    assert config.server["linger"] == 0.0


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        LISTEN + 'max_headers = "ten"\ntimeout = 30\nmax_messages = 3\n',
        '[destination_defaults]\nmax_mesages = 5\n[destinations."a*b"]\n[destinations."/q/*"]\nweb_read_block = "yes"\n'
        "[nonsense]\n",
    )
    a, b = file(tmp_path), file(tmp_path, 1)
    assert found == [
        f"{b}: nonsense: unknown top-level key",
        f"{a}: server.max_headers: expected an integer",
        f'{a}: server.timeout: 30 has no unit: write "30ms" or "30s"',
        f"{a}: server.max_messages: max_messages is not valid here: "
        'it belongs in [destination_defaults] or a [destinations."NAME"] table',
        f"{b}: destination_defaults.max_mesages: unknown directive; did you mean max_messages?",
        f'{b}: destinations."a*b": a "*" may only end a name, making it a prefix rule ("/topic/*")',
        f'{b}: destinations."/q/*".web_read_block: expected true or false',
    ]


# -- destinations ---------------------------------------------------------------------------


def test_destination_merges_over_defaults_over_directive_defaults(tmp_path: Path) -> None:
    config = build(
        tmp_path,
        LISTEN + "[destination_defaults]\nmax_messages = 50\nmax_connections = 20\n",
        '[destinations."memq"]\nmax_connections = 5\nweb_write_block = "on"\n',
    )
    a, b = file(tmp_path), file(tmp_path, 1)
    defaults = config.destination_defaults
    assert (defaults["max_messages"], defaults.origin("max_messages")) == (50, a)
    assert (defaults["max_connections"], defaults.origin("max_connections")) == (20, a)
    memq = config.destinations["memq"]
    assert memq.path == 'destinations."memq"'
    assert dict(memq) == {
        "type": None,
        "min_delivery": 0,
        "max_connections": 5,
        "max_messages": 50,
        "max_message_size": 1024 * 1024,
        "web_read_block": False,
        "web_write_block": True,
        "stats": False,
        "allow_send": ("*",),
        "allow_subscribe": ("*",),
        "allow_create": ("*",),
    }
    assert {key: memq.origin(key) for key in memq} == {
        "type": "default",
        "min_delivery": "default",
        "max_connections": b,
        "max_messages": a,
        "max_message_size": "default",
        "web_read_block": "default",
        "web_write_block": b,
        "stats": "default",
        "allow_send": "default",
        "allow_subscribe": "default",
        "allow_create": "default",
    }
    assert config.destination_section("memq") is memq
    assert config.destination_section("memq2") is None


def test_destination_defaults_do_not_leak_between_destinations(tmp_path: Path) -> None:
    config = build(
        tmp_path, LISTEN + '[destinations."a"]\nmax_messages = 1\n[destinations."b"]\nmax_connections = 2\n'
    )
    assert (config.destinations["a"]["max_messages"], config.destinations["a"]["max_connections"]) == (1, 1000)
    assert (config.destinations["b"]["max_messages"], config.destinations["b"]["max_connections"]) == (100, 2)
    assert config.destination_defaults["max_messages"] == 100


def test_prefix_rules_sorted_longest_first(tmp_path: Path) -> None:
    config = build(
        tmp_path,
        LISTEN,
        '[destinations."/topic/*"]\nmax_messages = 1\n'
        '[destinations."/queue/*"]\nmax_messages = 2\n'
        '[destinations."/topic/priority/*"]\nmax_messages = 3\n'
        '[destinations."*"]\nmax_messages = 4\n'
        '[destinations."/topic/exact"]\nmax_messages = 5\n',
    )
    assert [prefix for prefix, _ in config.prefixes] == ["/topic/priority/", "/topic/", "/queue/", ""]
    assert [section["max_messages"] for _, section in config.prefixes] == [3, 1, 2, 4]
    assert list(config.destinations) == ["/topic/exact"]
    assert config.prefixes[0][1].path == 'destinations."/topic/priority/*"'
    assert config.prefixes[0][1].origin("max_messages") == file(tmp_path, 1)

    def rule(name: str) -> int:
        section = config.destination_section(name)
        assert section is not None
        return int(section["max_messages"])

    assert rule("/topic/exact") == 5  # the exact name wins over every prefix
    assert rule("/topic/priority/x") == 3
    assert rule("/topic/x") == 1
    assert rule("/topic/") == 1
    assert rule("/queue/x") == 2
    assert rule("memq") == 4  # the catch-all


def test_no_rule_no_section(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN, '[destinations."/topic/*"]\n')
    assert config.destination_section("/queue/a") is None
    assert config.destination_section("/topic") is None


@pytest.mark.parametrize("name", ["/topic/*/x", "*/topic", "/a**", "/a/*b"])
def test_star_not_at_the_end_is_an_error(tmp_path: Path, name: str) -> None:
    assert one_error(tmp_path, LISTEN, f'[destinations."{name}"]\ntype = "topic"\n') == (
        f'{file(tmp_path, 1)}: destinations."{name}": a "*" may only end a name, making it a prefix rule ("/topic/*")'
    )


def test_empty_destination_name_is_an_error(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN, '[destinations.""]\ntype = "topic"\n') == (
        f'{file(tmp_path, 1)}: destinations."": a destination name cannot be empty'
    )


def test_destination_must_be_a_table(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN, '[destinations]\nmemq = "queue"\n') == (
        f'{file(tmp_path, 1)}: destinations."memq": expected a table: write [destinations."memq"]'
    )


# -- plugins' tables ------------------------------------------------------------------------


def test_enabled_plugins_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "00.toml").write_text("[plugins.topics]\n[plugins.queues]\n")
    (tmp_path / "10.toml").write_text("[plugins.filters]\n")
    assert enabled_plugins(read_config(tmp_path)) == ["topics", "queues", "filters"]


def test_plugins_must_be_tables(tmp_path: Path) -> None:
    (tmp_path / "00.toml").write_text("[plugins]\ntopics = true\n")
    with pytest.raises(ConfigError) as raised:
        enabled_plugins(read_config(tmp_path))
    assert str(raised.value) == f"{file(tmp_path)}: plugins.topics: expected a table: write [plugins.topics]"
    (tmp_path / "00.toml").write_text('plugins = ["topics"]\n')
    with pytest.raises(ConfigError) as raised:
        enabled_plugins(read_config(tmp_path))
    assert str(raised.value) == f"{file(tmp_path)}: plugins: expected tables such as [plugins.topics]"


def test_plugin_table_is_validated_against_its_scope(tmp_path: Path) -> None:
    directives = PluginHost().directives()
    directives.add(Directive("path", "str", "/ws", plugin_scope("websocket"), "URL path.", "websocket"))
    config = build(tmp_path, LISTEN + '[plugins.websocket]\npath = "/stomp"\n', directives=directives)
    section = config.plugins["websocket"]
    assert dict(section) == {"path": "/stomp"}
    assert section.origin("path") == file(tmp_path)
    assert section.path == "plugins.websocket"
    assert one_error(tmp_path, LISTEN + '[plugins.websocket]\npaht = "/stomp"\n', directives=directives) == (
        f"{file(tmp_path)}: plugins.websocket.paht: unknown directive; did you mean path?"
    )


def test_plugin_without_directives_takes_no_keys(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN + "[plugins.topics]\n")
    assert list(config.plugins) == ["topics"]
    assert dict(config.plugins["topics"]) == {}
    assert one_error(tmp_path, LISTEN + "[plugins.topics]\nfast = true\n") == (
        f"{file(tmp_path)}: plugins.topics.fast: unknown directive"
    )


# -- cross checks ---------------------------------------------------------------------------


def test_heart_beat_write_min_above_max_both_set(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + 'heart_beat_write_min = "90s"\nheart_beat_write_max = "30s"\n') == (
        f"{file(tmp_path)}: server.heart_beat_write_min: "
        f'heart_beat_write_min = "90s" ({file(tmp_path)}) is larger than '
        f'heart_beat_write_max = "30s" ({file(tmp_path)})'
    )


def test_cross_check_cites_the_file_not_default(tmp_path: Path) -> None:
    # Only max is set (below min's default of 1s): the error must point at the file that set it.
    assert one_error(tmp_path, LISTEN, '[server]\nheart_beat_write_max = "500ms"\n') == (
        f"{file(tmp_path, 1)}: server.heart_beat_write_max: "
        f'heart_beat_write_min = "1s" (default) is larger than heart_beat_write_max = "500ms" ({file(tmp_path, 1)})'
    )


def test_heart_beat_write_max_zero_disables_the_check(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN + 'heart_beat_write_min = "90s"\nheart_beat_write_max = 0\n')
    assert (config.server["heart_beat_write_min"], config.server["heart_beat_write_max"]) == (90.0, 0.0)


def test_heart_beat_min_equal_max_is_fine(tmp_path: Path) -> None:
    config = build(tmp_path, LISTEN + 'heart_beat_write_min = "30s"\nheart_beat_write_max = "30s"\n')
    assert config.server["heart_beat_write_min"] == config.server["heart_beat_write_max"] == 30.0


def test_write_buffer_low_above_high(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN + 'write_buffer_low = "2m"\n') == (
        f"{file(tmp_path)}: server.write_buffer_low: "
        f'write_buffer_low = "2m" ({file(tmp_path)}) is larger than write_buffer_high = "1m" (default)'
    )
    assert one_error(tmp_path, LISTEN + 'write_buffer_high = "128k"\nwrite_buffer_low = "256k"\n') == (
        f"{file(tmp_path)}: server.write_buffer_low: "
        f'write_buffer_low = "256k" ({file(tmp_path)}) is larger than write_buffer_high = "128k" ({file(tmp_path)})'
    )


def test_write_buffer_low_defaults_to_a_quarter_of_high(tmp_path: Path) -> None:
    from xtomp_core.bootstrap import build_broker
    from xtomp_testing import write_config

    directory = write_config(tmp_path / "conf", '[server]\nwrite_buffer_high = "128k"\n')
    assert build_broker(directory).limits.write_buffer_low == 32 * 1024
    config = build(tmp_path, LISTEN + 'write_buffer_high = "128k"\nwrite_buffer_low = "64k"\n')
    assert (config.server["write_buffer_high"], config.server["write_buffer_low"]) == (131072, 65536)


def test_passcode_without_login(tmp_path: Path) -> None:
    assert one_error(tmp_path, LISTEN, '[server]\npasscode = "secret"\n') == (
        f"{file(tmp_path, 1)}: server.passcode: set without server.login"
    )
    config = build(tmp_path, LISTEN, '[server]\npasscode = "secret"\nlogin = "guest"\n')
    assert (config.server["login"], config.server["passcode"]) == ("guest", "secret")


def test_empty_listen(tmp_path: Path) -> None:
    assert one_error(tmp_path, "[server]\nlisten = []\n") == (
        f"{file(tmp_path)}: server.listen: at least one address is needed"
    )


def test_directive_declared_twice_names_both_plugins() -> None:
    directives = DirectiveSet()
    directives.current_plugin = "queues"
    directives.declare("ttl", "duration", 0.0, DESTINATION, "Time to live.")
    directives.current_plugin = "expiry"
    with pytest.raises(ConfigError) as raised:
        directives.declare("ttl", "duration", 0.0, DESTINATION, "Time to live.")
    assert str(raised.value) == "directive destination.ttl is declared twice (by queues and by expiry)"
    # The same name in another scope is a different directive.
    directives.declare("ttl", "duration", 0.0, plugin_scope("expiry"), "Time to live.")
    assert len(directives) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "number"}, "directive x: unknown kind 'number'"),
        ({"kind": "choice"}, "directive x: a choice needs choices"),
    ],
)
def test_directive_shape_is_checked(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Directive("x", kwargs["kind"], None, "server", "help")
    assert str(raised.value) == message


# -- type and xtomp's min_delivery -----------------------------------------------------------


def test_min_delivery_makes_an_untyped_destination_a_queue(tmp_path: Path) -> None:
    from xtomp_core.broker.destinations import destination_type

    config = build(
        tmp_path,
        LISTEN,
        '[destinations."memq"]\nmin_delivery = 1\n[destinations."memtop"]\n'
        '[destinations."typed"]\ntype = "queue"\n[destinations."both"]\ntype = "topic"\nmin_delivery = 1\n',
    )
    kinds = {name: destination_type(config.destinations[name]) for name in ("memq", "memtop", "typed")}
    assert kinds == {"memq": "queue", "memtop": "topic", "typed": "queue"}
    with pytest.raises(ConfigError) as refused:
        destination_type(config.destinations["both"])
    assert str(refused.value).startswith(f'{file(tmp_path, 1)}: destinations."both".min_delivery: 1 makes')


def test_min_delivery_above_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"min_delivery"):
        build(tmp_path, LISTEN, '[destinations."memq"]\nmin_delivery = 2\n')
