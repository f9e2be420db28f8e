"""Password hashes (scrypt, PBKDF2) and the ``xtomp passwd`` command."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from xtomp_core.security.passwords import (
    DUMMY_HASH,
    hash_password,
    looks_like_hash,
    parse_hash,
    verify_password,
)


@pytest.mark.parametrize("algorithm, cost", [("scrypt", 4), ("pbkdf2-sha256", 1000)])
def test_hash_and_verify(algorithm, cost):
    encoded = hash_password("correct horse", algorithm, cost=cost)
    assert encoded.startswith(f"${algorithm}$")
    assert looks_like_hash(encoded)
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert not verify_password("", encoded)
    # salted: the same password hashes differently every time
    assert hash_password("correct horse", algorithm, cost=cost) != encoded


def test_default_costs_are_written_into_the_hash():
    assert parse_hash(hash_password("x")).log2_n == 14
    assert parse_hash(DUMMY_HASH).log2_n == 14  # the dummy costs what a real check costs
    assert not verify_password("anything", DUMMY_HASH)


def test_hash_round_trips_through_its_text():
    encoded = hash_password("pw", cost=5)
    assert parse_hash(encoded).encode() == encoded


def test_unicode_password():
    encoded = hash_password("pässwörd ✓", cost=4)
    assert verify_password("pässwörd ✓", encoded)
    assert not verify_password("passwort ✓", encoded)


@pytest.mark.parametrize(
    "text, message",
    [
        ("hunter2", "not a password hash"),
        ("$md5$abc$def$ghi", "not a password hash"),
        ("$scrypt$ln=14,r=8,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAA", "not base64"),
        ("$scrypt$ln=14,r=8,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA", "too short"),
        ("$scrypt$ln=14,r=8$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "missing parameter p"),
        ("$scrypt$ln=14,r=8,p=1,x=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "unexpected parameter"),
        ("$scrypt$ln=22,r=8,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "more than 256 MiB"),
        ("$scrypt$ln=0,r=8,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "out of range"),
        ("$pbkdf2-sha256$i=99999999$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "out of range"),
        ("$pbkdf2-sha256$i=abc$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "unexpected parameter"),
    ],
)
def test_malformed_hashes_are_explained_without_echoing_them(text, message):
    with pytest.raises(ValueError, match=message) as raised:
        parse_hash(text)
    assert text not in str(raised.value)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm"):
        hash_password("x", "md5")


def xtomp(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xtomp_core", *args], input=stdin, capture_output=True, text=True, timeout=30
    )


def test_passwd_reads_stdin_and_prints_a_hash():
    result = xtomp("passwd", "--cost", "4", stdin="s3cret pass\n")
    assert result.returncode == 0, result.stderr
    encoded = result.stdout.strip()
    assert verify_password("s3cret pass", encoded)
    assert "s3cret" not in result.stdout + result.stderr


def test_passwd_user_table_is_valid_toml():
    result = xtomp("passwd", "--user", 'al"ice', "--algorithm", "pbkdf2-sha256", "--cost", "1000", stdin="pw")
    assert result.returncode == 0, result.stderr
    table = tomllib.loads(result.stdout)
    assert verify_password("pw", table["users"]['al"ice']["password"])


@pytest.mark.parametrize("args, stdin, message", [
    ((), "\n", "empty password"),
    (("--cost", "40"), "pw\n", "out of range"),
])
def test_passwd_refuses(args, stdin, message):
    result = xtomp("passwd", *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_passwd_prompts_twice_on_a_terminal(monkeypatch, capsys):
    from xtomp_core.security import passwords

    answers = iter(["typed", "typed", "one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert passwords.passwd_main(["--cost", "4"]) == 0
    assert verify_password("typed", capsys.readouterr().out.strip())
    assert passwords.passwd_main([]) == 1
    assert "the passwords differ" in capsys.readouterr().err


def test_help_mentions_passwd():
    result = subprocess.run([sys.executable, "-m", "xtomp_core", "--help"], capture_output=True, text=True)
    assert "commands: convert, passwd, status" in result.stdout  # the core's own command is an entry point too
