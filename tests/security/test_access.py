"""Per-destination access rules (send, subscribe, create) for users and groups, by exact name and by
prefix rule; checked at SUBSCRIBE and at the first SEND per destination, then memoized."""

from __future__ import annotations

import pytest

from xtomp_core import ConfigError, hookimpl
from xtomp_core.bootstrap import build_broker
from xtomp_core.security.passwords import hash_password
from xtomp_testing import RawClient, write_config

HASHES = {name: hash_password(f"{name}-pw", cost=4) for name in ("alice", "bob", "carol")}

RULES = f"""
[server]
auth_failure_delay = "0ms"

[users.alice]
password = "{HASHES['alice']}"
groups = ["ops"]

[users.bob]
password = "{HASHES['bob']}"
groups = ["readers"]

[users.carol]
password = "{HASHES['carol']}"

# only ops publish prices; ops and readers (and carol by name) read them
[destinations."/topic/prices.*"]
type = "topic"
allow_send = ["@ops"]
allow_subscribe = ["@ops", "@readers", "carol"]

# anyone may use an existing /topic/rooms.NAME, only ops may open a new one
[destinations."/topic/rooms.*"]
type = "topic"
allow_create = ["@ops"]

# an exact name, xtomp style: nobody may send, only alice may read
[destinations."audit"]
type = "topic"
allow_send = []
allow_subscribe = ["alice"]
"""


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(RULES)


def client(broker, user: str) -> RawClient:
    connection = RawClient(broker.host, broker.port)
    connection.connect(login=user, passcode=f"{user}-pw")
    return connection


def test_send_and_subscribe_by_group_and_login(broker):
    with client(broker, "alice") as alice, client(broker, "bob") as bob, client(broker, "carol") as carol:
        bob.subscribe("/topic/prices.eur", id="b")  # @readers
        carol.subscribe("/topic/prices.eur", id="c")  # by login
        alice.subscribe("/topic/prices.eur", id="a")  # @ops
        alice.send_frame("SEND", {"destination": "/topic/prices.eur", "receipt": "sent"}, "1.08")
        alice.expect("MESSAGE")
        alice.expect_receipt("sent")
        assert bob.expect("MESSAGE").body == carol.expect("MESSAGE").body == b"1.08"


def test_refused_send_gets_a_clear_error(broker):
    with client(broker, "bob") as bob:
        bob.send_frame("SEND", {"destination": "/topic/prices.eur", "receipt": "r1"}, "0.5")
        error = bob.expect_error("blocked - user 'bob' may not send to '/topic/prices.eur'")
        assert error.headers[b"receipt-id"] == b"r1"


def test_refused_subscribe_gets_a_clear_error(broker):
    with client(broker, "alice") as alice:  # alice may read audit ...
        alice.subscribe("audit")
    with client(broker, "carol") as carol:  # ... carol may not
        carol.send_frame("SUBSCRIBE", {"destination": "audit", "id": "1", "receipt": "r"})
        error = carol.expect_error("blocked - user 'carol' may not subscribe to 'audit'")
        assert error.headers[b"receipt-id"] == b"r"


def test_empty_list_lets_nobody(broker):
    with client(broker, "alice") as alice:
        alice.send_frame("SEND", {"destination": "audit"}, "x")
        alice.expect_error("may not send to 'audit'")


def test_create_is_checked_on_first_use_only(broker):
    with client(broker, "bob") as bob:
        bob.send_frame("SEND", {"destination": "/topic/rooms.lobby"}, "x")
        bob.expect_error("blocked - user 'bob' may not create '/topic/rooms.lobby'")
    assert b"/topic/rooms.lobby" not in broker.broker.destinations
    with client(broker, "alice") as alice:
        alice.subscribe("/topic/rooms.lobby")  # ops open the room ...
        with client(broker, "bob") as bob:  # ... then anyone may use it
            bob.send_frame("SEND", {"destination": "/topic/rooms.lobby", "receipt": "r"}, "hello")
            bob.expect_receipt("r")
        assert alice.expect("MESSAGE").body == b"hello"
        with client(broker, "bob") as bob:  # subscribing to a new one creates it too
            bob.send_frame("SUBSCRIBE", {"destination": "/topic/rooms.other", "id": "1"})
            bob.expect_error("may not create '/topic/rooms.other'")


