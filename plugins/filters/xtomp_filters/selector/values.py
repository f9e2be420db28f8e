"""What a header value means to a selector: numbers, booleans, arithmetic, and LIKE matching.

Header values are bytes. A value *is a number* when the whole value matches
``[+-]?(DIGITS[.DIGITS?] | .DIGITS)([eE][+-]?DIGITS)?`` (ASCII digits, no spaces, no
hexadecimal, no ``inf``/``nan``). Without ``.`` or an exponent it is an integer, as long as
it fits a signed 64-bit long; anything else numeric is a double. Integer arithmetic stays
integer (division truncates toward zero, as in Java) until a result leaves the 64-bit
range, where it becomes a double. Division by zero and a result that is not a number
(``inf - inf``) give NULL (UNKNOWN), never an exception.

A value *is a boolean* when it is ``true`` or ``false`` in any letter case.

LIKE patterns are compiled here into matchers whose cost is linear in the value times the
pattern: ``%`` splits the pattern into fixed-length segments, which are found left to
right without ever backtracking across a ``%`` (the leftmost match of each segment is
always a right choice), so ``'%a%a%a%b'`` costs what ``'%aaab'`` costs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import SelectorError

__all__ = ["to_number", "to_bool", "add", "sub", "mul", "div", "neg", "like_matcher", "Number"]

Number = int | float

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

_NUMERIC = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS = {b"true": True, b"false": False}


def to_number(value: bytes) -> int | float | None:
    """The number a header value holds, or None when it is not a number."""
    if value.isdigit():  # the common case: ASCII digits only (bytes.isdigit is ASCII)
        if len(value) <= 19:
            number = int(value)
            return number if number <= LONG_MAX else float(number)
        return float(value)
    if _NUMERIC.fullmatch(value) is None:
        return None
    if b"." in value or b"e" in value or b"E" in value:
        return float(value)
    if len(value) <= 20:
        number = int(value)
        if LONG_MIN <= number <= LONG_MAX:
            return number
    return float(value)


def to_bool(value: bytes) -> bool | None:
    """True for ``true``, False for ``false`` (any case), None for anything else."""
    return _BOOLEANS.get(value.lower()) if len(value) <= 5 else None


def _fit(number: Number) -> Number | None:
    if type(number) is int:
        return number if LONG_MIN <= number <= LONG_MAX else float(number)
    return None if number != number else number  # NaN is no number: UNKNOWN


def add(a: Number, b: Number) -> Number | None:
    return _fit(a + b)


def sub(a: Number, b: Number) -> Number | None:
    return _fit(a - b)


def mul(a: Number, b: Number) -> Number | None:
    return _fit(a * b)


def div(a: Number, b: Number) -> Number | None:
    if not b:
        return None
    if type(a) is int and type(b) is int:
        quotient = abs(a) // abs(b)
        return _fit(quotient if (a < 0) == (b < 0) else -quotient)
    return _fit(a / b)


def neg(a: Number) -> Number | None:
    return _fit(-a)


ARITHMETIC: dict[str, Callable[[Number, Number], Number | None]] = {"+": add, "-": sub, "*": mul, "/": div}

_ANY_ONE = object()


def _segments(pattern: str, escape: str | None) -> list[list[object]]:
    """Split a LIKE pattern at its ``%`` wildcards; a segment is a list of characters and _ANY_ONE."""
    segments: list[list[object]] = [[]]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if escape is not None and char == escape:
            if index >= len(pattern):
                raise SelectorError(f"the LIKE pattern ends with its escape character {escape!r}")
            following = pattern[index]
            if following not in ("%", "_", escape):
                raise SelectorError(
                    f"in the LIKE pattern the escape character {escape!r} must precede %, _ or itself, "
                    f"not {following!r}"
                )
            segments[-1].append(following)
            index += 1
        elif char == "%":
            segments.append([])
        elif char == "_":
            segments[-1].append(_ANY_ONE)
        else:
            segments[-1].append(char)
    return segments


def like_matcher(pattern: str, escape: str | None = None) -> Callable[[bytes], bool]:
    """A function telling whether a header value matches a LIKE pattern (``%``, ``_``, ESCAPE)."""
    segments = _segments(pattern, escape)
    if all(_ANY_ONE not in segment for segment in segments):
        return _literal_matcher(["".join(str(item) for item in segment).encode() for segment in segments])
    return _wildcard_matcher(segments)


def _literal_matcher(parts: list[bytes]) -> Callable[[bytes], bool]:
    """Segments without ``_`` match on the UTF-8 bytes directly (find, startswith, endswith)."""
    if len(parts) == 1:
        only = parts[0]
        return lambda value: value == only
    first, middle, last = parts[0], [part for part in parts[1:-1] if part], parts[-1]
    if not middle:
        if not last:
            return (lambda value: True) if not first else (lambda value: value.startswith(first))
        if not first:
            return lambda value: value.endswith(last)
        least = len(first) + len(last)
        return lambda value: len(value) >= least and value.startswith(first) and value.endswith(last)
    least = len(first) + len(last) + sum(len(part) for part in middle)
    head, tail = len(first), len(last)

    def match(value: bytes) -> bool:
        if len(value) < least or not value.startswith(first) or not value.endswith(last):
            return False
        position, end = head, len(value) - tail
        for part in middle:
            found = value.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True

    return match


def _segment_regex(segment: list[object]) -> re.Pattern[str]:
    # No quantifier at all: matching at one offset costs at most the segment's length.
    return re.compile("".join("." if item is _ANY_ONE else re.escape(str(item)) for item in segment), re.DOTALL)


def _wildcard_matcher(segments: list[list[object]]) -> Callable[[bytes], bool]:
    """Segments with ``_`` (one character, not one byte) match on the decoded text."""
    if len(segments) == 1:
        whole = _segment_regex(segments[0])
        size = len(segments[0])

        def match_one(value: bytes) -> bool:
            text = value.decode("utf-8", "surrogateescape")
            return len(text) == size and whole.match(text) is not None

        return match_one
    first, last = _segment_regex(segments[0]), _segment_regex(segments[-1])
    head, tail = len(segments[0]), len(segments[-1])
    middle = [(_segment_regex(segment), len(segment)) for segment in segments[1:-1] if segment]
    least = head + tail + sum(size for _, size in middle)

    def match(value: bytes) -> bool:
        text = value.decode("utf-8", "surrogateescape")
        length = len(text)
        if length < least or first.match(text) is None or last.match(text, length - tail) is None:
            return False
        position, end = head, length - tail
        for regex, _size in middle:
            found = regex.search(text, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    return match
