"""The authentication chain with real clients: users table, hashed static passcode, xtomp tokens,
the failure delay, per-address rate limiting, and config errors that never echo a secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time

import pytest

from xtomp_core import ConfigError
from xtomp_core.bootstrap import build_broker
from xtomp_core.security.passwords import PasswordHash, hash_password
from xtomp_core.security.ratelimit import FailureTable, client_address
from xtomp_core.security.token import make_token
from xtomp_testing import FakeLink, RawClient, frame_bytes, wait_until, write_config

# cheap hashes keep the suite fast; the default cost is tested in test_passwords.py
ALICE = hash_password("alice-pw", cost=4)
BOB = hash_password("bob-pw", "pbkdf2-sha256", cost=1000)
SECRET = "0123456789abcdef-shared"

USERS = f"""
[server]
auth_failure_delay = "0ms"

[users.alice]
password = "{ALICE}"
groups = ["ops"]

[users.bob]
password = "{BOB}"

[users.carol]
groups = ["readers"]
"""


def connect_frame(login: str | None = None, passcode: str | None = None) -> bytes:
    headers = {"accept-version": "1.2", "host": "localhost"}
    if login is not None:
        headers["login"] = login
    if passcode is not None:
        headers["passcode"] = passcode
    return frame_bytes("CONNECT", headers)


def refused(broker, login=None, passcode=None, source=None, timeout=5.0) -> str:
    """CONNECT and return the ERROR's message (asserting the close that follows)."""
    with RawClient(broker.host, broker.port, timeout, source) as client:
        client.send(connect_frame(login, passcode))
        error = client.expect("ERROR", timeout)
        client.expect_closed(timeout)
        return error.headers[b"message"].decode()


def accepted(broker, login=None, passcode=None, source=None) -> tuple[str, tuple[str, ...]]:
    """CONNECT and return the principal (login, groups) the broker's session got."""
    with RawClient(broker.host, broker.port, 5.0, source) as client:
        client.send(connect_frame(login, passcode))
        session_id = client.expect("CONNECTED").headers[b"session"]
        return broker.call(
            lambda: next((s.login, s.principal.groups) for s in broker.broker.sessions if s.id == session_id)
        )


# -- users table --------------------------------------------------------------------------------


def test_users_table_with_stomp_py(xtomp_factory, stomp_py):
    broker = xtomp_factory(USERS)
    connection, recorder = stomp_py(broker)
    connection.connect("alice", "alice-pw", wait=True)
    other, other_recorder = stomp_py(broker)
    other.connect("bob", "bob-pw", wait=True)  # a PBKDF2 hash
    logins = broker.call(lambda: {s.login: s.principal.groups for s in broker.broker.sessions if s.connected})
    assert logins == {"alice": ("ops",), "bob": ()}
    assert connection.is_connected() and other.is_connected()


@pytest.mark.parametrize(
    "login, passcode",
    [
        ("alice", "bob-pw"),  # someone else's password
        ("alice", "ALICE-PW"),
        ("alice", ""),
        ("alice", None),
        ("mallory", "alice-pw"),  # unknown user
        ("carol", ""),  # a user without a password cannot log in with one
        (None, None),  # anonymous, while authentication is configured
    ],
)
def test_wrong_credentials_get_auth_err(xtomp_factory, login, passcode):
    broker = xtomp_factory(USERS)
    assert refused(broker, login, passcode) == "auth err - wrong login or passcode"


