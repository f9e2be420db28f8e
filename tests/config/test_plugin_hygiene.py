"""What the core checks of a plugin: hook names and arguments, required plugins, and that any
exception in a plugin's start-up code is a config error naming the plugin, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xtomp_core import ConfigError, Destination, hookimpl
from xtomp_testing import InMemoryBroker, check_config

ROOT = Path(__file__).resolve().parents[2]


class Misspelt:
    @hookimpl
    def xtomp_statup(self, broker):  # the hook is xtomp_startup
        pass


class UndecoratedMisspelt:
    def xtomp_colect_stats(self, broker, stats):  # not even marked: still a name nobody calls
        pass


class AsksTooMuch:
    @hookimpl
    def xtomp_resolve_destination(self, name, broker):  # the hook offers (name, context)
        return None


def test_a_misspelt_hook_is_a_config_error_naming_plugin_and_hook():
    with pytest.raises(ConfigError, match=r"^plugin typo: xtomp_statup is not an xtomp hook: did you mean xtomp_startup\?$"):
        check_config(plugins=[("typo", Misspelt())])
    with pytest.raises(ConfigError, match=r"xtomp_colect_stats is not an xtomp hook: did you mean xtomp_collect_stats\?"):
        check_config(plugins=[("typo", UndecoratedMisspelt())])


def test_a_hook_argument_the_hook_does_not_have_is_a_config_error():
    with pytest.raises(ConfigError) as refused:
        check_config(plugins=[("old", AsksTooMuch())])
    assert str(refused.value) == (
        "plugin old: xtomp_resolve_destination(name, broker): the hook has no argument broker; "
        "it offers (name, context)"
    )


class Needy:
    xtomp_requires = ["topics", "queues"]


def test_a_plugin_requiring_a_plugin_that_is_not_enabled_is_refused():
    with pytest.raises(ConfigError, match=r"plugins\.needy: plugin 'needy' requires plugin 'queues', which is not "
                                          r"enabled: add a \[plugins\.queues\] table"):
        check_config(plugins=[("needy", Needy())])
    check_config("[plugins.queues]\n", plugins=[("needy", Needy())])  # both enabled: fine


class Fragile(Destination):
    type_name = "fragile"

    def __init__(self, name, settings, context):
        raise RuntimeError("cannot build this one")


class FragilePlugin:
    @hookimpl
    def xtomp_register_destination_types(self, registry):
        registry.register("fragile", Fragile)


class BrokenAuth:
    def __init__(self, context):
        open("/nonexistent/keys.txt")  # noqa: SIM115 - the factory fails as a real one would


class BrokenAuthPlugin:
    @hookimpl
    def xtomp_register_authenticators(self, registry):
        registry.register("broken", BrokenAuth)


class BrokenConfigure:
    @hookimpl
    def xtomp_configure(self, config):
        {}["missing"]  # a plugin bug, not a ConfigError  # noqa: B018


class BrokenRegistration:
    @hookimpl
    def xtomp_register_filter_engines(self, registry):
        raise ValueError("no engine today")


@pytest.mark.parametrize(
    ("plugin", "extra", "message"),
    [
        (FragilePlugin(), '[destinations."f"]\ntype = "fragile"\n',
         "plugin p: destination type 'fragile' could not create b'f': RuntimeError: cannot build this one"),
        (BrokenAuthPlugin(), '[server]\nauthenticators = ["broken"]\n',
         "plugin p: authenticator 'broken': FileNotFoundError: [Errno 2] No such file or directory: "
         "'/nonexistent/keys.txt'"),
        (BrokenConfigure(), "", "plugin p: xtomp_configure: KeyError: 'missing'"),
        (BrokenRegistration(), "", "plugin p: xtomp_register_filter_engines: ValueError: no engine today"),
    ],
)
def test_an_exception_in_a_plugin_at_start_up_is_a_config_error_naming_it(plugin, extra, message):
    with pytest.raises(ConfigError) as refused:
        check_config(extra, plugins=[("p", plugin)])
    assert str(refused.value) == message


def test_xtomp_t_prints_the_plugin_error_not_a_traceback(tmp_path):
    """The same through the command line, with the plugin installed as a distribution would be."""
    site = tmp_path / "site"
    (site / "fragile_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "fragile_plugin-1.0.dist-info" / "entry_points.txt").write_text("[xtomp.plugins]\nfragile = fragile_plugin\n")
    (site / "fragile_plugin.py").write_text(textwrap.dedent('''
        from xtomp_core import Destination, hookimpl

        class Fragile(Destination):
            def __init__(self, name, settings, context):
                raise RuntimeError("cannot build this one")

        @hookimpl
        def xtomp_register_destination_types(registry):
            registry.register("fragile", Fragile)
    '''))
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "xtomp.toml").write_text('[server]\nlisten = ["127.0.0.1:0"]\n[plugins.fragile]\n[destinations."f"]\ntype = "fragile"\n')
    result = subprocess.run(
        [sys.executable, "-m", "xtomp_core", "-t", "-c", str(conf)],
        capture_output=True, text=True, env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}, cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "plugin fragile: destination type 'fragile' could not create b'f': RuntimeError: cannot build this one" in result.stderr
    assert "Traceback" not in result.stderr


# -- fault isolation after start-up -----------------------------------------------------------------------


class LoudOnClose:
    def __init__(self) -> None:
        self.closed: list[str] = []

    @hookimpl
    def xtomp_session_closed(self, session, reason):
        raise RuntimeError("a plugin bug on close")


class QuietOnClose:
    def __init__(self) -> None:
        self.closed: list[bytes] = []

    @hookimpl
    def xtomp_session_closed(self, session, reason):
        self.closed.append(session.id)


def test_a_failing_session_closed_hook_does_not_keep_the_others_from_hearing(caplog):
    quiet = QuietOnClose()
    with InMemoryBroker(plugins=[("quiet", quiet), ("loud", LoudOnClose())]) as memory:
        client = memory.client()
        client.subscribe("/topic/a")
        client.send("DISCONNECT", {"receipt": "bye"})
        assert client.frames()[0].headers[b"receipt-id"] == b"bye"
        assert quiet.closed == [client.session.id]
        assert memory.destination("/topic/a").subscriber_count == 0
    assert "plugin loud: xtomp_session_closed failed" in caplog.text and "a plugin bug on close" in caplog.text


def test_one_connections_failing_flush_leaves_the_others_flushed():
    from xtomp_core.server.connection import Flusher

    class Loop:
        def call_soon(self, callback):
            pass

    class Connection:
        def __init__(self, fails: bool) -> None:
            self.fails, self.flushed, self.faults = fails, 0, []

        def flush(self):
            if self.fails:
                raise RuntimeError("transport gone wrong")
            self.flushed += 1

        def fault(self, doing):
            self.faults.append(doing)

    flusher = Flusher(Loop())  # type: ignore[arg-type]
    connections = [Connection(False), Connection(True), Connection(False)]
    for connection in connections:
        flusher.add(connection)
    flusher.flush()
    assert [c.flushed for c in connections] == [1, 0, 1]
    assert connections[1].faults == ["flushing its output"]
