"""Salted password hashes (stdlib scrypt and PBKDF2) and the ``xtomp passwd`` command.

Hashes use the PHC string format, so they are self-describing and their cost can be raised
later without breaking old entries:

* ``$scrypt$ln=14,r=8,p=1$SALT$HASH`` - scrypt with N = 2**ln (the default: memory-hard,
  about 16 MiB and 70 ms per check at these settings);
* ``$pbkdf2-sha256$i=600000$SALT$HASH`` - PBKDF2-HMAC-SHA256 (OWASP's 2023 iteration count),
  for platforms whose OpenSSL lacks scrypt.

SALT and HASH are base64 without padding. Checking costs tens of milliseconds on purpose,
so the broker runs it in a worker thread (:mod:`xtomp_core.security.users`), never on the
event loop.
"""

from __future__ import annotations

import binascii
import os
import sys
from collections.abc import Sequence

from .._record import record

__all__ = ["PasswordHash", "hash_password", "verify_password", "parse_hash", "looks_like_hash", "passwd_main"]

SCRYPT = "scrypt"
PBKDF2 = "pbkdf2-sha256"
ALGORITHMS = (SCRYPT, PBKDF2)

SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
PBKDF2_ITERATIONS = 600_000
SALT_BYTES = 16
HASH_BYTES = 32

# Bounds on what a hash in the config may ask for: a typo must not make every login
# allocate gigabytes or spin for minutes.
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_PBKDF2_ITERATIONS = 10_000_000


# hashlib, hmac and base64 are imported where they are used: hashlib and hmac map OpenSSL's
# libcrypto (3.7 MB resident), which a broker without password hashes never needs.


def _b64encode(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@record(frozen=True)
class PasswordHash:
    """A parsed hash: algorithm, parameters, salt and digest."""

    __slots__ = ("algorithm", "salt", "digest", "log2_n", "r", "p", "iterations")
    algorithm: str
    salt: bytes
    digest: bytes
    log2_n: int
    r: int
    p: int
    iterations: int

    def __init__(
        self,
        algorithm: str,
        salt: bytes,
        digest: bytes,
        log2_n: int = 0,
        r: int = 0,
        p: int = 0,
        iterations: int = 0,
    ) -> None:
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "log2_n", log2_n)
        object.__setattr__(self, "r", r)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "iterations", iterations)

    def compute(self, password: str) -> bytes:
        """The digest of ``password`` under this hash's algorithm, parameters and salt."""
        import hashlib

        secret = password.encode("utf-8")
        if self.algorithm == SCRYPT:
            n = 1 << self.log2_n
            return hashlib.scrypt(
                secret, salt=self.salt, n=n, r=self.r, p=self.p,
                maxmem=128 * self.r * n * self.p + 1024 * 1024, dklen=len(self.digest),
            )
        return hashlib.pbkdf2_hmac("sha256", secret, self.salt, self.iterations, dklen=len(self.digest))

    def verify(self, password: str) -> bool:
        import hmac

        return hmac.compare_digest(self.compute(password), self.digest)

    def encode(self) -> str:
        if self.algorithm == SCRYPT:
            params = f"ln={self.log2_n},r={self.r},p={self.p}"
        else:
            params = f"i={self.iterations}"
        return f"${self.algorithm}${params}${_b64encode(self.salt)}${_b64encode(self.digest)}"


def looks_like_hash(text: str) -> bool:
    """True when ``text`` is written as one of our hashes (it may still be malformed)."""
    return any(text.startswith(f"${algorithm}$") for algorithm in ALGORITHMS)


def _params(text: str, names: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key not in names or not (value.isascii() and value.isdigit()) or len(value) > 9 or key in values:
            raise ValueError(f"unexpected parameter {item!r}")
        values[key] = int(value)
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"missing parameter {', '.join(missing)}")
    return values