def test_plain_text_password_is_refused_without_echoing_it(tmp_path):
    directory = write_config(tmp_path, '[users.dave]\npassword = "hunter2-plain"\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    message = str(raised.value)
    assert 'users.dave.password: not a password hash: write the output of `xtomp passwd`' in message
    assert "hunter2" not in message


def test_hashed_static_passcode(xtomp_factory):
    hashed = hash_password("xtomp-pw", cost=4)
    broker = xtomp_factory(f'[server]\nauth_failure_delay = "0ms"\nlogin = "admin"\npasscode = "{hashed}"\n')
    assert accepted(broker, "admin", "xtomp-pw") == ("admin", ())
    assert refused(broker, "admin", hashed).startswith("auth err")  # the hash itself is not the password
    assert refused(broker, "root", "xtomp-pw").startswith("auth err")


def test_plain_static_passcode_still_works(xtomp_factory):
    broker = xtomp_factory('[server]\nauth_failure_delay = "0ms"\nlogin = "guest"\npasscode = "guest"\n')
    assert accepted(broker, "guest", "guest") == ("guest", ())
    assert refused(broker, "guest", "nope").startswith("auth err")


def test_chain_order_first_acceptance_wins(xtomp_factory):
    # static first: "alice"/"static-pw" is accepted by static even though users knows alice too
    broker = xtomp_factory(
        USERS.replace('[server]\n', '[server]\nauthenticators = ["static", "users"]\nlogin = "alice"\n'
                      'passcode = "static-pw"\n')
    )
    assert accepted(broker, "alice", "static-pw") == ("alice", ())  # static's principal has no groups
    assert accepted(broker, "alice", "alice-pw") == ("alice", ("ops",))  # static declined: users accepted


# -- xtomp's token scheme -----------------------------------------------------------------------


TOKENS = f'[server]\nauth_failure_delay = "0ms"\nsecret = "{SECRET}"\nsecret_timeout = "60s"\n'


def test_token_accepted_with_users_groups(xtomp_factory):
    broker = xtomp_factory(TOKENS + '[users.carol]\ngroups = ["readers"]\n')
    login, passcode = make_token("carol", SECRET, nonce="Q3VYX")
    assert len(passcode) == 44  # base64 of HMAC-SHA256
    assert accepted(broker, login, passcode) == ("carol", ("readers",))
    login, passcode = make_token("dave", SECRET)  # no random part: fine
    assert accepted(broker, login, passcode) == ("dave", ())


@pytest.mark.parametrize(
    "age, ok",
    [(0, True), (59, True), (61, False), (3600, False), (-3, True), (-7, False), (-10**9, False)],
    ids=["now", "almost-expired", "expired", "old", "slightly-future", "future", "far-future"],
)
def test_token_timestamps(xtomp_factory, age, ok):
    broker = xtomp_factory(TOKENS)
    login, passcode = make_token("eve", SECRET, now=time.time() - age)
    if ok:
        assert accepted(broker, login, passcode) == ("eve", ())
    else:
        assert refused(broker, login, passcode) == "auth err - wrong login or passcode"


@pytest.mark.parametrize("login", ["eve \u00b2\u00b3", "eve 1e9", "eve -5", "eve 99999999999999999", " 1700000000", "eve"])
def test_malformed_token_logins_are_refused_not_crashed(xtomp_factory, login):
    """Even correctly signed (a buggy issuer), a login without a plain decimal timestamp is no token."""
    broker = xtomp_factory(TOKENS)
    passcode = base64.b64encode(hmac.new(SECRET.encode(), login.encode(), hashlib.sha256).digest()).decode()
    assert refused(broker, login, passcode) == "auth err - wrong login or passcode"


@pytest.mark.parametrize("tamper", ["user", "timestamp", "passcode", "secret", "sha1", "no-timestamp"])
def test_token_tampering(xtomp_factory, tamper):
    broker = xtomp_factory(TOKENS)
    login, passcode = make_token("eve", SECRET)
    if tamper == "user":
        login = "root" + login[3:]
    elif tamper == "timestamp":
        user, stamp = login.split(" ")
        login = f"{user} {int(stamp) + 1}"
    elif tamper == "passcode":
        passcode = passcode[:-2] + ("A=" if passcode[-2] != "A" else "B=")
    elif tamper == "secret":
        login, passcode = make_token("eve", SECRET + "x")
    elif tamper == "sha1":
        login, passcode = make_token("eve", SECRET, algorithm="sha1")
    else:
        login, passcode = "eve", make_token("eve", SECRET)[1]
    assert refused(broker, login, passcode).startswith("auth err")


def test_legacy_sha1_tokens_for_old_issuers(xtomp_factory):
    broker = xtomp_factory(TOKENS + 'secret_algorithm = "sha1"\n')
    login, passcode = make_token("console", SECRET, algorithm="sha1", nonce="R4ND")
    assert len(passcode) == 28  # xtomp's wire format: base64 of a SHA-1 digest
    assert accepted(broker, login, passcode) == ("console", ())
    assert refused(broker, *make_token("console", SECRET)).startswith("auth err")


def test_login_and_secret_together_no_longer_lock_everyone_out(xtomp_factory):
    """xtomp ran both checks, so nobody could log in; here each is one link of the chain."""
    broker = xtomp_factory(TOKENS + 'login = "admin"\npasscode = "admin-pw"\n')
    assert accepted(broker, "admin", "admin-pw") == ("admin", ())
    assert accepted(broker, *make_token("ops", SECRET)) == ("ops", ())


def test_short_secret_is_refused_without_echoing_it(tmp_path):
    directory = write_config(tmp_path, '[server]\nsecret = "tiny-secret"\n')
    with pytest.raises(ConfigError) as raised:
        build_broker(directory)
    assert "server.secret: too short (11 characters)" in str(raised.value)
    assert "tiny-secret" not in str(raised.value)


def test_token_authenticator_needs_a_secret(tmp_path):
    directory = write_config(tmp_path, '[server]\nauthenticators = ["token"]\n')
    with pytest.raises(ConfigError, match='"token" needs server.secret'):
        build_broker(directory)


def test_unknown_authenticator_names_the_plugin_to_install(tmp_path):
    directory = write_config(tmp_path, '[server]\nauthenticators = ["jwt"]\n')
    with pytest.raises(ConfigError, match=r"plugin 'jwt' \(installed with xtomp-jwt\) provides it: enable it with a \[plugins.jwt\] table"):
        build_broker(directory)


# -- failures: delay and rate limit -------------------------------------------------------------


def round_trip(broker, label: str) -> float:
    """Seconds for a publish/subscribe round trip through the broker."""
    started = time.monotonic()
    with RawClient(broker.host, broker.port) as subscriber, RawClient(broker.host, broker.port) as publisher:
        subscriber.connect(login="bob", passcode="bob-pw")
        subscriber.subscribe(f"/topic/{label}")
        publisher.connect(login="bob", passcode="bob-pw")
        publisher.send_frame("SEND", {"destination": f"/topic/{label}"}, label)
        assert subscriber.expect("MESSAGE").body == label.encode()
    return time.monotonic() - started


def test_failure_delay_holds_the_client_not_the_broker(xtomp_factory):
    broker = xtomp_factory(USERS.replace('auth_failure_delay = "0ms"', 'auth_failure_delay = "1500ms"'))
    outcome: dict[str, float] = {}
    refusal_arrived = threading.Event()

    def bad_login() -> None:
        started = time.monotonic()
        assert refused(broker, "alice", "guess") == "auth err - wrong login or passcode"
        outcome["refused_after"] = time.monotonic() - started
        refusal_arrived.set()

    thread = threading.Thread(target=bad_login)
    thread.start()
    # the broker has decided to refuse (it counts first) and is now holding the answer back
    wait_until(lambda: broker.stats()["security"]["refused_logins"] == 1, what="the refusal decided")
    round_trip(broker, "during-delay")  # served while the refusal waits
    assert not refusal_arrived.is_set(), "the broker answered nobody else while it held the refusal"
    thread.join()
    assert outcome["refused_after"] >= 1.5 - 0.01  # never before the configured delay (uvloop's clock: whole ms)


def test_password_checks_run_off_the_event_loop(xtomp_factory, monkeypatch):
    """A password check held in its worker thread does not hold anyone else's round trip."""
    entered, release = threading.Event(), threading.Event()
    compute = PasswordHash.compute

    def held(self, password):
        if password == "slow-pw":
            entered.set()
            release.wait(30)  # if this ran on the event loop, the round trip below would time out
        return compute(self, password)

    monkeypatch.setattr(PasswordHash, "compute", held)
    slow = hash_password("slow-pw", "pbkdf2-sha256", cost=1000)
    broker = xtomp_factory(USERS + f'[users.slow]\npassword = "{slow}"\n')
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(accepted(broker, "slow", "slow-pw")[0]))
    thread.start()
    try:
        assert entered.wait(10), "the slow check never started"
        round_trip(broker, "during-hash")
        assert result == []  # the check was still held when the round trip completed
    finally:
        release.set()
        thread.join()
    assert result == ["slow"]


