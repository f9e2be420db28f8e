"""SIGHUP reloads the configuration of a broker process without dropping anyone.

Each test starts ``python -m xtomp_core -c DIR``, rewrites DIR, sends SIGHUP and waits for
the reload's log line (polling, never sleeping); clients over real sockets check what
changed and that connections opened before the reload keep working.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from xtomp_testing import BrokerProcess, RawClient, hash_password, wait_until, write_config

ALICE = hash_password("alice-secret")
BOB = hash_password("bob-secret")

USERS = f"""\
[server]
auth_failure_delay = "0s"
{{server}}
[users."alice"]
password = "{ALICE}"
{{users}}
{{rest}}"""


def users_config(server: str = "", users: str = "", rest: str = "") -> str:
    return USERS.format(server=server, users=users, rest=rest)


BOB_USER = f'[users."bob"]\npassword = "{BOB}"\n'

RELOADED = "INFO xtomp.server: configuration reloaded from "


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "conf"


@pytest.fixture
def running(config_dir: Path, request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    write_config(config_dir, getattr(request, "param", users_config()))
    with BrokerProcess(config_dir) as broker:
        yield broker
    log = "".join(broker.log)
    assert "Traceback" not in log, log


def rewrite(config_dir: Path, extra: str) -> None:
    (config_dir / "50-test.toml").write_text(extra)


def sighup(broker: BrokerProcess, expect: str = RELOADED) -> str:
    """SIGHUP, then wait until ``expect`` is logged; return the log since the signal."""
    start = len(broker.log)
    assert broker.process is not None
    broker.process.send_signal(signal.SIGHUP)
    return wait_until(
        lambda: (text if expect in (text := "".join(broker.log[start:])) else None),
        what=f"{expect!r} in the broker's log",
    )


def login(broker: BrokerProcess, user: str, password: str) -> RawClient:
    client = RawClient("127.0.0.1", broker.port)
    client.connect(login=user, passcode=password)
    return client


def refused_login(broker: BrokerProcess, user: str, password: str) -> None:
    with RawClient("127.0.0.1", broker.port) as client:
        client.send_frame("CONNECT", {"accept-version": "1.2", "host": "localhost", "login": user, "passcode": password})
        client.expect_error("auth err")


def send(client: RawClient, destination: str, body: str, receipt: str) -> None:
    client.send_frame("SEND", {"destination": destination, "receipt": receipt}, body)
    client.expect_receipt(receipt)


def test_a_new_user_logs_in_and_old_clients_keep_working(running: BrokerProcess, config_dir: Path) -> None:
    refused_login(running, "bob", "bob-secret")
    alice = login(running, "alice", "alice-secret")
    alice.subscribe("/topic/news")
    rewrite(config_dir, users_config(users=BOB_USER))
    sighup(running)
    # alice's connection and subscription survived; bob, added by the reload, logs in.
    bob = login(running, "bob", "bob-secret")
    send(bob, "/topic/news", "after the reload", "r1")
    assert alice.expect("MESSAGE").body == b"after the reload"
    send(alice, "/topic/other", "alice still sends", "r2")
    alice.close()
    bob.close()
    assert running.process is not None and running.process.poll() is None


def test_a_removed_user_can_no_longer_log_in_but_stays_connected(running: BrokerProcess, config_dir: Path) -> None:
    rewrite(config_dir, users_config(users=BOB_USER))
    sighup(running)
    bob = login(running, "bob", "bob-secret")
    bob.subscribe("/topic/a")
    rewrite(config_dir, users_config())
    sighup(running)
    refused_login(running, "bob", "bob-secret")
    alice = login(running, "alice", "alice-secret")
    send(alice, "/topic/a", "still there", "r1")
    assert bob.expect("MESSAGE").body == b"still there"  # a reload never drops a connection
    alice.close()
    bob.close()


def test_an_access_rule_change_applies_to_open_and_new_sessions(running: BrokerProcess, config_dir: Path) -> None:
    rewrite(config_dir, users_config(users=BOB_USER))
    sighup(running)
    alice = login(running, "alice", "alice-secret")
    bob = login(running, "bob", "bob-secret")
    bob.subscribe("/topic/prices")
    send(alice, "/topic/prices", "1.10", "r1")  # checked and remembered by alice's session
    assert bob.expect("MESSAGE").body == b"1.10"
    rewrite(config_dir, users_config(users=BOB_USER, rest='[destinations."/topic/*"]\nallow_send = ["bob"]\n'))
    sighup(running)
    # bob's subscription stays; the new rule applies to alice's open session at its next SEND...
    alice.send_frame("SEND", {"destination": "/topic/prices", "receipt": "r2"}, "1.11")
    alice.expect_error("blocked - user 'alice' may not send to '/topic/prices'")
    # ...to new sessions, and to the destination created before the reload.
    again = login(running, "alice", "alice-secret")
    again.send_frame("SEND", {"destination": "/topic/other"}, "x")
    again.expect_error("blocked - user 'alice' may not send to '/topic/other'")
    bob.send_frame("SEND", {"destination": "/topic/prices", "receipt": "r3"}, "1.12")
    assert bob.expect("MESSAGE").body == b"1.12"  # its own subscription, then the receipt
    bob.expect_receipt("r3")
    bob.close()


def test_an_invalid_config_keeps_the_running_one_and_logs_why(running: BrokerProcess, config_dir: Path) -> None:
    alice = login(running, "alice", "alice-secret")
    alice.subscribe("/topic/a")
    rewrite(config_dir, users_config(server='max_headers = "ten"', users=BOB_USER, rest="[destination_defaults]\nmax_mesages = 5\n"))
    extra = config_dir / "50-test.toml"
    log = sighup(running, "destination_defaults.max_mesages: unknown directive; did you mean max_messages?")
    assert (
        "ERROR xtomp.server: reload failed, the running configuration stays: configuration error:\n"
        f"{extra}: server.max_headers: expected an integer\n"
        f"{extra}: destination_defaults.max_mesages: unknown directive; did you mean max_messages?\n"
    ) in log
    assert RELOADED not in log
    refused_login(running, "bob", "bob-secret")  # the new user was not applied
    other = login(running, "alice", "alice-secret")
    send(other, "/topic/a", "still running", "r1")
    assert alice.expect("MESSAGE").body == b"still running"
    # A config the broker itself refuses (not only the validator): same outcome.
    rewrite(config_dir, users_config(rest='[destinations."memq"]\ntype = "queue"\n'))
    log = sighup(running, "unknown destination type")
    assert "reload failed, the running configuration stays: configuration error:\n" in log
    assert f'{extra}: destinations."memq".type: unknown destination type' in log
    other.close()
    alice.close()


@pytest.mark.parametrize(
    ("base", "extra", "reason"),
    [
        ('[server]\nlisten = ["127.0.0.1:0", "[::1]:0"]\n[plugins.topics]\n', "", "server.listen changed"),
        (None, users_config() + "[plugins.queues]\n", "the enabled plugins change (topics -> queues, topics)"),
        (None, users_config(server='pid_file = "/nonexistent/x.pid"'), "server.pid_file changed"),
    ],
    ids=["listen", "plugins", "pid_file"],
)
def test_what_needs_a_restart_is_refused(
    running: BrokerProcess, config_dir: Path, base: str | None, extra: str, reason: str
) -> None:
    alice = login(running, "alice", "alice-secret")
    if base is not None:
        (config_dir / "00-base.toml").write_text(base + '[destinations."/topic/*"]\ntype = "topic"\n')
        rewrite(config_dir, users_config())
    else:
        rewrite(config_dir, extra)
    log = sighup(running, "a restart is needed to apply this configuration")
    assert "ERROR xtomp.server: reload refused, the running configuration stays:\n" in log
    assert reason in log
    send(alice, "/topic/a", "still running", "r1")
    alice.close()


LIMITED = '[destinations."memtop"]\ntype = "topic"\nmax_message_size = 10\n'


@pytest.mark.parametrize("running", [users_config(rest=LIMITED)], indirect=True)
def test_destinations_limits_and_log_level(running: BrokerProcess, config_dir: Path) -> None:
    alice = login(running, "alice", "alice-secret")
    alice.subscribe("/topic/a")
    send(alice, "memtop", "short", "r1")
    rewrite(
        config_dir,
        users_config(
            server='log_level = "warning"\nconnection_limit_per_address = 2\nmax_frame_size_unauthenticated = "1k"',
            rest=LIMITED.replace("= 10", "= 100")
            + '[destinations."news"]\ntype = "topic"\n'
            + '[destinations."/topic/*"]\nmax_message_size = 4\n',
        ),
    )
    log = sighup(running)
    assert "reload: destination 'news' created" in log
    # A changed setting of a declared destination applies to it.
    send(alice, "memtop", "longer than ten", "r2")
    # The per-address cap applies to new connections: alice and first make two.
    first = login(running, "alice", "alice-secret")
    first.subscribe("news")  # the declared destination the reload added
    with RawClient("127.0.0.1", running.port) as third:
        third.expect_closed()
    send(alice, "news", "hello", "r3")
    assert first.expect("MESSAGE").body == b"hello"
    # The prefix rule's new max_message_size applies to the destination it created before.
    alice.send_frame("SEND", {"destination": "/topic/a"}, "12345")
    alice.expect_error("msg flup")
    # log_level = "warning": connections are no longer logged (INFO), the cap's refusal is.
    refusal = "refusing connections from 127.0.0.1: connection_limit_per_address (2) reached"
    text = wait_until(lambda: (text if refusal in (text := "".join(running.log)) else None), what="the refusal")
    assert "INFO xtomp.connections: opened" not in text[text.index(RELOADED):]
    first.close()
    alice.close()


def test_sigquit_and_sigusr1(running: BrokerProcess, tmp_path: Path) -> None:
    alice = login(running, "alice", "alice-secret")
    assert running.process is not None
    running.process.send_signal(signal.SIGUSR1)  # logrotate's signal: no log file, nothing to reopen
    send(alice, "/topic/a", "x", "r1")  # a round trip after the signal: the broker still runs
    running.process.send_signal(signal.SIGQUIT)
    assert running.process.wait(15) == 0, "".join(running.log)
    alice.expect_closed()
    alice.close()
    wait_until(lambda: any("INFO xtomp.server: shutting down" in line for line in running.log), what="shutdown")
