"""A slow reference interpreter for selector trees, and a renderer from tree back to text.

Written independently of :mod:`xtomp_filters.selector.compiler` and ``values``: it walks the
tree per message, decides types at run time from node classes, parses numbers with a
hand-written scanner, does integer division with floor arithmetic and LIKE with a dynamic
programming table. The property test checks that the compiled closures agree with it on
random well-typed selectors and random headers.
"""

from __future__ import annotations

from typing import Any

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
from xtomp_filters.selector.parser import JMS_HEADERS, KEYWORDS

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DIGITS = "0123456789"

# -- numbers and booleans ----------------------------------------------------------------------


def parse_number(raw: bytes) -> Any:
    """Scan ``[+-]? (D+ [. D*] | . D+) ([eE] [+-]? D+)?`` by hand; None when not a number."""
    text = raw.decode("latin-1")
    i, n = 0, len(text)
    if i < n and text[i] in "+-":
        i += 1
    whole = 0
    while i < n and text[i] in DIGITS:
        i += 1
        whole += 1
    fraction = 0
    dotted = False
    if i < n and text[i] == ".":
        dotted = True
        i += 1
        while i < n and text[i] in DIGITS:
            i += 1
            fraction += 1
    if whole == 0 and fraction == 0:
        return None
    exponent = False
    if i < n and text[i] in "eE":
        exponent = True
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        digits = 0
        while i < n and text[i] in DIGITS:
            i += 1
            digits += 1
        if digits == 0:
            return None
    if i != n:
        return None
    if dotted or exponent:
        return float(text)
    value = int(text)
    return value if LONG_MIN <= value <= LONG_MAX else float(text)


def parse_bool(raw: bytes) -> Any:
    lowered = raw.lower()
    if lowered == b"true":
        return True
    if lowered == b"false":
        return False
    return None


def settle(number: Any) -> Any:
    """Java-like results: ints beyond 64 bits become doubles; NaN is no value."""
    if isinstance(number, int):
        return number if LONG_MIN <= number <= LONG_MAX else float(number)
    if number != number:
        return None
    return number


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        return settle(a + b)
    if op == "-":
        return settle(a - b)
    if op == "*":
        return settle(a * b)
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        quotient = a // b
        if quotient < 0 and quotient * b != a:
            quotient += 1  # floor toward zero, as Java truncates
        return settle(quotient)
    return settle(a / b)


# -- values and conditions -----------------------------------------------------------------------


def value(node: Any, headers: dict[bytes, bytes]) -> tuple[str, Any]:
    """(kind, value) with kind in num/str/bool/hdr and value None for NULL."""
    if isinstance(node, Literal):
        return {NUMBER: "num", STRING: "str", BOOLEAN: "bool"}[node.kind], node.value
    if isinstance(node, Name):
        return "hdr", headers.get(node.header)
    if isinstance(node, Arith):
        result = number(value(node.first, headers))
        for op, operand in node.rest:
            other = number(value(operand, headers))
            if result is None or other is None:
                result = None
            else:
                result = arithmetic(op, result, other)
        return "num", result
    if isinstance(node, Sign):
        operand = number(value(node.operand, headers))
        if operand is None:
            return "num", None
        return "num", settle(-operand) if node.op == "-" else operand
    return "bool", truth(node, headers)


def number(kind_value: tuple[str, Any]) -> Any:
    kind, raw = kind_value
    if raw is None:
        return None
    if kind == "num":
        return raw
    assert kind == "hdr", kind_value
    return parse_number(raw)


def boolean(kind_value: tuple[str, Any]) -> Any:
    kind, raw = kind_value
    if raw is None:
        return None
    if kind == "bool":
        return raw
    assert kind == "hdr", kind_value
    return parse_bool(raw)


def order(op: str, a: Any, b: Any) -> bool:
    return {
        "=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
    }[op]


def compare(op: str, left: tuple[str, Any], right: tuple[str, Any]) -> Any:
    if left[1] is None or right[1] is None:
        return None
    kinds = {left[0], right[0]}
    if kinds == {"hdr"}:
        x, y = parse_number(left[1]), parse_number(right[1])
        if x is not None and y is not None:
            return order(op, x, y)
        return order(op, left[1], right[1])
    kinds.discard("hdr")
    (kind,) = kinds
    if kind == "num":
        x, y = number(left), number(right)
    elif kind == "bool":
        x, y = boolean(left), boolean(right)
    else:
        x, y = left[1], right[1]
    if x is None or y is None:
        return None
    return order(op, x, y)


def and3(results: list[Any]) -> Any:
    if any(result is False for result in results):
        return False
    if any(result is None for result in results):
        return None
    return True


def or3(results: list[Any]) -> Any:
    if any(result is True for result in results):
        return True
    if any(result is None for result in results):
        return None
    return False


def not3(result: Any) -> Any:
    return None if result is None else not result