def test_repeated_failures_lock_out_that_address_only(xtomp_factory):
    broker = xtomp_factory(USERS.replace("[server]\n", '[server]\nauth_max_failures = 3\nauth_failure_window = "1m"\n'))
    for guess in ("a", "b", "c"):
        assert refused(broker, "alice", guess, source="127.0.0.2") == "auth err - wrong login or passcode"
    # even the right password is refused now, without being checked
    locked = refused(broker, "alice", "alice-pw", source="127.0.0.2")
    assert locked == "auth err - too many failed logins from this address, try again later"
    assert accepted(broker, "alice", "alice-pw", source="127.0.0.3") == ("alice", ("ops",))
    assert broker.call(lambda: len(broker.broker.auth.failures)) == 1
    security = broker.stats()["security"]
    assert (security["refused_logins"], security["failing_addresses"]) == (4, 1)


def test_failure_table_window_and_bound():
    now = [1000.0]
    table = FailureTable(max_failures=2, window=10.0, size=3, clock=lambda: now[0])
    table.failed("a")
    assert not table.locked("a")
    table.failed("a")
    assert table.locked("a")
    now[0] += 5
    table.failed("a")  # counts in the same window
    assert table.locked("a")
    now[0] += 6  # the window that began at 1000 is over
    assert not table.locked("a")
    assert len(table) == 0  # expired entries go when looked at
    for address in ("b", "c", "d", "e"):
        table.failed(address)
        table.failed(address)
    assert len(table) == 3  # bounded: the least recently failed address was forgotten
    assert not table.locked("b") and table.locked("e")


def test_client_address():
    assert client_address(FakeLink(peer_host="::1")) == "::1"
    assert client_address(FakeLink(peer_host="192.0.2.7")) == "192.0.2.7"
    assert client_address(FakeLink(peer_host="")) == "?"
