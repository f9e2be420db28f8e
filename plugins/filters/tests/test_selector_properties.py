"""Property tests: compiled closures against the slow reference interpreter, on random trees and headers.

Hypothesis builds well-typed selector trees (numbers, strings, booleans, headers, every
operator), renders them to text, and checks that

* the text parses back to the same tree;
* the compiled condition gives the reference interpreter's three-valued answer for random
  headers, and the filter selects exactly when that answer is TRUE;
* a lifted ``index_key`` is only ever a promise the filter keeps;
* the linear LIKE matcher and the number rule agree with their slow references.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from selector_reference import like, parse_number, render, truth

from xtomp_filters.selector import compile_selector, parse
from xtomp_filters.selector.compiler import compile_tree
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
from xtomp_filters.selector.values import like_matcher, to_number

# Enough examples to find a disagreement in any operator (mutations of the compiler are caught in
# well under 100); kept modest because generating trees, not checking them, is what costs time.
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(SETTINGS, max_examples=60)

NAMES = [
    Name(b"a", "a"),
    Name(b"b", "b"),
    Name(b"x-y", "x-y"),  # needs quoting
    Name(b"and", "and"),  # a keyword: needs quoting
    Name(b"type", "JMSType"),  # a JMS name mapped to a STOMP header
    Name(b"JMSType", "JMSType"),  # the same text quoted: no mapping
]
VALUES = [
    b"1", b"2", b"10", b"-3", b"0", b"1.5", b"1e2", b"007", b".5", b"5.", b"+4", b" 1", b"0x1F",
    b"9223372036854775807", b"9223372036854775808", b"abc", b"", b"true", b"FALSE", b"a%b", b"a_b",
    "h\u00e9llo".encode(), b"\xff", b"b", b"ab", b"aab",
]
STRINGS = [b"", b"abc", b"a", b"b", b"1", b"10", b"true", b"it's", "h\u00e9llo".encode()]
COMPARISONS = ["=", "<>", "<", "<=", ">", ">="]

names = st.sampled_from(NAMES)
numbers = st.one_of(
    st.integers(-5, 12),
    st.sampled_from([2**62, -(2**63), 9223372036854775807]),
    st.sampled_from([0.5, -1.5, 2.0, 1e20, 0.1]),
).map(lambda value: Literal(NUMBER, value))
text_literals = st.sampled_from(STRINGS).map(lambda value: Literal(STRING, value))
booleans = st.booleans().map(lambda value: Literal(BOOLEAN, value))


def _arith(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.sampled_from([("+", "-"), ("*", "/")]).flatmap(
        lambda ops: st.builds(
            lambda first, rest: Arith(first, tuple(rest)),
            children,
            st.lists(st.tuples(st.sampled_from(ops), children), min_size=1, max_size=3),
        )
    )


numeric = st.recursive(
    st.one_of(numbers, names),
    lambda children: st.one_of(
        _arith(children), st.builds(Sign, st.sampled_from(["-", "+"]), children)
    ),
    max_leaves=5,
)
textual = st.one_of(text_literals, names)


@st.composite
def like_nodes(draw: st.DrawFn) -> Like:
    escape = draw(st.sampled_from([None, "\\", "!", "a"]))
    pieces = ["a", "b", "\u00e9", "%", "_"]
    if escape is not None:
        pieces = [piece for piece in pieces if piece != escape] + [escape + "%", escape + "_", escape + escape]
    pattern = "".join(draw(st.lists(st.sampled_from(pieces), max_size=6)))
    return Like(draw(textual), pattern, escape, draw(st.booleans()))


def _in_list(operand: st.SearchStrategy, items: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(
        lambda left, members, negated: InList(left, tuple(members), negated),
        operand,
        st.lists(items, min_size=1, max_size=4),
        st.booleans(),
    )


condition_leaves = st.one_of(
    st.builds(Compare, st.sampled_from(COMPARISONS), numeric, numeric),
    st.builds(Compare, st.sampled_from(COMPARISONS), textual, textual),
    st.builds(Between, numeric, numeric, numeric, st.booleans()),
    st.builds(Between, textual, textual, textual, st.booleans()),
    _in_list(textual, text_literals),
    _in_list(st.one_of(names, numeric), numbers),
    _in_list(names, booleans),
    like_nodes(),
    st.builds(IsNull, st.one_of(names, numeric), st.booleans()),
    names,
    booleans,
    st.builds(Compare, st.sampled_from(["=", "<>"]), names, booleans),
)

conditions = st.recursive(
    condition_leaves,
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
        st.builds(Compare, st.sampled_from(["=", "<>"]), children, st.one_of(children, booleans, names)),
    ),
    max_leaves=8,
)

headers = st.dictionaries(st.sampled_from(sorted({name.header for name in NAMES})), st.sampled_from(VALUES))


@SETTINGS
@given(conditions)
def test_rendered_text_parses_back_to_the_tree(tree):
    assert parse(render(tree), max_depth=64) == tree


@SETTINGS
@given(conditions, st.lists(headers, min_size=1, max_size=5))
def test_compiled_closures_agree_with_the_reference(tree, messages):
    compiled = compile_tree(tree)
    for message in messages:
        expected = truth(tree, message)
        assert compiled.three_valued(message) is expected, (render(tree), message)
        assert compiled(message) is (expected is True)
        if compiled.index_key is not None and compiled(message):
            header, value = compiled.index_key
            assert message.get(header) == value
        if compiled.exact:
            assert compiled(message) is (message.get(compiled.index_key[0]) == compiled.index_key[1])


@SETTINGS
@given(conditions, headers)
def test_selector_text_compiles_to_the_same_answers(tree, message):
    assert compile_selector(render(tree), max_depth=64)(message) is (truth(tree, message) is True)


@st.composite
def equality_conjunctions(draw: st.DrawFn) -> And:
    key = Compare("=", draw(names), draw(text_literals))
    if draw(st.booleans()):
        key = Compare("=", key.right, key.left)
    others = draw(st.lists(conditions, min_size=1, max_size=2))
    items = others[:]
    items.insert(draw(st.integers(0, len(others))), key)
    return And(tuple(items))


@QUICK
@given(equality_conjunctions(), st.lists(headers, min_size=1, max_size=5))
def test_top_level_equality_is_lifted_and_the_filter_stays_right(tree, messages):
    compiled = compile_tree(tree)
    assert compiled.index_key is not None and not compiled.exact
    for message in messages:
        assert compiled(message) is (truth(tree, message) is True)


@SETTINGS
@given(
    st.text(alphabet="ab\u00e9%_!", max_size=8),
    st.sampled_from([None, "!"]),
    st.lists(st.sampled_from(["a", "b", "\u00e9", "%", "_", "!"]), max_size=10).map("".join),
)
def test_like_matcher_agrees_with_dynamic_programming(pattern, escape, text):
    if escape is not None:  # make the pattern valid: the escape only before % _ or itself
        assume(all(pattern[i + 1 : i + 2] in ("%", "_", "!") for i, c in enumerate(pattern) if c == "!"))
        assume(not pattern.endswith("!") or pattern.endswith("!!"))
        try:
            matcher = like_matcher(pattern, escape)
        except ValueError:
            assume(False)
            return
    else:
        matcher = like_matcher(pattern, None)
    assert matcher(text.encode()) is like(text, pattern, escape)


@SETTINGS
@given(st.text(alphabet=string.digits[:4] + "+-.eE x", max_size=12))
def test_number_rule_agrees_with_the_hand_written_scanner(text):
    raw = text.encode()
    assert to_number(raw) == parse_number(raw)
    assert type(to_number(raw)) is type(parse_number(raw))


@SETTINGS
@given(st.integers(-(10**25), 10**25))
def test_integers_keep_their_exact_value_inside_64_bits(value):
    number = to_number(str(value).encode())
    assert number == (value if -(2**63) <= value < 2**63 else float(value))


small = st.integers(-2, 3)


@SETTINGS
@given(
    st.sampled_from(COMPARISONS + ["BETWEEN", "NOT BETWEEN"]),
    small,
    small,
    st.sampled_from([b"-2", b"-1", b"0", b"1", b"2.0", b"3", b"x"]),
    st.booleans(),
)
def test_boundaries_of_comparisons_with_constants(op, low, high, raw, on_the_right):
    """Values on and next to the constants, where an off-by-one in a fast path would show."""
    if "BETWEEN" in op:
        selector = f"p {op} {low} AND {high}"
    else:
        selector = f"{low} {op} p" if on_the_right else f"p {op} {low}"
    tree = parse(selector)
    message = {b"p": raw}
    assert compile_tree(tree).three_valued(message) is truth(tree, message)
    assert compile_selector(selector)(message) is (truth(tree, message) is True)
