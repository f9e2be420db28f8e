"""Unit tests of the selector language: grammar, errors, limits, three-valued logic, types, LIKE, lifting."""

from __future__ import annotations

import time

import pytest

from xtomp_filters.selector import SelectorError, compile_selector, parse
from xtomp_filters.selector.nodes import (
    BOOLEAN,
    NUMBER,
    STRING,
    And,
    Arith,
    Between,
    Compare,
    InList,
    IsNull,
    Like,
    Literal,
    Name,
    Not,
    Or,
    Sign,
)

a, b, c = Name(b"a", "a"), Name(b"b", "b"), Name(b"c", "c")


def num(value):
    return Literal(NUMBER, value)


def text(value):
    return Literal(STRING, value.encode())


def matches(selector, **headers):
    return compile_selector(selector)({name.encode(): value.encode() for name, value in headers.items()})


def three_valued(selector, **headers):
    """The raw three-valued answer: True, False or None (UNKNOWN)."""
    compiled = compile_selector(selector)
    return compiled.three_valued({name.encode(): value.encode() for name, value in headers.items()})


# -- grammar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "tree"),
    [
        ("a = 1", Compare("=", a, num(1))),
        ("a OR b AND c", Or((a, And((b, c))))),
        ("(a OR b) AND c", And((Or((a, b)), c))),
        ("a AND b AND c", And((a, b, c))),  # flat, not nested pairs
        ("NOT a = 1", Not(Compare("=", a, num(1)))),
        ("NOT NOT a", Not(Not(a))),
        ("a + b * c = 7", Compare("=", Arith(a, (("+", Arith(b, (("*", c),))),)), num(7))),
        ("a - b - c > 0", Compare(">", Arith(a, (("-", b), ("-", c))), num(0))),
        ("-a * 2 < -3", Compare("<", Arith(Sign("-", a), (("*", num(2)),)), num(-3))),
        ("+a = 1", Compare("=", Sign("+", a), num(1))),
        ("a BETWEEN 1 AND 2 AND b", And((Between(a, num(1), num(2)), b))),
        ("a NOT BETWEEN -1 AND 2.5", Between(a, num(-1), num(2.5), negated=True)),
        ("a IN ('x', 'y')", InList(a, (text("x"), text("y")))),
        ("a not in (-1, +2, 0x1F)", InList(a, (num(-1), num(2), num(31)), negated=True)),
        ("a IN (TRUE)", InList(a, (Literal(BOOLEAN, True),))),
        ("a LIKE 'x%'", Like(a, "x%")),
        ("a NOT LIKE 'x!%' ESCAPE '!'", Like(a, "x!%", "!", negated=True)),
        ("a IS NULL", IsNull(a)),
        ("a is not null", IsNull(a, negated=True)),
        ("TRUE", Literal(BOOLEAN, True)),
        ("a = 'it''s'", Compare("=", a, text("it's"))),
        ("a = 1.5e3", Compare("=", a, num(1500.0))),
        ("a = .5", Compare("=", a, num(0.5))),
        ("a = 7.", Compare("=", a, num(7.0))),
        ("a = -9223372036854775808", Compare("=", a, num(-(2**63)))),
        ('"content-type" = \'text/plain\'', Compare("=", Name(b"content-type", "content-type"), text("text/plain"))),
        ('"say ""hi""" = 1', Compare("=", Name(b'say "hi"', 'say "hi"'), num(1))),
        ('"AND" = 1', Compare("=", Name(b"AND", "AND"), num(1))),
        ("$x_1 = 1", Compare("=", Name(b"$x_1", "$x_1"), num(1))),
        ("r\u00e9gion = 'eu'", Compare("=", Name("r\u00e9gion".encode(), "r\u00e9gion"), text("eu"))),
        ("JMSType = 'car'", Compare("=", Name(b"type", "JMSType"), text("car"))),
        ("JMSCorrelationID = 'x'", Compare("=", Name(b"correlation-id", "JMSCorrelationID"), text("x"))),
        ("JMSPriority > 4", Compare(">", Name(b"priority", "JMSPriority"), num(4))),
        ('"JMSType" = 1', Compare("=", Name(b"JMSType", "JMSType"), num(1))),  # quoted: the literal name
    ],
)
def test_parse(selector, tree):
    assert parse(selector) == tree


