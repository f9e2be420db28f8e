"""The atheris fuzz target's checks (fuzz/fuzz_parser.py), run in the test suite: on its seeds,
on hypothesis inputs, and on inputs the fuzzer once found, so the target cannot rot."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.fuzz_parser import check_session, one_input

SEEDS = Path(__file__).resolve().parents[2] / "fuzz" / "seeds"

_TOKENS = [
    b"CONNECT\naccept-version:1.2\n\n\x00", b"STOMP\naccept-version:1.0\n\n\x00", b"SEND\n", b"SUBSCRIBE\n",
    b"UNSUBSCRIBE\n", b"ACK\n", b"NACK\n", b"BEGIN\n", b"COMMIT\n", b"ABORT\n", b"DISCONNECT\n",
    b"destination:/topic/a\n", b"destination:memq\n", b"id:1\n", b"id:1.2\n", b"ack:client\n",
    b"transaction:t\n", b"receipt:r\n", b"message-id:1\n", b"subscription:1\n", b"content-length:3\n",
    b"heart-beat:1,1\n", b"\n", b"\x00", b"\r\n", b"x", b"\\c", b":",
    b"CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\x00", b"login:", b"passcode:", b"guest",
    b"login:eve 1700000000 r\n", " \u00b2".encode(), b"destination:/topic/ro.x\n",
]
stream = st.lists(st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=4)), max_size=60).map(b"".join)


def test_seeds_pass():
    seeds = sorted(SEEDS.iterdir())
    assert len(seeds) >= 5
    for seed in seeds:
        one_input(seed.read_bytes())


def test_a_session_answers_a_pipelined_script():
    link = check_session(
        b"CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\ndestination:/topic/a\nid:1\n\n\x00"
        b"SEND\ndestination:/topic/a\nreceipt:r\n\nhi\x00",
        [7, 50],
    )
    assert link.written[0].startswith(b"CONNECTED\n") and link.written[-1].startswith(b"RECEIPT\n")
    assert b"hi\x00" in b"".join(link.out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.lists(st.integers(0, 600), max_size=2), st.booleans())
def test_session_never_hits_an_internal_error(data, points, auth):
    check_session(data, points, auth)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=3, max_size=300))
def test_fuzz_entry_point_on_random_bytes(data):
    one_input(data)