def parse_hash(encoded: str) -> PasswordHash:
    """Parse a hash; ValueError says what is wrong (never echoing the value itself)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] not in ALGORITHMS:
        raise ValueError("not a password hash: write the output of `xtomp passwd` (plain text is refused)")
    _, algorithm, params, salt_text, digest_text = parts
    try:
        salt, digest = _b64decode(salt_text), _b64decode(digest_text)
    except (binascii.Error, ValueError):
        raise ValueError("malformed password hash: the salt or digest is not base64") from None
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("malformed password hash: the salt or digest is too short")
    if algorithm == SCRYPT:
        values = _params(params, ("ln", "r", "p"))
        parsed = PasswordHash(algorithm, salt, digest, log2_n=values["ln"], r=values["r"], p=values["p"])
    else:
        parsed = PasswordHash(algorithm, salt, digest, iterations=_params(params, ("i",))["i"])
    _check_cost(parsed)
    return parsed


def _check_cost(parsed: PasswordHash) -> None:
    """ValueError when the parameters are out of the bounds the broker accepts."""
    if parsed.algorithm == SCRYPT:
        log2_n, r, p = parsed.log2_n, parsed.r, parsed.p
        if not (1 <= log2_n <= 30 and 1 <= r <= 64 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of range (ln 1-30, r 1-64, p 1-16)")
        if 128 * r * (1 << log2_n) * p > MAX_SCRYPT_MEMORY:
            raise ValueError(f"scrypt parameters need more than {MAX_SCRYPT_MEMORY >> 20} MiB per check")
    elif not 1 <= parsed.iterations <= MAX_PBKDF2_ITERATIONS:
        raise ValueError(f"pbkdf2 iterations out of range (1-{MAX_PBKDF2_ITERATIONS})")


def hash_password(password: str, algorithm: str = SCRYPT, *, cost: int | None = None) -> str:
    """A new salted hash of ``password``. ``cost`` is scrypt's log2(N) or PBKDF2's iterations."""
    salt = os.urandom(SALT_BYTES)
    if algorithm == SCRYPT:
        template = PasswordHash(SCRYPT, salt, bytes(HASH_BYTES), log2_n=cost or SCRYPT_LOG2_N, r=SCRYPT_R, p=SCRYPT_P)
    elif algorithm == PBKDF2:
        template = PasswordHash(PBKDF2, salt, bytes(HASH_BYTES), iterations=cost or PBKDF2_ITERATIONS)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    _check_cost(template)
    digest = template.compute(password)
    return PasswordHash(
        template.algorithm, salt, digest, template.log2_n, template.r, template.p, template.iterations
    ).encode()


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time comparison of the digests)."""
    return parse_hash(encoded).verify(password)


#: Checked when a login names no known user, so that an unknown user takes as long as a
#: known one with a wrong password (the default scrypt cost; the password is irrelevant).
DUMMY_HASH = "$scrypt$ln=14,r=8,p=1$eHRvbXAtZHVtbXktc2FsdA$mcDRspYenp9nPdzzY6yblvpQkFLzZBSDQsikTjdWTVA"


# -- the `xtomp passwd` command ----------------------------------------------------------------


def _read_password(stdin_is_tty: bool) -> str:
    if stdin_is_tty:
        import getpass  # only for the interactive prompt

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def passwd_main(argv: Sequence[str]) -> int:
    """``xtomp passwd [--algorithm A] [--cost N] [--user NAME]``: print a hash of a password.

    The password is read from the terminal (asked twice) or, when standard input is not a
    terminal, as its first line, so scripts can pipe it in. It is never taken from the
    command line, where other users could read it in the process list.
    """
    import argparse  # the command only, not the broker

    parser = argparse.ArgumentParser(
        prog="xtomp passwd",
        description="Print a salted hash of a password for [users.\"NAME\"] password (or [server] passcode).",
    )
    parser.add_argument("--algorithm", choices=ALGORITHMS, default=SCRYPT, help="hash function (default: %(default)s)")
    parser.add_argument(
        "--cost", type=int, default=None,
        help=f"scrypt log2(N) (default {SCRYPT_LOG2_N}) or PBKDF2 iterations (default {PBKDF2_ITERATIONS})",
    )
    parser.add_argument("--user", metavar="NAME", help='print a ready [users."NAME"] table instead of the bare hash')
    args = parser.parse_args(argv)
    try:
        password = _read_password(sys.stdin.isatty())
        if not password:
            raise ValueError("empty password")
        encoded = hash_password(password, args.algorithm, cost=args.cost)
    except ValueError as problem:
        print(f"xtomp passwd: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    if args.user:
        from ..config.directives import toml_string

        print(f"[users.{toml_string(args.user)}]\npassword = {toml_string(encoded)}")
    else:
        print(encoded)
    return 0
