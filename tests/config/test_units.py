"""Sizes and durations with units: what is accepted, what is refused, and how they print."""

from __future__ import annotations

import pytest

from xtomp_core.config.units import format_duration, format_size, parse_duration, parse_size

KIB = 1024
MIB = 1024**2
GIB = 1024**3


# -- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (4096, 4096),
        ("0", 0),
        ("4096", 4096),
        ("512b", 512),
        ("64k", 64 * KIB),
        ("64K", 64 * KIB),
        ("4m", 4 * MIB),
        ("4M", 4 * MIB),
        ("1g", GIB),
        ("4mb", 4 * MIB),
        ("4MB", 4 * MIB),
        ("1kb", KIB),
        ("1kib", KIB),
        ("1KiB", KIB),
        ("2mib", 2 * MIB),
        ("3gb", 3 * GIB),
        (" 64k ", 64 * KIB),
        ("64 k", 64 * KIB),
    ],
)
def test_size_accepted(text: object, expected: int) -> None:
    assert parse_size(text) == expected


def test_size_is_an_int() -> None:
    assert type(parse_size("64k")) is int
    assert type(parse_size(10)) is int


def test_negative_size_refused() -> None:
    with pytest.raises(ValueError, match="a size cannot be negative"):
        parse_size(-1)


@pytest.mark.parametrize("text", ["abc", "-1k", "1.5k", "64x", "k", "", "4 m b", "1t"])
def test_bad_size_string_refused(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_size(text)
    message = str(raised.value)
    assert message.startswith(f"{text!r} is not a size")
    assert '"64k"' in message


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_a_size(value: bool) -> None:
    # bool is an int subclass: True must not quietly mean one byte.
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(value)


@pytest.mark.parametrize("value", [1.5, 4096.0, None, [64], {"k": 64}])
def test_other_types_are_not_sizes(value: object) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(value)


# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", 0.5),
        ("1ms", 0.001),
        ("15s", 15.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("0.5m", 30.0),
        ("15S", 15.0),
        ("500MS", 0.5),
        ("2M", 120.0),
        (" 15s ", 15.0),
        ("0s", 0.0),
        ("0ms", 0.0),
        (0, 0.0),
        (0.0, 0.0),
        ("0", 0.0),
    ],
)
def test_duration_accepted(text: object, expected: float) -> None:
    value = parse_duration(text)
    assert value == pytest.approx(expected)
    assert type(value) is float


@pytest.mark.parametrize("number", [5, 60000, 1.5])
def test_bare_number_refused_with_unit_suggestion(number: float) -> None:
    # xtomp read bare numbers as seconds while people wrote milliseconds.
    with pytest.raises(ValueError) as raised:
        parse_duration(number)
    assert str(raised.value) == f'{number!r} has no unit: write "{number}ms" or "{number}s"'


def test_bare_number_string_refused() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration("15")
    message = str(raised.value)
    assert message.startswith("'15' is not a duration: use a unit")
    assert '"500ms"' in message and '"15s"' in message


@pytest.mark.parametrize("text", ["abc", "-5s", "5 sec", "5w", "s", "", "1.s", ".5s", "1h30m"])
def test_bad_duration_string_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_a_duration(value: bool) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [None, ["15s"]])
def test_other_types_are_not_durations(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


# -- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (1, "1"),
        (1000, "1000"),
        (1536, "1536"),
        (KIB, "1k"),
        (64 * KIB, "64k"),
        (MIB, "1m"),
        (1536 * KIB, "1536k"),
        (4 * MIB, "4m"),
        (GIB, "1g"),
        (3 * GIB, "3g"),
        (2048 * GIB, "2048g"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0"),
        (0.001, "1ms"),
        (0.5, "500ms"),
        (1.0, "1s"),
        (1.5, "1500ms"),
        (15.0, "15s"),
        (90.0, "90s"),
        (120.0, "2m"),
        (3600.0, "1h"),
        (5400.0, "90m"),
        (86400.0, "1d"),
        (129600.0, "36h"),
        (0.0015, "1.5ms"),
        (0.00025, "0.25ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["500ms", "1.5s", "1.1s", "15s", "2m", "0.1h", "1d", "1.5ms", "0.25ms", "0"])
def test_duration_round_trip(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("text", ["0", "1", "4096", "64k", "4m", "1g", "4mb", "1kib", "1536k"])
def test_size_round_trip(text: str) -> None:
    size = parse_size(text)
    assert parse_size(format_size(size)) == size
