"""Configuration of the security features: the [users."NAME"] tables, cross-checks, show-config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from xtomp_core import ConfigError
from xtomp_core.bootstrap import build_broker, load_config
from xtomp_core.config.render import show_config
from xtomp_core.security.passwords import hash_password
from xtomp_testing import write_config

HASH = hash_password("pw", cost=4)


def config_error(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as raised:
        build_broker(write_config(tmp_path, extra))
    return str(raised.value)


def test_users_tables_are_strict(tmp_path):
    message = config_error(tmp_path, f'[users.alice]\npasword = "{HASH}"\n')
    assert "users.alice.pasword: unknown directive; did you mean password?" in message


def test_user_must_be_a_table(tmp_path):
    assert 'users.alice: expected a table: write [users."alice"]' in config_error(tmp_path, '[users]\nalice = "x"\n')


def test_user_key_in_server_says_where_it_belongs(tmp_path):
    message = config_error(tmp_path, "[server]\ngroups = []\n")
    assert 'server.groups: groups is not valid here: it belongs in [users."NAME"]' in message


def test_write_buffer_max_must_exceed_high(tmp_path):
    message = config_error(tmp_path, '[server]\nwrite_buffer_high = "1m"\nwrite_buffer_max = "1m"\n')
    assert "server.write_buffer_max: must be larger than write_buffer_high (1048576 bytes)" in message


def test_every_bad_hash_is_reported_at_once(tmp_path):
    message = config_error(tmp_path, '[users.a]\npassword = "x"\n[users.b]\npassword = "$scrypt$nope"\n')
    assert "users.a.password: not a password hash" in message
    assert "users.b.password: not a password hash" in message


def test_show_config_renders_users_as_valid_toml(tmp_path):
    directory = write_config(tmp_path, f'[users."alice@example.com"]\npassword = "{HASH}"\ngroups = ["ops"]\n')
    config, _ = load_config(directory)
    rendered = tomllib.loads(show_config(config))
    assert rendered["users"] == {"alice@example.com": {"password": HASH, "groups": ["ops"]}}


def test_users_with_passwords_imply_the_users_authenticator(tmp_path):
    broker = build_broker(write_config(tmp_path, f'[users.alice]\npassword = "{HASH}"\n[users.bob]\n'))
    assert [type(a).__name__ for a in broker.auth.authenticators] == ["UsersAuthenticator"]
    broker = build_broker(write_config(tmp_path / "b", "[users.bob]\ngroups = [\"x\"]\n"))
    assert not broker.auth  # a user without a password is no reason to ask for one


def test_implied_authenticators_follow_the_listed_ones(tmp_path):
    extra = (
        '[server]\nauthenticators = ["token"]\nsecret = "0123456789abcdef!"\nlogin = "a"\npasscode = "b"\n'
        f'[users.alice]\npassword = "{HASH}"\n'
    )
    broker = build_broker(write_config(tmp_path, extra))
    names = [type(a).__name__ for a in broker.auth.authenticators]
    assert names == ["TokenAuthenticator", "StaticAuthenticator", "UsersAuthenticator"]
