"""The apikeys example: a known key logs in as its login with its groups, an unknown key is
refused, any other passcode goes to the next authenticator, and every configuration mistake
is a config error naming the file and the key."""

from __future__ import annotations

import pytest

import xtomp_apikeys
from xtomp_core import ConfigError
from xtomp_testing import InMemoryBroker, check_config

PLUGINS = [("apikeys", xtomp_apikeys)]
ROBOT = "xk_robot-0123456789abcdefghij"
GRAFANA = "xk_grafana-0123456789abcdefgh"
KEYS = f"""\
# KEY    LOGIN    GROUPS
{ROBOT}  ci-robot deploy,metrics   # the CI robot

{GRAFANA} grafana
"""


def config(keys_file, chain='["apikeys"]', extra=""):
    return f"""
[plugins.apikeys]
keys_file = "{keys_file}"

[server]
authenticators = {chain}
auth_failure_delay = "0ms"
{extra}
"""


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "apikeys"
    path.write_text(KEYS)
    return path


@pytest.fixture
def memory(keys_file):
    extra = 'login = "admin"\npasscode = "not-a-key"\n\n[users."grafana"]\ngroups = ["dashboards"]\n'
    with InMemoryBroker(config(keys_file, '["apikeys", "static"]', extra), plugins=PLUGINS) as broker:
        yield broker


def refusal(memory, **headers):
    """The ERROR message a CONNECT with these headers gets."""
    answer = memory.client(version=None).connect(headers=headers)
    assert answer.command == b"ERROR", answer
    return answer.headers[b"message"].decode()


# -- the three answers of an authenticator ---------------------------------------------------------


def test_a_known_key_logs_in_as_its_login_with_its_groups(memory):
    robot = memory.client(passcode=ROBOT, login="whoever")  # the login header is ignored
    assert robot.session.principal.login == "ci-robot"
    assert robot.session.principal.groups == ("deploy", "metrics")
    grafana = memory.client(passcode=GRAFANA)  # no groups in the file, some in [users."grafana"]
    assert grafana.session.principal.groups == ("dashboards",)


def test_an_unknown_key_is_refused_at_once(memory):
    assert refusal(memory, passcode=ROBOT[:-1] + "X") == "auth err - unknown API key"
    # Refused by apikeys itself: the static authenticator after it was not asked.
    assert refusal(memory, login="admin", passcode="xk_not-a-known-key-at-all") == "auth err - unknown API key"
    assert memory.stats()["apikeys"] == {"keys": 2, "accepted_total": 0, "refused_total": 2}


def test_anything_else_is_left_to_the_next_authenticator(memory):
    admin = memory.client(login="admin", passcode="not-a-key")
    assert admin.session.principal.login == "admin"  # the static authenticator accepted it
    assert refusal(memory, login="admin", passcode="wrong") == "auth err - wrong login or passcode"
    assert memory.stats()["apikeys"]["refused_total"] == 0  # those were not apikeys' refusals


# -- configuration errors ----------------------------------------------------------------------------


def config_error(text, **kwargs):
    with pytest.raises(ConfigError) as error:
        check_config(text, plugins=PLUGINS, **kwargs)
    return str(error.value)


def test_a_missing_keys_file_names_the_file_and_the_key(tmp_path):
    message = config_error(config(tmp_path / "nowhere"))
    assert "50-test.toml: plugins.apikeys.keys_file: cannot read" in message
    assert "nowhere" in message and "No such file" in message


def test_an_unset_keys_file_names_the_table():
    message = config_error('[plugins.apikeys]\n[server]\nauthenticators = ["apikeys"]\n')
    assert "50-test.toml: plugins.apikeys.keys_file: is required" in message


@pytest.mark.parametrize(
    "line, problem",
    [
        (f"{ROBOT}", "line 2: the key has no login"),
        (f"{ROBOT} robot ops extra", "line 2: expected KEY LOGIN [GROUP,GROUP...], found 4 fields"),
        ("robot-0123456789abcdefghij robot", "line 2: the key does not start with key_prefix 'xk_'"),
        ("xk_short robot", "line 2: the key is too short (8 characters, at least 20)"),
        (f"{GRAFANA} other", "line 2: the same key is on line 1 already"),
    ],
)
def test_a_bad_line_names_the_line_and_never_the_key(tmp_path, line, problem):
    path = tmp_path / "apikeys"
    path.write_text(f"{GRAFANA} grafana\n{line}\n")
    message = config_error(config(path))
    assert f"plugins.apikeys.keys_file: {path}: {problem}" in message
    assert "0123456789" not in message  # no key, or part of one, in an error message


def test_the_plugin_must_be_in_the_chain(keys_file):
    message = config_error(config(keys_file, chain="[]"))
    assert "server.authenticators" in message and "\"apikeys\" is not in the chain" in message


def test_an_unexpected_exception_in_the_factory_is_a_config_error_naming_the_plugin(keys_file, monkeypatch):
    def broken(*args):
        raise RuntimeError("the parser broke")

    monkeypatch.setattr(xtomp_apikeys, "read_keys", broken)
    message = config_error(config(keys_file))
    assert message.startswith("plugin apikeys: authenticator 'apikeys': RuntimeError: the parser broke")


# -- over real sockets ---------------------------------------------------------------------------------


def test_keys_over_a_socket(xtomp_factory, raw_client, stomp_py, keys_file):
    broker = xtomp_factory(config(keys_file), plugins=PLUGINS)
    connection, recorder = stomp_py(broker)
    connection.connect(passcode=ROBOT, wait=True)
    assert connection.is_connected()
    sessions = broker.call(lambda: [(s.login, s.principal.groups) for s in broker.broker.sessions if s.connected])
    assert sessions == [("ci-robot", ("deploy", "metrics"))]

    refused = raw_client(broker)
    refused.send_frame("CONNECT", {"accept-version": "1.2", "passcode": "xk_stolen-or-made-up-key-123"})
    refused.expect_error("auth err - unknown API key")
    declined = raw_client(broker)
    declined.send_frame("CONNECT", {"accept-version": "1.2", "login": "ci-robot", "passcode": "secret"})
    declined.expect_error("auth err - wrong login or passcode")  # nobody else in the chain
