"""``@record`` classes behave as the dataclasses they replaced: constructor, eq, hash, repr, frozen."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from xtomp_core import Config, Directive, ListenAddress, Principal
from xtomp_core._record import FrozenInstanceError, record
from xtomp_core.config.directives import DirectiveSet
from xtomp_core.config.model import Section
from xtomp_core.config.raw import RawConfig


@dataclasses.dataclass(frozen=True)
class PrincipalDataclass:
    """What Principal was: the reference its replacement is compared with."""

    login: str
    groups: tuple[str, ...] = ()


def test_principal_is_what_the_dataclass_was() -> None:
    for args in [("alice",), ("alice", ("admins",)), ("bob", ("a", "b"))]:
        ours, theirs = Principal(*args), PrincipalDataclass(*args)
        assert repr(ours) == repr(theirs).replace("PrincipalDataclass", "Principal")
        assert hash(ours) == hash(theirs)
    assert Principal("alice") == Principal("alice", ()) == Principal(login="alice")
    assert Principal("alice") != Principal("alice", ("admins",))
    assert Principal("alice") != PrincipalDataclass("alice")  # another class is never equal
    assert len({Principal("a"), Principal("a"), Principal("b")}) == 2
    assert str(inspect.signature(Principal)) == str(inspect.signature(PrincipalDataclass))


def test_frozen_records_refuse_assignment_and_deletion() -> None:
    address = ListenAddress("tcp", "127.0.0.1", 61613)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'port'"):
        address.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'host'"):
        del address.host
    with pytest.raises(AttributeError):
        address.other = 1  # type: ignore[attr-defined]
    assert address == ListenAddress("tcp", "127.0.0.1", 61613, "", "")
    assert repr(address) == "ListenAddress(scheme='tcp', host='127.0.0.1', port=61613, path='', text='')"


def test_config_hides_its_directives_and_gets_its_own_users() -> None:
    server = Section("server", {}, {})
    first = Config(server, server, {}, (), {}, ("a.toml",), DirectiveSet())
    second = Config(server, server, {}, (), {}, ("a.toml",), DirectiveSet())
    assert "directives" not in repr(first) and repr(first).startswith("Config(server=Section(")
    assert first.users == {} and first.users is not second.users and type(first.users) is dict


def test_directive_checks_its_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind 'colour'"):
        Directive("x", "colour", None, "server", "help")
    with pytest.raises(ValueError, match="a choice needs choices"):
        Directive("x", "choice", None, "server", "help")
    assert Directive("x", "int", 1, "server", "help").plugin == "core"


def test_mutable_records_are_unhashable() -> None:
    raw = RawConfig()
    raw.files.append("a.toml")
    assert raw == RawConfig(files=["a.toml"]) and RawConfig().files is not RawConfig().files
    with pytest.raises(TypeError):
        hash(raw)

    @record(fields=("a",))
    class NoSlots:
        def __init__(self, a: int) -> None:
            self.a = a

    assert NoSlots(1) == NoSlots(1) and repr(NoSlots(2)).endswith("NoSlots(a=2)")
