"""The jwt authenticator over real sockets: HS256 and RS256/ES256 tokens, expiry, audience,
issuer, algorithm confusion, groups for access rules, and its place in the chain."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from xtomp_core import AuthRejected, ConfigError
from xtomp_testing import InMemoryBroker, RawClient, frame_bytes, hash_password, load_broker, write_config
from xtomp_jwt.authenticator import JwtAuthenticator

SECRET = "an HS256 key of at least 32 characters"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key, path) -> str:
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(path)


def hs256(claims=None, key=SECRET, **extra):
    now = int(time.time())
    payload = {"sub": "alice", "exp": now + 60, "iat": now, **(claims or {})}
    return jwt.encode({**payload, **extra}, key, algorithm="HS256")


def connect(broker, passcode, login=None):
    """(CONNECTED frame or None, ERROR message or None)."""
    headers = {"accept-version": "1.2", "passcode": passcode}
    if login is not None:
        headers["login"] = login
    with RawClient(broker.host, broker.port) as client:
        client.send(frame_bytes("CONNECT", headers))
        frame = client.recv()
        if frame.command == b"CONNECTED":
            session = frame.headers[b"session"]
            return broker.call(
                lambda: next((s.login, s.principal.groups) for s in broker.broker.sessions if s.id == session)
            ), None
        return None, frame.headers[b"message"].decode()


HS_CONFIG = f"""
[plugins.jwt]
secret = "{SECRET}"
audience = "xtomp"

[server]
authenticators = ["jwt"]
auth_failure_delay = "0ms"
"""


@pytest.fixture
def broker(xtomp_factory):
    return xtomp_factory(HS_CONFIG)


def test_hs256_token_logs_in_its_subject(broker):
    token = hs256({"aud": "xtomp", "groups": ["ops", "dev"]})
    assert connect(broker, token) == (("alice", ("ops", "dev")), None)
    assert connect(broker, token, login="whoever") == (("alice", ("ops", "dev")), None)  # login is ignored


def test_scope_string_as_groups(xtomp_factory):
    broker = xtomp_factory(HS_CONFIG.replace('audience = "xtomp"', 'groups_claim = "scope"'))
    assert connect(broker, hs256({"scope": "read write"})) == (("alice", ("read", "write")), None)


@pytest.mark.parametrize(
    "token, message",
    [
        (lambda: hs256({"aud": "xtomp", "exp": int(time.time()) - 60}), "auth err - token expired"),
        (lambda: hs256({"aud": "other"}), "auth err - invalid token"),
        (lambda: hs256(), "auth err - invalid token"),  # no audience
        (lambda: hs256({"aud": "xtomp"}, key="another key of at least 32 characters!"), "auth err - invalid token"),
        (lambda: jwt.encode({"sub": "alice", "aud": "xtomp"}, SECRET, algorithm="HS256"), "auth err - invalid token"),
        (lambda: jwt.encode({"sub": "alice", "aud": "xtomp", "exp": int(time.time()) + 60}, None, algorithm="none"),
         "auth err - invalid token"),
        (lambda: hs256({"aud": "xtomp", "sub": 42}), "auth err - invalid token"),
        (lambda: hs256({"aud": "xtomp", "nbf": int(time.time()) + 600}), "auth err - invalid token"),
        (lambda: "not.a.jwt", "auth err - invalid token"),
        (lambda: "plain password", "auth err - wrong login or passcode"),  # not JWT-shaped: next authenticator
    ],
    ids=["expired", "wrong-audience", "no-audience", "wrong-key", "no-exp", "alg-none", "sub-not-string",
         "not-yet-valid", "garbage", "not-a-jwt"],
)
def test_refused_tokens(broker, token, message):
    assert connect(broker, token()) == (None, message)


def test_leeway_for_clock_skew(broker):
    assert connect(broker, hs256({"aud": "xtomp", "exp": int(time.time()) - 5}))[0] == ("alice", ())


def test_rs256_and_algorithm_confusion(xtomp_factory, rsa_key, tmp_path):
    pem = public_pem(rsa_key, tmp_path / "issuer.pem")
    broker = xtomp_factory(
        f'[plugins.jwt]\npublic_key_file = "{pem}"\nissuer = "https://login.example/"\n'
        '[server]\nauthenticators = ["jwt"]\nauth_failure_delay = "0ms"\n'
    )
    claims = {"sub": "svc", "iss": "https://login.example/", "exp": int(time.time()) + 60}
    assert connect(broker, jwt.encode(claims, rsa_key, algorithm="RS256"))[0] == ("svc", ())
    assert connect(broker, jwt.encode({**claims, "iss": "evil"}, rsa_key, algorithm="RS256"))[1] == "auth err - invalid token"
    # HS256 "signed" with the public key's PEM bytes as the HMAC secret: the classic
    # algorithm-confusion forgery (PyJWT refuses to make one, so it is built by hand)
    def b64(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(open(pem, "rb").read(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(signature)).decode()
    assert connect(broker, forged)[1] == "auth err - invalid token"


def test_es256(xtomp_factory, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = public_pem(key, tmp_path / "es.pem")
    broker = xtomp_factory(
        f'[plugins.jwt]\npublic_key_file = "{pem}"\nalgorithms = ["ES256"]\n'
        '[server]\nauthenticators = ["jwt"]\n'
    )
    token = jwt.encode({"sub": "device-7", "exp": int(time.time()) + 60}, key, algorithm="ES256")
    assert connect(broker, token)[0] == ("device-7", ())


def test_tokens_and_passwords_side_by_side_with_access_rules(xtomp_factory):
    hashed = hash_password("bob-pw", cost=4)
    broker = xtomp_factory(
        HS_CONFIG.replace('authenticators = ["jwt"]', 'authenticators = ["jwt", "users"]')
        + f'[users.bob]\npassword = "{hashed}"\n[users.alice]\ngroups = ["ops"]\n'
        '[destinations."/topic/ops.*"]\ntype = "topic"\nallow_send = ["@ops"]\n'
    )
    token = hs256({"aud": "xtomp"})  # no groups claim: alice's groups come from [users.alice]
    with RawClient(broker.host, broker.port) as alice, RawClient(broker.host, broker.port) as bob:
        alice.connect(passcode=token)
        bob.connect(login="bob", passcode="bob-pw")
        alice.subscribe("/topic/ops.deploy")
        alice.send_frame("SEND", {"destination": "/topic/ops.deploy"}, "go")
        assert alice.expect("MESSAGE").body == b"go"
        bob.send_frame("SEND", {"destination": "/topic/ops.deploy"}, "no")
        bob.expect_error("user 'bob' may not send")


@pytest.mark.parametrize(
    "table, message",
    [
        ('secret = "short"', "plugins.jwt.secret: too short"),
        ("", "set exactly one of secret"),
        (f'secret = "{SECRET}"\nalgorithms = ["RS256"]', "RS256 cannot be used with a secret"),
        ('public_key_file = "/nonexistent.pem"', "plugins.jwt.public_key_file: cannot read"),
    ],
)
def test_config_errors(tmp_path, table, message):
    directory = write_config(tmp_path, f'[plugins.jwt]\n{table}\n[server]\nauthenticators = ["jwt"]\n')
    with pytest.raises(ConfigError, match=message):
        load_broker(directory)


def test_public_key_algorithms_need_a_public_key(tmp_path, rsa_key):
    not_a_key = tmp_path / "junk.pem"
    not_a_key.write_text("junk")
    directory = write_config(tmp_path / "a", f'[plugins.jwt]\npublic_key_file = "{not_a_key}"\n[server]\nauthenticators = ["jwt"]\n')
    with pytest.raises(ConfigError, match="holds no PEM public key"):
        load_broker(directory)
    pem = public_pem(rsa_key, tmp_path / "k.pem")
    directory = write_config(tmp_path / "b", f'[plugins.jwt]\npublic_key_file = "{pem}"\nalgorithms = ["HS256"]\n'
                             '[server]\nauthenticators = ["jwt"]\n')
    with pytest.raises(ConfigError, match="HS256 cannot be used with a public key"):
        load_broker(directory)


#: load_broker(argv[1]) where cryptography cannot be imported (PyJWT installed without [crypto]).
WITHOUT_CRYPTOGRAPHY = """
import sys
sys.modules["cryptography"] = None  # any import of it or its submodules raises ImportError
import jwt.algorithms
assert not jwt.algorithms.has_crypto
from xtomp_core import ConfigError
from xtomp_testing import load_broker
try:
    load_broker(sys.argv[1])