def test_unrestricted_destinations_stay_open(broker):
    with client(broker, "carol") as carol:
        carol.subscribe("/topic/chat")
        carol.send_frame("SEND", {"destination": "/topic/chat"}, "free")
        assert carol.expect("MESSAGE").body == b"free"


def test_stomp_py_sees_the_refusal(broker, stomp_py):
    connection, recorder = stomp_py(broker)
    connection.connect("carol", "carol-pw", wait=True)
    connection.send("/topic/prices.usd", "1.0")
    recorder.wait_for(lambda: recorder.errors)
    assert recorder.errors[0].headers["message"] == "blocked - user 'carol' may not send to '/topic/prices.usd'"


def test_checked_once_per_destination_per_session(broker):
    """A SEND costs no access check after the first one to that destination (the session memo)."""
    access = broker.broker.access
    calls: list[tuple[str, bytes]] = []
    check_send, check_subscribe = access.check_send, access.check_subscribe

    def counting_send(destination, principal):
        calls.append(("send", destination.name))
        check_send(destination, principal)

    def counting_subscribe(destination, principal):
        calls.append(("subscribe", destination.name))
        check_subscribe(destination, principal)

    broker.call(lambda: (setattr(access, "check_send", counting_send), setattr(access, "check_subscribe", counting_subscribe)))
    with client(broker, "alice") as alice:
        alice.subscribe("/topic/prices.eur", id="1")
        alice.subscribe("/topic/prices.usd", id="2")
        for index in range(50):
            alice.send_frame("SEND", {"destination": "/topic/prices.eur"}, str(index))
            alice.send_frame("SEND", {"destination": "/topic/prices.usd"}, str(index))
        alice.send_frame("SEND", {"destination": "/topic/prices.eur", "receipt": "done"}, "last")
        alice.messages(100)
        alice.expect("MESSAGE")
        alice.expect_receipt("done")
    assert calls == [
        ("subscribe", b"/topic/prices.eur"),
        ("subscribe", b"/topic/prices.usd"),
        ("send", b"/topic/prices.eur"),
        ("send", b"/topic/prices.usd"),
    ]


def test_no_rules_no_checks(xtomp):
    assert xtomp.broker.access is None


def test_rules_naming_users_need_an_authenticator(tmp_path):
    directory = write_config(tmp_path, '[destinations."/topic/x.*"]\nallow_send = ["@ops"]\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert str(raised.value) == (
        f'{directory / "50-test.toml"}: destinations."/topic/x.*".allow_send: names users or groups, but no '
        "authenticator is configured, so any client could claim any login: set server.authenticators (or login, "
        "secret, or [users] passwords)"
    )


def test_star_only_rules_are_fine_without_authentication(tmp_path):
    directory = write_config(tmp_path, '[destinations."/topic/x.*"]\nallow_send = []\n')
    assert build_broker(directory).access is not None


@pytest.mark.parametrize("entry", ["@", "", "a*", " bob"])
def test_invalid_entries(tmp_path, entry):
    directory = write_config(tmp_path, f'[destination_defaults]\nallow_subscribe = ["{entry}"]\n')
    with pytest.raises(ConfigError, match=r"destination_defaults.allow_subscribe: invalid entry"):
        build_broker(directory)


def test_defaults_apply_to_plugin_resolved_destinations(xtomp_factory):
    class Resolver:
        @hookimpl
        def xtomp_resolve_destination(self, name, context):
            if name.startswith(b"/dyn/"):
                return context.build("topic", name, context.destination_defaults)
            return None

    broker = xtomp_factory(
        RULES.replace("[server]\n", "[destination_defaults]\nallow_create = [\"@ops\"]\n\n[server]\n")
        + '\n[destinations."/topic/*"]\nallow_create = ["*"]\n',
        plugins=[("resolver", Resolver())],
    )
    with client(broker, "bob") as bob:
        bob.subscribe("/topic/anything")  # its own rule lets anyone create
        bob.send_frame("SUBSCRIBE", {"destination": "/dyn/x", "id": "2"})
        bob.expect_error("may not create '/dyn/x'")
    with client(broker, "alice") as alice:
        alice.subscribe("/dyn/x")
    with client(broker, "bob") as bob:
        bob.send_frame("SEND", {"destination": "/nowhere"}, "x")  # no rule, no plugin: unknown, not blocked
        bob.expect_error("destination unknown")
