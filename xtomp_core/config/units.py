"""Size and duration values with units (``64k``, ``4m``, ``500ms``, ``15s``, ``2m``)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as ``"64k"``, ``"4m"``, ``"1g"`` (powers of 1024)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 4096, \"64k\" or \"4m\"")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            unit = (match.group(2) or "").lower()[:1]
            return int(match.group(1)) * _SIZE_FACTORS[unit]
    raise ValueError(f"{value!r} is not a size: use bytes (4096) or a unit: \"64k\", \"4m\", \"1g\"")


def parse_duration(value: object) -> float:
    """Seconds from a string with a unit (``"500ms"``, ``"15s"``, ``"2m"``, ``"1h"``, ``"1d"``).

    A bare number is refused (except 0): xtomp read bare numbers as seconds, and users
    wrote milliseconds, so ``secret_timeout 60000`` meant 16.7 hours.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"15s\"")
    if isinstance(value, (int, float)):
        if value == 0:
            return 0.0
        raise ValueError(f"{value!r} has no unit: write \"{value}ms\" or \"{value}s\"")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            return float(match.group(1)) * _DURATION_FACTORS[match.group(2).lower()]
        if value.strip() == "0":
            return 0.0
    raise ValueError(f"{value!r} is not a duration: use a unit, as in \"500ms\", \"15s\", \"2m\", \"1h\"")


def format_size(size: int) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def format_duration(seconds: float) -> str:
    if seconds == 0:
        return "0"
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{int(seconds / factor)}{unit}"
    # Fractions of a millisecond ("1.5ms") are kept: rounding them would show a value
    # that is not the one in effect. round(..., 6) hides float noise such as 1100.0000000000002.
    milliseconds = round(seconds * 1000, 6)
    if milliseconds.is_integer():
        return f"{int(milliseconds)}ms"
    return f"{milliseconds:.6f}".rstrip("0") + "ms"