except ConfigError as error:
    print(error)
else:
    print("loaded")
"""


@pytest.mark.parametrize("table, key", [("", "public_key_file"), ('algorithms = ["ES256"]', "algorithms")])
def test_public_key_algorithms_without_cryptography_are_a_config_error(tmp_path, rsa_key, table, key):
    """Found by ``xtomp -t``, naming file, key and fix, rather than every token refused (or an ImportError) later."""
    pem = public_pem(rsa_key, tmp_path / "k.pem")
    directory = write_config(tmp_path / "conf", f'[plugins.jwt]\npublic_key_file = "{pem}"\n{table}\n'
                             '[server]\nauthenticators = ["jwt"]\n')
    result = subprocess.run([sys.executable, "-c", WITHOUT_CRYPTOGRAPHY, str(directory)],
                            capture_output=True, text=True, check=True)
    message = result.stdout.strip()
    assert message.startswith(str(directory / "50-test.toml")), message
    assert f"plugins.jwt.{key}: " in message and "needs the cryptography package" in message
    assert "pip install 'xtomp-jwt[crypto]'" in message


def test_enabled_but_not_in_the_chain(tmp_path):
    directory = write_config(tmp_path, f'[plugins.jwt]\nsecret = "{SECRET}"\n')
    with pytest.raises(ConfigError, match='\\[plugins.jwt\\] is enabled but "jwt" is not in the chain'):
        load_broker(directory)


def test_pyjwt_is_imported_only_when_enabled(tmp_path):
    directory = write_config(tmp_path, "")
    script = (
        "import sys\nfrom xtomp_testing import load_broker\n"
        f"load_broker({str(directory)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jwt', 'xtomp_jwt', 'cryptography')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


_B64URL = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=40)
_JSON_B64 = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["alg", "typ", "sub", "exp", "aud", "kid", "crit", "b64"]), inner, max_size=4),
    max_leaves=8,
).map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("="))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.tuples(_JSON_B64 | _B64URL, _JSON_B64 | _B64URL, _B64URL).map(".".join))
def test_hostile_tokens_are_refused_cleanly(tmp_path, token):
    """Whatever a JWT-shaped passcode holds, the authenticator accepts, declines or raises AuthRejected."""
    global _fuzz_authenticator, _fuzz_session
    if _fuzz_authenticator is None:
        memory = InMemoryBroker(HS_CONFIG)
        _fuzz_authenticator = JwtAuthenticator(memory.auth_context)
        _fuzz_session = memory.client(version=None).session
    try:
        _fuzz_authenticator.authenticate(None, token, _fuzz_session)
    except AuthRejected:
        pass


_fuzz_authenticator = None
_fuzz_session = None
