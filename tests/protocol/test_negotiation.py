"""CONNECT negotiation: accept-version and heart-beat (STOMP 1.2 "Protocol Negotiation", "Heart-beating")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtomp_core.errors import FrameRejected, ProtocolError
from xtomp_core.protocol.constants import V1_0, V1_1, V1_2
from xtomp_core.protocol.negotiation import negotiate_heart_beat, negotiate_version, parse_heart_beat

DAY_MS = 24 * 3600 * 1000


# -- version --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_version", "expected"),
    [
        (None, V1_0),  # no header: a STOMP 1.0 client
        (b"1.0", V1_0),
        (b"1.1", V1_1),
        (b"1.2", V1_2),
        (b"1.0,1.1,1.2", V1_2),
        (b"1.2,1.1,1.0", V1_2),
        (b"1.0,1.1", V1_1),
        (b"1.1,1.0", V1_1),
        (b"1.0,1.2", V1_2),
        (b"1.0, 1.1", V1_1),
        (b" 1.1 , 1.2 ", V1_2),
        (b"1.0 ,\t1.1", V1_1),
        (b"1.1,2.0", V1_1),
        (b"1.0,,1.1", V1_1),
        (b"1.1,1.1", V1_1),
        (b"3.0,1.0,9", V1_0),
    ],
)
def test_negotiate_version(accept_version: bytes | None, expected: int) -> None:
    assert negotiate_version(accept_version) == expected


@pytest.mark.parametrize("accept_version", [b"", b"2.0", b"1.3", b"1", b"1.2.0", b"v1.2", b"1,2", b" , "])
def test_negotiate_version_nothing_in_common(accept_version: bytes) -> None:
    assert negotiate_version(accept_version) is None


# -- heart-beat header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (0, 0)),  # absent: no heart-beats
        (b"0,0", (0, 0)),
        (b"10000,5000", (10000, 5000)),
        (b"0,250", (0, 250)),
        (b"007,01", (7, 1)),
        (b"%d,%d" % (DAY_MS, DAY_MS), (DAY_MS, DAY_MS)),
    ],
)
def test_parse_heart_beat(header: bytes | None, expected: tuple[int, int]) -> None:
    assert parse_heart_beat(header) == expected


@pytest.mark.parametrize(
    "header",
    [b"", b"1", b"1,", b",1", b",", b"a,b", b"1,2,3", b" 1,2", b"1, 2", b"1,2 ", b"-1,0", b"0,-1", b"1.5,2",
     b"1;2", b"0x1,0", "\u0661,1".encode()],
)
def test_parse_heart_beat_invalid(header: bytes) -> None:
    with pytest.raises(FrameRejected) as info:
        parse_heart_beat(header)
    assert str(info.value).startswith("ecg err - invalid heart-beat header")
    assert "expected two integers like 10000,10000" in str(info.value)
    assert not isinstance(info.value, ProtocolError)  # a bad value, not broken framing


def test_parse_heart_beat_shows_a_short_header() -> None:
    with pytest.raises(FrameRejected) as info:
        parse_heart_beat(b"x" * 100)
    assert "x" * 40 in str(info.value)
    assert "x" * 41 not in str(info.value)


@pytest.mark.parametrize("header", [b"%d,0" % (DAY_MS + 1), b"0,%d" % (DAY_MS + 1), b"9" * 30 + b",1"])
def test_parse_heart_beat_longer_than_a_day(header: bytes) -> None:
    with pytest.raises(FrameRejected) as info:
        parse_heart_beat(header)
    assert str(info.value) == "ecg err - heart-beat interval longer than one day"


# -- heart-beat negotiation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "read_ms", "write_min_ms", "write_max_ms", "expected"),
    [
        # The client wants nothing: nothing either way, whatever the broker's settings.
        ((0, 0), 5000, 1000, 60000, (0, 0)),
        # The client can send every 1 s but the broker reads every 5 s: it is asked for 5 s.
        ((1000, 0), 5000, 1000, 60000, (0, 5000)),
        # The client sends slower than heart_beat_read: its own interval is used.
        ((20000, 0), 5000, 1000, 60000, (0, 20000)),
        ((5000, 0), 5000, 1000, 60000, (0, 5000)),
        # heart_beat_read 0: the broker does not want beats.
        ((1000, 0), 0, 1000, 60000, (0, 0)),
        # The client wants beats every 10 s: inside [write_min, write_max], granted as asked.
        ((0, 10000), 5000, 1000, 60000, (10000, 0)),
        # More often than write_min: write_min (never refused).
        ((0, 100), 5000, 1000, 60000, (1000, 0)),
        ((0, 1), 5000, 1000, 60000, (1000, 0)),
        # Less often than write_max: write_max.
        ((0, 120000), 5000, 1000, 60000, (60000, 0)),
        # Exactly at the bounds.
        ((0, 1000), 5000, 1000, 60000, (1000, 0)),
        ((0, 60000), 5000, 1000, 60000, (60000, 0)),
        # write_max 0 disables broker beats.
        ((0, 10000), 5000, 1000, 0, (0, 0)),
        ((0, 10000), 5000, 0, 0, (0, 0)),
        # write_min 0: the client's interval, however short.
        ((0, 10), 5000, 0, 60000, (10, 0)),
        # Both directions at once.
        ((3000, 7000), 5000, 1000, 60000, (7000, 5000)),
        ((3000, 7000), 0, 1000, 0, (0, 0)),
        ((8000, 500), 5000, 1000, 2000, (1000, 8000)),
    ],
)
def test_negotiate_heart_beat(
    client: tuple[int, int], read_ms: int, write_min_ms: int, write_max_ms: int, expected: tuple[int, int]
) -> None:
    assert negotiate_heart_beat(client, read_ms, write_min_ms, write_max_ms) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(0, DAY_MS), st.integers(0, DAY_MS)),
    st.integers(0, 120000),
    st.integers(0, 60000),
    st.integers(0, 120000),
)
def test_negotiated_intervals_agree_with_the_client(
    client: tuple[int, int], read_ms: int, write_min_ms: int, write_max_ms: int
) -> None:
    """The client computes each direction as max(its value, ours) (STOMP 1.2 "Heart-beating"),
    so the CONNECTED values must be the effective ones, never more frequent than it can do."""
    write_min_ms = min(write_min_ms, write_max_ms)
    client_send, client_receive = client
    send, receive = negotiate_heart_beat(client, read_ms, write_min_ms, write_max_ms)
    if client_send == 0 or read_ms == 0:
        assert receive == 0
    else:
        assert receive == max(client_send, read_ms)
    if client_receive == 0 or write_max_ms == 0:
        assert send == 0
    else:
        # As the client asked, or the nearest interval the broker's range allows.
        assert send == min(max(client_receive, write_min_ms), write_max_ms)