def test_keywords_are_case_insensitive_names_are_not():
    assert parse("a and B oR not c") == parse("a AND B OR NOT c")
    assert parse("A = 1") != parse("a = 1")


# -- errors: position (1-based) and what was expected -----------------------------------------


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "at position 1: expected a condition, found the end of the selector"),
        ("   ", "at position 4: expected a condition, found the end of the selector"),
        ("a =", "at position 4: expected a value, a header name or '(', found the end of the selector"),
        ("a = 1 b", "at position 7: expected an operator, AND, OR or the end of the selector, found the name b"),
        ("a = 'x", "at position 5: unterminated string: no closing '"),
        ('"a = 1', 'at position 1: unterminated quoted name: no closing "'),
        ('"" = 1', 'at position 1: an empty quoted name ""'),
        ("a != 1", "at position 3: expected a comparison operator, found '!=' (write <> for 'not equal')"),
        ("a == 1", "at position 3: expected a comparison operator, found '==' (write = for 'equal')"),
        ("(a = 1", "at position 7: expected ')' or an operator, found the end of the selector"),
        ("a = 1)", "at position 6: expected an operator, AND, OR or the end of the selector, found ')'"),
        ("a BETWEEN 1 OR 2", "at position 13: expected AND between the bounds of BETWEEN, found OR"),
        ("a IN 'x'", "at position 6: expected '(' after IN, found the string 'x'"),
        ("a IN ('x' 'y')", "at position 11: expected ',' or ')' in the IN list, found the string 'y'"),
        ("a IN (b)", "at position 7: expected a quoted string, a number, TRUE or FALSE (an IN list holds literals)"),
        ("a IN ()", "at position 7: expected a quoted string"),
        ("a LIKE b", "at position 8: expected a quoted pattern after LIKE, found the name b"),
        ("a LIKE 'x' ESCAPE '!!'", "at position 19: the ESCAPE character must be one character, not 2"),
        ("a LIKE 'x!y' ESCAPE '!'", "at position 3: in the LIKE pattern the escape character '!' must precede %, _ or itself"),
        ("a LIKE 'x!' ESCAPE '!'", "at position 3: the LIKE pattern ends with its escape character '!'"),
        ("a IS 1", "at position 6: expected NULL after IS, found the number 1"),
        ("a IS NOT", "at position 9: expected NULL after IS NOT, found the end of the selector"),
        ("a = NULL", "at position 5: NULL is not a value: test for a missing header with IS NULL or IS NOT NULL"),
        ("a = 017", "at position 5: 017 has a leading zero, which ActiveMQ reads as octal; write 17"),
        ("a = 9223372036854775808", "at position 5: the integer 9223372036854775808 is outside the 64-bit range"),
        ("a = 1e999", "at position 5: the number 1e999 is too large"),
        ("a = #", "at position 5: unexpected character '#'"),
        ("a = 1 AND", "at position 10: expected a value, a header name or '(', found the end of the selector"),
        ("NOT", "at position 4: expected a value, a header name or '(', found the end of the selector"),
        ("receipt = 'x'", "at position 1: the broker consumes the receipt header of a SEND"),
        ("JMSMessageID = 'x'", "at position 1: JMSMessageID is not available to selectors"),
        ('"a:b" = 1', "at position 1: the header name 'a:b' contains a colon"),
        # types, decided at compile time
        ("a = 1 AND 'x'", "at position 11: expected a condition, found a string"),
        ("5", "at position 1: expected a condition, found a number"),
        ("a + 1", "at position 3: expected a condition, found a number"),
        ("1 = 'x'", "at position 3: cannot compare a number with a string"),
        ("(a = 1) = 2", "at position 9: cannot compare a condition with a number"),
        ("a < TRUE", "at position 3: conditions and TRUE/FALSE compare only with = and <>, not <"),
        ("a + 'x' = 1", "at position 3: arithmetic needs numbers, found a string"),
        ("-'x' = 1", "at position 1: unary - needs numbers, found a string"),
        ("a IN (1, 'x')", "at position 3: an IN list holds literals of one type"),
        ("1 IN ('x')", "at position 3: cannot compare a number with an IN list of strings"),
        ("1 LIKE 'x'", "at position 3: LIKE needs a string, found a number"),
        ("'x' BETWEEN 1 AND 2", "at position 5: cannot compare a string with a number"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(selector, message):
    with pytest.raises(SelectorError) as caught:
        compile_selector(selector)
    assert str(caught.value).startswith(message), str(caught.value)


# -- limits: no recursion blow-up, no quadratic LIKE ------------------------------------------------


@pytest.mark.parametrize(
    "selector",
    ["(" * 9 + "a = 1" + ")" * 9, "NOT " * 9 + "a", "a = " + "-" * 9 + "(1)", "a = 1 AND (b = 2 OR " * 9 + "c" + ")" * 9],
)
def test_nesting_beyond_max_depth_is_refused(selector):
    with pytest.raises(SelectorError, match="nested more than 8 levels deep"):
        compile_selector(selector, max_depth=8)


def test_nesting_at_max_depth_is_accepted():
    assert compile_selector("(" * 8 + "a = 1" + ")" * 8, max_depth=8)({b"a": b"1"})
    assert compile_selector("NOT " * 8 + "a", max_depth=8)({b"a": b"true"})


def test_hostile_nesting_never_reaches_the_interpreter_stack():
    for depth in (1000, 100_000):
        for selector in ("(" * depth + "a" + ")" * depth, "NOT " * depth + "a", "-" * depth + "a = 1"):
            with pytest.raises(SelectorError, match="nested more than 64 levels"):
                compile_selector(selector, max_depth=64)


def test_long_flat_chains_compile_and_run_without_recursion():
    many_or = " OR ".join(f"a = '{n}'" for n in range(2000))
    assert matches(many_or, a="1999") and not matches(many_or, a="x")
    long_sum = " + ".join(["a"] * 3000) + " = 3000"
    assert matches(long_sum, a="1")
    many_and = " AND ".join(["a IS NOT NULL"] * 3000)
    assert matches(many_and, a="")


def fastest(run, times: int = 3) -> float:
    """The least of ``times`` timings of ``run()``: what it costs when nothing else interferes."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


#: Every one passes the cheap checks on its first and last segments ("a..." / "...b"), so the
#: matcher must scan the middle of the value: a "c" that is not there.
HOSTILE_LIKE = ["%a%a%a%a%a%a%a%a%a%a%c%b", "%a_a%a_a%a_a%a_a%c%b", "a%" * 12 + "c%b", "_%" * 12 + "c%b"]


@pytest.mark.parametrize("pattern", HOSTILE_LIKE)
def test_like_is_linear_on_hostile_patterns(pattern):
    """Eight times the value costs about eight times the time (a backtracking matcher: 64 times
    or far worse); each size is timed against the other, never against a clock."""
    selector = compile_selector(f"x LIKE '{pattern}'")

    def check(size: int) -> float:
        headers = {b"x": b"a" * size + b"b"}
        assert not selector(headers)
        return fastest(lambda: selector(headers))

    small, large = check(20_000), check(160_000)
    assert large < 24 * small, f"{pattern}: {large / small:.0f} times slower on a value 8 times longer"
    assert matches("x LIKE '%a%a%a%a%a%a%a%a%a%a%'", x="a" * 200_000)


# -- three-valued logic --------------------------------------------------------------------------

T, F, U = "t = 1", "t = 2", "missing = 1"  # TRUE, FALSE and UNKNOWN with headers {t: 1}
TRUTH = {T: True, F: False, U: None}


@pytest.mark.parametrize("left", [T, F, U])
@pytest.mark.parametrize("right", [T, F, U])
def test_and_or_truth_tables(left, right):
    x, y = TRUTH[left], TRUTH[right]
    expected_and = False if False in (x, y) else None if None in (x, y) else True
    expected_or = True if True in (x, y) else None if None in (x, y) else False
    assert three_valued(f"({left}) AND ({right})", t="1") is expected_and
    assert three_valued(f"({left}) OR ({right})", t="1") is expected_or


def test_not_of_unknown_is_unknown():
    assert three_valued(f"NOT ({U})", t="1") is None
    assert three_valued(f"NOT ({T})", t="1") is False
    assert three_valued(f"NOT ({F})", t="1") is True


@pytest.mark.parametrize(
    ("selector", "headers", "expected"),
    [
        # a missing header makes every comparison UNKNOWN, and so its negation too
        ("price > 10", {}, None),
        ("NOT (price > 10)", {}, None),
        ("price <> 10", {}, None),
        ("colour = 'red' OR price > 10", {"colour": "red"}, True),  # TRUE OR UNKNOWN
        ("colour = 'red' AND price > 10", {"colour": "red"}, None),  # TRUE AND UNKNOWN
        ("colour = 'blue' AND price > 10", {"colour": "red"}, False),  # FALSE AND UNKNOWN
        ("price BETWEEN 1 AND 5", {}, None),
        ("price NOT BETWEEN 1 AND 5", {}, None),
        ("colour IN ('red')", {}, None),
        ("colour NOT IN ('red')", {}, None),
        ("colour LIKE 'r%'", {}, None),
        ("colour NOT LIKE 'r%'", {}, None),
        ("colour IS NULL", {}, True),
        ("colour IS NOT NULL", {}, False),
        ("colour IS NULL", {"colour": ""}, False),  # an empty header is a value
        ("price + 1 IS NULL", {"price": "n/a"}, True),  # not a number: NULL in arithmetic
        ("flag", {}, None),
        ("flag", {"flag": "yes"}, None),  # neither true nor false
        ("flag", {"flag": "True"}, True),
        ("NOT flag", {"flag": "FALSE"}, True),
        ("(a = 1) = FALSE", {"a": "2"}, True),
        ("(a = 1) = FALSE", {}, None),
        ("a / 0 = 1", {"a": "5"}, None),  # division by zero is UNKNOWN, not an error
    ],
)
def test_unknown_propagates(selector, headers, expected):
    assert three_valued(selector, **headers) is expected


# -- the numeric rule and other types -------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "value", "expected"),
    [
        ("p = 5", "5", True),
        ("p = 5", "5.0", True),  # compared as numbers
        ("p = 5", "05", True),
        ("p = 5", "+5", True),
        ("p = 5", "5e0", True),
        ("p = 5", " 5", None),  # a space: not a number
        ("p = 5", "0x5", None),  # no hexadecimal in values
        ("p = 5", "five", None),
        ("p > 10", "9", False),  # numerically, although '9' > '10' as text
        ("p > 10", "10.5", True),
        ("p > '10'", "9", True),  # a string literal compares as text
        ("p = '5'", "5.0", False),
        ("p = 0.1", "0.1", True),
        ("p = 1.5", "1.5", True),
        ("p < -2", "-3", True),
        ("p = 9223372036854775807", "9223372036854775807", True),  # exact 64-bit integers
        ("p = 9223372036854775806", "9223372036854775807", False),
        ("p > 9223372036854775807", "9223372036854775808", True),  # beyond 64 bits: a double
        ("p * 2 = 9223372036854775806 * 2", "9223372036854775806", True),
        ("p > 1e300", "1e999", True),  # a value too large for a double is infinite
        ("p - p = 0", "1e999", None),  # infinity minus infinity is no number: UNKNOWN
        ("p / 2 = 3", "7", True),  # integer division truncates, as in Java
        ("p / 2 = -3", "-7", True),
        ("p / 2 = 3.5", "7.0", True),
        ("p / 2.0 = 3.5", "7", True),
        ("p - - 1 = 8", "7", True),
        ("-p = -7", "7", True),
        ("p BETWEEN 1 AND 10", "2", True),
        ("p BETWEEN 2 AND 10", "2", True),  # bounds are inclusive
        ("p BETWEEN 2 AND 10", "10.0", True),
        ("p BETWEEN 2 AND 10", "10.5", False),
        ("p NOT BETWEEN 2 AND 10", "2", False),
        ("p NOT BETWEEN 2 AND 10", "1", True),
        ("p BETWEEN 10 AND 2", "5", False),
        ("p BETWEEN 'a' AND 'c'", "a", True),
        ("p BETWEEN 'a' AND 'c'", "c", True),
        ("p BETWEEN 'a' AND 'c'", "ca", False),
        ("p BETWEEN 'a' AND 'c'", "b", True),
        ("p IN (1, 2.0)", "2", True),
        ("p IN (1, 2)", "x", None),
        ("p = TRUE", "true", True),
        ("p = TRUE", "1", None),
        ("p <> FALSE", "TRUE", True),
    ],
)
def test_numbers_strings_and_booleans(selector, value, expected):
    assert three_valued(selector, p=value) is expected


@pytest.mark.parametrize(
    ("x", "y", "selector", "expected"),
    [
        ("10", "9", "x > y", True),  # both numbers: numeric
        ("10", "9.0", "x > y", True),
        ("1.0", "1", "x = y", True),
        ("10", "nine", "x > y", False),  # not both numbers: text, '10' < 'nine'
        ("abc", "abd", "x < y", True),
        ("b", "a", "x >= y", True),
    ],
)
def test_two_headers_compare_as_numbers_only_when_both_are(x, y, selector, expected):
    assert three_valued(selector, x=x, y=y) is expected


def test_strings_compare_as_utf8_bytes_exactly():
    assert matches("s = 'h\u00e9llo'", s="h\u00e9llo")
    assert not matches("s = 'hello'", s="Hello")
    assert matches("s < 'b'", s="a\u00ff")
    assert matches("s > 'z'", s="\u00e9")  # code point order


# -- LIKE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("a%", "abc", True),
        ("%c", "abc", True),
        ("%b%", "abc", True),
        ("a%c", "ac", True),
        ("a%b%c", "abc", True),
        ("a%b%c", "acb", False),
        ("a_c", "abc", True),
        ("a_c", "ac", False),
        ("___", "h\u00e9l", True),  # _ is one character, not one byte
        ("h_llo", "h\u00e9llo", True),
        ("%", "", True),
        ("_%", "", False),
        ("", "", True),
        ("%a%a%", "aa", True),
        ("%a%a%", "a", False),
        ("a%a", "a", False),  # prefix and suffix may not overlap
        ("%.%", "x.y", True),  # regex characters are literal
        ("a.c", "abc", False),
        ("(%)", "(x)", True),
        ("line%", "line\nbreak", True),
    ],
)
def test_like(pattern, value, expected):
    assert matches(f"v LIKE '{pattern}'", v=value) is expected
    assert matches(f"v NOT LIKE '{pattern}'", v=value) is (not expected)


def test_like_escape():
    assert matches(r"v LIKE '100\%' ESCAPE '\'", v="100%")
    assert not matches(r"v LIKE '100\%' ESCAPE '\'", v="1000")
    assert matches(r"v LIKE 'a\_b' ESCAPE '\'", v="a_b")
    assert not matches(r"v LIKE 'a\_b' ESCAPE '\'", v="axb")
    assert matches(r"v LIKE 'a\\%' ESCAPE '\'", v="a\\bc")
    assert matches("v LIKE 'a!%%' ESCAPE '!'", v="a%bc")
    assert matches("v LIKE 'it''s%'", v="it's here")


# -- lifting equality into the index ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "key", "exact"),
    [
        ("region = 'eu'", (b"region", b"eu"), True),
        ("'eu' = region", (b"region", b"eu"), True),
        ("region = 'eu' AND price > 5", (b"region", b"eu"), False),
        ("price > 5 AND region = 'eu' AND kind = 'x'", (b"region", b"eu"), False),  # the first equality
        ('"x-region" = \'eu\'', (b"x-region", b"eu"), True),
        ("JMSType = 'car'", (b"type", b"car"), True),
        ("region = 5", None, False),  # numeric: '5', '5.0' and '05' all match
        ("region = 'eu' OR region = 'us'", None, False),
        ("NOT region = 'eu'", None, False),
        ("region <> 'eu'", None, False),
        ("region IN ('eu')", None, False),
        ("(region = 'eu' AND a = 1) OR b = 2", None, False),
    ],
)
def test_top_level_equality_becomes_the_index_key(selector, key, exact):
    compiled = compile_selector(selector)
    assert compiled.index_key == key
    assert compiled.exact is exact


def test_a_lifted_filter_is_right_on_any_message():
    compiled = compile_selector("price > 5 AND region = 'eu'")
    assert compiled({b"region": b"eu", b"price": b"6"})
    assert not compiled({b"region": b"us", b"price": b"6"})  # not a candidate: still answered right
    assert not compiled({b"price": b"6"})
    assert not compiled({b"region": b"eu", b"price": b"5"})