def like(text: str, pattern: str, escape: str | None) -> bool:
    tokens: list[tuple[str, str]] = []  # ("lit", c) | ("one", "") | ("many", "")
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape is not None and char == escape:
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        tokens.append(("many", "") if char == "%" else ("one", "") if char == "_" else ("lit", char))
        i += 1
    # table[j]: the first i characters of text match the first j tokens
    table = [False] * (len(tokens) + 1)
    table[0] = True
    for j, (kind, _) in enumerate(tokens, 1):
        table[j] = table[j - 1] and kind == "many"
    for char in text:
        row = [False] * (len(tokens) + 1)
        for j, (kind, literal) in enumerate(tokens, 1):
            if kind == "many":
                row[j] = row[j - 1] or table[j]
            elif kind == "one":
                row[j] = table[j - 1]
            else:
                row[j] = table[j - 1] and char == literal
        table = row
    return table[-1]


def truth(node: Any, headers: dict[bytes, bytes]) -> Any:
    """The selector's three-valued result: True, False or None (UNKNOWN)."""
    if isinstance(node, And):
        return and3([truth(item, headers) for item in node.items])
    if isinstance(node, Or):
        return or3([truth(item, headers) for item in node.items])
    if isinstance(node, Not):
        return not3(truth(node.operand, headers))
    if isinstance(node, Compare):
        return compare(node.op, value(node.left, headers), value(node.right, headers))
    if isinstance(node, Between):
        operand = value(node.operand, headers)
        result = and3([compare(">=", operand, value(node.low, headers)), compare("<=", operand, value(node.high, headers))])
        return not3(result) if node.negated else result
    if isinstance(node, InList):
        operand = value(node.operand, headers)
        result = or3([compare("=", operand, value(item, headers)) for item in node.items])
        return not3(result) if node.negated else result
    if isinstance(node, Like):
        kind, raw = value(node.operand, headers)
        if raw is None:
            return None
        result = like(raw.decode("utf-8", "surrogateescape"), node.pattern, node.escape)
        return not result if node.negated else result
    if isinstance(node, IsNull):
        missing = value(node.operand, headers)[1] is None
        return not missing if node.negated else missing
    if isinstance(node, Name):
        return boolean(value(node, headers))
    if isinstance(node, Literal):
        assert node.kind == BOOLEAN
        return node.value
    raise AssertionError(f"not a condition: {node!r}")


# -- rendering -----------------------------------------------------------------------------------

def render_name(name: Name) -> str:
    text = name.text
    plain = (
        text
        and (text[0].isalpha() or text[0] in "_$")
        and all(c.isalnum() or c in "_$" for c in text)
        and text.isascii()
        and text.upper() not in KEYWORDS
    )
    if plain and JMS_HEADERS.get(text, text.encode()) == name.header:
        return text
    return '"' + text.replace('"', '""') + '"'


def render(node: Any) -> str:
    """Selector text for a tree; every compound operand is parenthesized, so parse(render(t)) == t."""
    if isinstance(node, Literal):
        if node.kind == STRING:
            return "'" + node.value.decode().replace("'", "''") + "'"
        if node.kind == BOOLEAN:
            return "TRUE" if node.value else "FALSE"
        return repr(node.value)
    if isinstance(node, Name):
        return render_name(node)
    wrap = lambda child: render(child) if isinstance(child, (Literal, Name)) else f"({render(child)})"  # noqa: E731
    if isinstance(node, Arith):
        return wrap(node.first) + "".join(f" {op} {wrap(operand)}" for op, operand in node.rest)
    if isinstance(node, Sign):
        return f"{node.op}({render(node.operand)})"
    if isinstance(node, Compare):
        return f"{wrap(node.left)} {node.op} {wrap(node.right)}"
    if isinstance(node, Between):
        negation = "NOT " if node.negated else ""
        return f"{wrap(node.operand)} {negation}BETWEEN {wrap(node.low)} AND {wrap(node.high)}"
    if isinstance(node, InList):
        negation = "NOT " if node.negated else ""
        return f"{wrap(node.operand)} {negation}IN ({', '.join(render(item) for item in node.items)})"
    if isinstance(node, Like):
        negation = "NOT " if node.negated else ""
        escape = "" if node.escape is None else " ESCAPE '" + node.escape.replace("'", "''") + "'"
        return f"{wrap(node.operand)} {negation}LIKE '{node.pattern.replace(chr(39), chr(39) * 2)}'{escape}"
    if isinstance(node, IsNull):
        return f"{wrap(node.operand)} IS {'NOT ' if node.negated else ''}NULL"
    if isinstance(node, Not):
        return f"NOT {wrap(node.operand)}"
    if isinstance(node, And):
        return " AND ".join(wrap(item) for item in node.items)
    if isinstance(node, Or):
        return " OR ".join(wrap(item) for item in node.items)
    raise AssertionError(node)
