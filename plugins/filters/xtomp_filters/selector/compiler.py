"""Syntax tree to closures: type-checked once per SUBSCRIBE, then called per message.

Theory of operation
-------------------
Every node becomes a plain Python closure over the message headers (a mapping of bytes to
bytes); nothing is parsed, looked up by name or dispatched on node type per message.
Conditions return True, False or None (SQL's UNKNOWN); values return bytes, a number, a
boolean, or None (SQL's NULL: a missing header, a header that is not a number where a
number is needed, a division by zero).

Types are decided here, statically, from the literals a selector compares with, because
header values are always strings on the wire:

* a header compared with a **number** (or used in arithmetic) is read as a number; a value
  that is not a number gives UNKNOWN;
* a header compared with a **string** is compared as bytes (UTF-8), exactly;
* a header compared with **TRUE/FALSE** is read as a boolean (``true``/``false``, any case);
* two headers compare as numbers when both values are numbers, else as strings;
* comparing a number with a string (or a boolean with either) is a compile error.

So ``price > 10`` is numeric, ``code = '007'`` is textual, and ``NOT (price > 10)`` does
not select ``price:n/a`` (UNKNOWN, like a missing header). The top-level equality
conjuncts (``region = 'eu' AND ...``) become the filter's ``index_key``, so destinations
find the candidate subscriptions with a dict lookup instead of calling every selector.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from .errors import SelectorError
from .nodes import (
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
    Node,
    Not,
    Or,
    Sign,
)
from .values import ARITHMETIC, like_matcher, neg, to_bool, to_number

__all__ = ["SelectorFilter", "compile_tree", "equality_key"]

Headers = Mapping[bytes, bytes]
Getter = Callable[[Headers], Any]
Condition = Callable[[Headers], "bool | None"]

# Static kinds of values.
NUM = "number"
STR = "string"
BOOL = "boolean"
HDR = "header"
_KIND_OF_LITERAL = {NUMBER: NUM, STRING: STR, BOOLEAN: BOOL}
_DESCRIBE = {NUM: "a number", STR: "a string", BOOL: "a condition", HDR: "a header"}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NO_CONSTANT = object()


class SelectorFilter(Protocol):
    """A compiled selector, the core's Filter protocol: ``__call__(headers) -> bool``, ``index_key``, ``exact``.

    It is the top-level closure itself with these attributes set, so that a call costs one
    Python call and nothing more (a wrapper object's ``__call__`` doubled the cost of cheap
    selectors). It evaluates the whole selector, the indexed equality first, so it answers
    right on any message, not only on the candidates the index picked. ``three_valued`` is
    the same selector answering True, False or None (UNKNOWN), for tests and tools.
    """

    index_key: tuple[bytes, bytes] | None
    exact: bool
    text: str
    three_valued: Condition

    def __call__(self, headers: Headers) -> bool: ...


class _Value:
    """A compiled value: its static kind, getter, the constant (literals) and header name (names)."""

    __slots__ = ("kind", "get", "constant", "header")

    def __init__(self, kind: str, get: Getter, constant: object = _NO_CONSTANT, header: bytes | None = None) -> None:
        self.kind = kind
        self.get = get
        self.constant = constant
        self.header = header


def equality_key(node: Node) -> tuple[bytes, bytes] | None:
    """``(header, value)`` when ``node`` is ``name = 'string'`` (either way round)."""
    if isinstance(node, Compare) and node.op == "=":
        left, right = node.left, node.right
        if isinstance(right, Name):
            left, right = right, left
        if isinstance(left, Name) and isinstance(right, Literal) and right.kind == STRING:
            assert isinstance(right.value, bytes)
            return left.header, right.value
    return None


def compile_tree(tree: Node, text: str = "") -> SelectorFilter:
    """Type-check ``tree`` and build its filter; raise :class:`SelectorError` naming the position."""
    items: list[Node] = list(tree.items) if isinstance(tree, And) else [tree]
    index_key = None
    for position, item in enumerate(items):
        index_key = equality_key(item)
        if index_key is not None:
            items.insert(0, items.pop(position))  # the cheap, decisive test first
            break
    node: Node = And(tuple(items), tree.pos) if len(items) > 1 else items[0]
    selector = cast(SelectorFilter, _truth(node))  # a closure made for this selector alone
    selector.index_key = index_key
    selector.exact = index_key is not None and len(items) == 1
    selector.text = text
    selector.three_valued = _condition(node)
    setattr(selector, "__qualname__", f"selector {text!r}")  # readable in logs and reprs
    return selector


# -- "is it TRUE?": the top level, where UNKNOWN and FALSE both mean "not selected" ------------


def _truth(node: Node) -> Callable[[Headers], bool]:
    """``node`` as a closure returning True exactly when the condition is TRUE.

    Valid where only TRUE matters: the top level and, through AND and OR, their operands
    (AND is TRUE when all are, OR when one is); under NOT the three values are needed, so
    NOT and everything without a cheaper form fall back to the three-valued closure.
    """
    if isinstance(node, And):
        items = [_truth(item) for item in node.items]
        if len(items) == 2:
            first, second = items
            return lambda headers: first(headers) and second(headers)

        def every(headers: Headers) -> bool:
            for item in items:
                if not item(headers):
                    return False
            return True

        return every
    if isinstance(node, Or):
        items = [_truth(item) for item in node.items]
        if len(items) == 2:
            first, second = items
            return lambda headers: first(headers) or second(headers)

        def some(headers: Headers) -> bool:
            for item in items:
                if item(headers):
                    return True
            return False

        return some
    if isinstance(node, Not):
        operand = _condition(node.operand)
        return lambda headers: operand(headers) is False
    if isinstance(node, Compare) and node.op in ("=", "<>"):
        key = equality_key(Compare("=", node.left, node.right))
        if key is not None:
            header, constant = key
            if node.op == "=":
                return lambda headers: headers.get(header) == constant
            return lambda headers: (raw := headers.get(header)) is not None and raw != constant
    if isinstance(node, Like) and isinstance(node.operand, Name):
        header = node.operand.header
        matches = _like_matcher(node)
        if node.negated:
            return lambda headers: (raw := headers.get(header)) is not None and not matches(raw)
        return lambda headers: (raw := headers.get(header)) is not None and matches(raw)
    three = _condition(node)
    return lambda headers: three(headers) is True


# -- conditions ------------------------------------------------------------------------------


def _condition(node: Node) -> Condition:
    if isinstance(node, And):
        return _all([_condition(item) for item in node.items])
    if isinstance(node, Or):
        return _any([_condition(item) for item in node.items])
    if isinstance(node, Not):
        return _negate(_condition(node.operand))
    if isinstance(node, Compare):
        return _compare(node.op, node.left, node.right, node.pos)
    if isinstance(node, Between):
        fast = _between_header_and_constants(node)
        if fast is not None:
            return fast
        within = _all([_compare(">=", node.operand, node.low, node.pos), _compare("<=", node.operand, node.high, node.pos)])
        return _negate(within) if node.negated else within
    if isinstance(node, InList):
        return _in_list(node)
    if isinstance(node, Like):
        return _like(node)
    if isinstance(node, IsNull):
        get = _value(node.operand).get
        if node.negated:
            return lambda headers: get(headers) is not None
        return lambda headers: get(headers) is None
    if isinstance(node, Name):
        return _boolean_getter(_value(node), node.pos)
    if isinstance(node, Literal) and node.kind == BOOLEAN:
        constant = bool(node.value)
        return lambda headers: constant
    kind = _value(node).kind
    raise SelectorError(f"expected a condition, found {_DESCRIBE[kind]}", node.pos)


def _all(conditions: list[Condition]) -> Condition:
    """SQL AND: FALSE if any is FALSE, else UNKNOWN if any is UNKNOWN, else TRUE."""
    if len(conditions) == 2:
        first, second = conditions

        def both(headers: Headers) -> bool | None:
            a = first(headers)
            if a is False:
                return False
            b = second(headers)
            if b is False:
                return False
            return True if a is True and b is True else None

        return both

    def every(headers: Headers) -> bool | None:
        result: bool | None = True
        for condition in conditions:
            value = condition(headers)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    return every


def _any(conditions: list[Condition]) -> Condition:
    """SQL OR: TRUE if any is TRUE, else UNKNOWN if any is UNKNOWN, else FALSE."""
    if len(conditions) == 2:
        first, second = conditions

        def either(headers: Headers) -> bool | None:
            a = first(headers)
            if a is True:
                return True
            b = second(headers)
            if b is True:
                return True
            return False if a is False and b is False else None

        return either

    def some(headers: Headers) -> bool | None:
        result: bool | None = False
        for condition in conditions:
            value = condition(headers)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    return some


def _negate(condition: Condition) -> Condition:
    def negated(headers: Headers) -> bool | None:
        value = condition(headers)
        return None if value is None else not value

    return negated


# -- values ----------------------------------------------------------------------------------


def _value(node: Node) -> _Value:
    if isinstance(node, Literal):
        constant = node.value
        return _Value(_KIND_OF_LITERAL[node.kind], lambda headers: constant, constant)
    if isinstance(node, Name):
        header = node.header

        def get(headers: Headers) -> bytes | None:
            return headers.get(header)

        return _Value(HDR, get, header=header)
    if isinstance(node, Arith):
        return _Value(NUM, _arithmetic(node))
    if isinstance(node, Sign):
        operand = _number_getter(_value(node.operand), node.pos, f"unary {node.op}")
        if node.op == "+":
            return _Value(NUM, operand)

        def negative(headers: Headers) -> Any:
            number = operand(headers)
            return None if number is None else neg(number)

        return _Value(NUM, negative)
    return _Value(BOOL, _condition(node))


def _arithmetic(node: Arith) -> Getter:
    first = _number_getter(_value(node.first), node.pos, "arithmetic")
    rest = [(ARITHMETIC[op], _number_getter(_value(operand), node.pos, "arithmetic")) for op, operand in node.rest]

    def compute(headers: Headers) -> Any:
        result = first(headers)
        if result is None:
            return None
        for apply, get in rest:
            other = get(headers)
            if other is None:
                return None
            result = apply(result, other)
            if result is None:
                return None
        return result

    return compute


def _number_getter(value: _Value, pos: int, what: str) -> Getter:
    if value.kind == NUM:
        return value.get
    if value.kind == HDR:
        header = value.header
        if header is not None:

            def number(headers: Headers) -> Any:
                raw = headers.get(header)
                return None if raw is None else to_number(raw)

            return number
    raise SelectorError(f"{what} needs numbers, found {_DESCRIBE[value.kind]}", pos)


def _boolean_getter(value: _Value, pos: int) -> Condition:
    if value.kind == BOOL:
        return value.get
    if value.kind == HDR and value.header is not None:
        header = value.header

        def boolean(headers: Headers) -> bool | None:
            raw = headers.get(header)
            return None if raw is None else to_bool(raw)

        return boolean
    raise SelectorError(f"expected a condition, found {_DESCRIBE[value.kind]}", pos)


def _mode(left: str, right: str) -> str | None:
    """How two kinds compare: NUM, STR, BOOL, HDR (two headers) or None (they cannot)."""
    if left == HDR and right == HDR:
        return HDR
    kinds = {left, right} - {HDR}
    return kinds.pop() if len(kinds) == 1 else None


def _typed(left: _Value, right: _Value, op: str, pos: int) -> str:
    mode = _mode(left.kind, right.kind)
    if mode is None:
        raise SelectorError(f"cannot compare {_DESCRIBE[left.kind]} with {_DESCRIBE[right.kind]}", pos)
    if mode == BOOL and op not in ("=", "<>"):
        raise SelectorError(f"conditions and TRUE/FALSE compare only with = and <>, not {op}", pos)
    return mode


def _compare(op: str, left_node: Node, right_node: Node, pos: int) -> Condition:
    left, right = _value(left_node), _value(right_node)
    mode = _typed(left, right, op, pos)
    if left.constant is not _NO_CONSTANT and right.header is not None:
        left, right, op = right, left, _FLIPPED[op]
    if left.header is not None and right.constant is not _NO_CONSTANT:
        return _compare_header_with_constant(op, left.header, right.constant, mode)
    compare = _COMPARE[op]
    if mode == STR:
        first, second = left.get, right.get
    elif mode == NUM:
        first, second = _number_getter(left, pos, "comparison"), _number_getter(right, pos, "comparison")
    elif mode == BOOL:
        first, second = _boolean_getter(left, pos), _boolean_getter(right, pos)
    else:  # two headers: as numbers when both are numbers, else as strings
        get_left, get_right = left.get, right.get

        def headers_compared(headers: Headers) -> bool | None:
            a = get_left(headers)
            if a is None:
                return None
            b = get_right(headers)
            if b is None:
                return None
            x = to_number(a)
            if x is not None:
                y = to_number(b)
                if y is not None:
                    return compare(x, y)
            return compare(a, b)

        return headers_compared

    def compared(headers: Headers) -> bool | None:
        a = first(headers)
        if a is None:
            return None
        b = second(headers)
        if b is None:
            return None
        return compare(a, b)

    return compared


def _compare_header_with_constant(op: str, header: bytes, constant: Any, mode: str) -> Condition:
    """The common case, ``name OP literal``, as one closure with no inner calls."""
    if mode == STR:
        if op == "=":
            return lambda headers: None if (raw := headers.get(header)) is None else raw == constant
        if op == "<>":
            return lambda headers: None if (raw := headers.get(header)) is None else raw != constant
        compare = _COMPARE[op]
        return lambda headers: None if (raw := headers.get(header)) is None else compare(raw, constant)
    compare = _COMPARE[op]
    if mode == NUM:

        def numeric(headers: Headers) -> bool | None:
            raw = headers.get(header)
            if raw is None:
                return None
            number = to_number(raw)
            return None if number is None else compare(number, constant)

        return numeric

    def boolean(headers: Headers) -> bool | None:
        raw = headers.get(header)
        if raw is None:
            return None
        value = to_bool(raw)
        return None if value is None else compare(value, constant)

    return boolean


def _between_header_and_constants(node: Between) -> Condition | None:
    """``name BETWEEN constant AND constant``: the header read and converted once, not twice."""
    operand, low, high = _value(node.operand), _value(node.low), _value(node.high)
    header = operand.header
    if header is None or low.constant is _NO_CONSTANT or high.constant is _NO_CONSTANT:
        return None
    mode = _typed(operand, low, ">=", node.pos)
    if _typed(operand, high, "<=", node.pos) != mode or mode not in (NUM, STR):
        return None
    lowest: Any = low.constant
    highest: Any = high.constant
    negated = node.negated
    if mode == STR:
        return lambda headers: None if (raw := headers.get(header)) is None else (lowest <= raw <= highest) is not negated

    def between(headers: Headers) -> bool | None:
        raw = headers.get(header)
        if raw is None:
            return None
        number = to_number(raw)
        if number is None:
            return None
        return (lowest <= number <= highest) is not negated

    return between


def _in_list(node: InList) -> Condition:
    kinds = {item.kind for item in node.items}
    if len(kinds) != 1:
        raise SelectorError("an IN list holds literals of one type: all strings, all numbers or all booleans", node.pos)
    operand = _value(node.operand)
    item_kind = _KIND_OF_LITERAL[kinds.pop()]
    mode = _mode(operand.kind, item_kind)
    if mode is None:
        raise SelectorError(f"cannot compare {_DESCRIBE[operand.kind]} with an IN list of {item_kind}s", node.pos)
    members = frozenset(item.value for item in node.items)
    if mode == STR:
        get = operand.get
    elif mode == NUM:
        get = _number_getter(operand, node.pos, "IN")
    else:
        get = _boolean_getter(operand, node.pos)
    if node.negated:
        return lambda headers: None if (value := get(headers)) is None else value not in members
    return lambda headers: None if (value := get(headers)) is None else value in members


def _like_matcher(node: Like) -> Callable[[bytes], bool]:
    try:
        return like_matcher(node.pattern, node.escape)
    except SelectorError as error:
        raise SelectorError(error.reason, node.pos) from None


def _like(node: Like) -> Condition:
    operand = _value(node.operand)
    if operand.kind not in (STR, HDR):
        raise SelectorError(f"LIKE needs a string, found {_DESCRIBE[operand.kind]}", node.pos)
    matches = _like_matcher(node)
    get = operand.get
    if node.negated:
        return lambda headers: None if (value := get(headers)) is None else not matches(value)
    return lambda headers: None if (value := get(headers)) is None else matches(value)
