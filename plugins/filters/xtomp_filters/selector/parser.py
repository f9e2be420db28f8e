"""Selector text to syntax tree: a tokenizer and a depth-checked recursive-descent parser.

Theory of operation
-------------------
The grammar is the JMS 1.1 message selector grammar (a subset of SQL-92 conditional
expressions) as ActiveMQ and Artemis accept it, lowest precedence first::

    selector   := or EOF
    or         := and (OR and)*
    and        := not (AND not)*
    not        := NOT not | predicate
    predicate  := sum [ (= | <> | < | <= | > | >=) sum
                      | [NOT] BETWEEN sum AND sum
                      | [NOT] IN '(' literal (',' literal)* ')'
                      | [NOT] LIKE string [ESCAPE string]
                      | IS [NOT] NULL ]
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/') unary)*
    unary      := ('+' | '-') unary | primary
    primary    := literal | name | '(' or ')'

Keywords are case-insensitive; names are case-sensitive header names, either plain
identifiers (letters, digits, ``_``, ``$``; not starting with a digit) or double-quoted
(``"content-type"``, with ``""`` for a quote inside) for any other header name. The JMS
header names ActiveMQ users write (``JMSType``, ``JMSCorrelationID``...) map to the STOMP
headers ActiveMQ maps them to.

The tokenizer is one compiled regular expression applied from a moving offset (every
alternative is unambiguous, so a failed match cannot backtrack more than linearly);
quoted strings and names are scanned with ``str.find``. The parser recurses once per
precedence level, and each parenthesis, NOT or unary sign counts one level of nesting
against ``max_depth`` *before* recursing further: a selector cannot exhaust Python's
stack, and the tree it builds is no deeper than that bound either (chains such as
``a + b + c`` and ``p AND q AND r`` are flat lists, not nested pairs).
"""

from __future__ import annotations

import re
from typing import NoReturn

from ..names import header_name_problem
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

__all__ = ["parse", "tokenize", "JMS_HEADERS", "KEYWORDS", "LONG_MIN", "LONG_MAX"]

KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "LIKE", "ESCAPE", "IN", "IS", "NULL", "TRUE", "FALSE"})
COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

#: JMS header names in selectors, mapped as ActiveMQ's STOMP transport maps them.
JMS_HEADERS = {
    "JMSCorrelationID": b"correlation-id",
    "JMSType": b"type",
    "JMSPriority": b"priority",
    "JMSReplyTo": b"reply-to",
    "JMSExpiration": b"expires",
    "JMSTimestamp": b"timestamp",
    "JMSDestination": b"destination",
}
#: JMS names whose value a STOMP broker cannot give a selector.
_JMS_UNAVAILABLE = {
    "JMSMessageID": "the broker assigns message-id after filtering",
    "JMSRedelivered": "xtomp marks no redelivery on a SEND",
    "JMSDeliveryMode": "xtomp keeps every message in memory; test the persistent header by name instead",
}

# Token kinds.
END = "end"
WORD = "name"
QUOTED = "quoted name"
TEXT = "string"
NUM = "number"
KEYWORD = "keyword"
OP = "operator"

Token = tuple[str, object, int]  # (kind, value, 0-based position)

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<hex>0[xX][0-9a-fA-F]+)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>(?:[^\W\d]|\$)[\w$]*)"
    r"|(?P<op><>|<=|>=|!=|==|[=<>+\-*/(),])"
)


def _number(text: str, pos: int) -> int | float:
    if text[:2] in ("0x", "0X"):
        value = int(text, 16)
    elif "." in text or "e" in text or "E" in text:
        number = float(text)
        if number == float("inf"):
            raise SelectorError(f"the number {text} is too large", pos)
        return number
    else:
        if len(text) > 1 and text[0] == "0":
            raise SelectorError(
                f"{text} has a leading zero, which ActiveMQ reads as octal; write {text.lstrip('0') or '0'} "
                "(or a 0x hexadecimal number)",
                pos,
            )
        if len(text) > 19:
            raise SelectorError(f"the integer {text[:30]} is outside the 64-bit range; write it as a decimal", pos)
        value = int(text)
    if value > LONG_MAX + 1:  # LONG_MAX + 1 is allowed for -9223372036854775808
        raise SelectorError(f"the integer {text[:30]} is outside the 64-bit range; write it as a decimal", pos)
    return value


def _quoted(text: str, start: int, quote: str, what: str) -> tuple[str, int]:
    """The content of a quoted string or name starting at ``start``, and the offset after it."""
    parts = []
    index = start + 1
    while True:
        close = text.find(quote, index)
        if close < 0:
            raise SelectorError(f"unterminated {what}: no closing {quote}", start)
        parts.append(text[index:close])
        if text.startswith(quote, close + 1):  # a doubled quote stands for one
            parts.append(quote)
            index = close + 2
            continue
        return "".join(parts), close + 1


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an END token."""
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    match = _TOKEN.match
    while pos < length:
        char = text[pos]
        if char == "'":
            value, pos_after = _quoted(text, pos, "'", "string")
            tokens.append((TEXT, value, pos))
            pos = pos_after
            continue
        if char == '"':
            value, pos_after = _quoted(text, pos, '"', "quoted name")
            if not value:
                raise SelectorError('an empty quoted name ""', pos)
            tokens.append((QUOTED, value, pos))
            pos = pos_after
            continue
        found = match(text, pos)
        if found is None:
            raise SelectorError(f"unexpected character {char!r}", pos)
        kind = found.lastgroup
        word = found.group()
        if kind == "word":
            upper = word.upper()
            tokens.append((KEYWORD, upper, pos) if upper in KEYWORDS else (WORD, word, pos))
        elif kind == "number" or kind == "hex":
            tokens.append((NUM, _number(word, pos), pos))
        elif kind == "op":
            tokens.append((OP, word, pos))
        pos = found.end()
    tokens.append((END, None, length))
    return tokens


def _describe(token: Token) -> str:
    kind, value, _ = token
    if kind == END:
        return "the end of the selector"
    if kind == TEXT:
        shown = str(value)
        return "the string '" + (shown[:20] + "..." if len(shown) > 20 else shown) + "'"
    if kind == NUM:
        return f"the number {value}"
    if kind == KEYWORD:
        return str(value)
    if kind == OP:
        return f"'{value}'"
    shown = str(value)
    return f"the name {shown[:30]}"


class _Parser:
    __slots__ = ("tokens", "index", "depth", "max_depth")

    def __init__(self, tokens: list[Token], max_depth: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.max_depth = max_depth

    # -- token helpers ----------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token[0] != END:
            self.index += 1
        return token

    def at_keyword(self, word: str, offset: int = 0) -> bool:
        token = self.tokens[min(self.index + offset, len(self.tokens) - 1)]
        return token[0] == KEYWORD and token[1] == word

    def at_op(self, *ops: str) -> bool:
        token = self.tokens[self.index]
        return token[0] == OP and token[1] in ops

    def fail(self, expected: str, token: Token | None = None) -> NoReturn:
        token = token if token is not None else self.peek()
        found = _describe(token)
        hint = ""
        if token[0] == OP and token[1] == "!=":
            hint = " (write <> for 'not equal')"
        elif token[0] == OP and token[1] == "==":
            hint = " (write = for 'equal')"
        raise SelectorError(f"expected {expected}, found {found}{hint}", token[2])

    def expect_op(self, op: str, expected: str) -> Token:
        if not self.at_op(op):
            self.fail(expected)
        return self.take()

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise SelectorError(
                f"nested more than {self.max_depth} levels deep (each parenthesis, NOT or sign adds one; "
                "the limit is selector_max_depth)",
                pos,
            )

    # -- grammar ----------------------------------------------------------------------------

    def selector(self) -> Node:
        if self.peek()[0] == END:
            self.fail("a condition")
        node = self.disjunction()
        if self.peek()[0] != END:
            self.fail("an operator, AND, OR or the end of the selector")
        return node

    def disjunction(self) -> Node:
        first = self.conjunction()
        if not self.at_keyword("OR"):
            return first
        pos = self.peek()[2]
        items = [first]
        while self.at_keyword("OR"):
            self.take()
            items.append(self.conjunction())
        return Or(tuple(items), pos)

    def conjunction(self) -> Node:
        first = self.negation()
        if not self.at_keyword("AND"):
            return first
        pos = self.peek()[2]
        items = [first]
        while self.at_keyword("AND"):
            self.take()
            items.append(self.negation())
        return And(tuple(items), pos)

    def negation(self) -> Node:
        if self.at_keyword("NOT"):
            pos = self.take()[2]
            self.nest(pos)
            node = Not(self.negation(), pos)
            self.depth -= 1
            return node
        return self.predicate()

    def predicate(self) -> Node:
        left = self.sum()
        kind, value, pos = self.peek()
        if kind == OP and value in COMPARISONS:
            self.take()
            return Compare(str(value), left, self.sum(), pos)
        if kind == OP and value in ("!=", "=="):
            self.fail("a comparison operator")
        negated = False
        if self.at_keyword("NOT") and (
            self.at_keyword("BETWEEN", 1) or self.at_keyword("IN", 1) or self.at_keyword("LIKE", 1)
        ):
            self.take()
            negated = True
            pos = self.peek()[2]
        if self.at_keyword("BETWEEN"):
            self.take()
            low = self.sum()
            if not self.at_keyword("AND"):
                self.fail("AND between the bounds of BETWEEN")
            self.take()
            return Between(left, low, self.sum(), negated, pos)
        if self.at_keyword("IN"):
            self.take()
            self.expect_op("(", "'(' after IN")
            items = [self.literal()]
            while self.at_op(","):
                self.take()
                items.append(self.literal())
            self.expect_op(")", "',' or ')' in the IN list")
            return InList(left, tuple(items), negated, pos)
        if self.at_keyword("LIKE"):
            self.take()
            pattern = self.take()
            if pattern[0] != TEXT:
                self.fail("a quoted pattern after LIKE", pattern)
            escape = None
            if self.at_keyword("ESCAPE"):
                self.take()
                token = self.take()
                if token[0] != TEXT:
                    self.fail("a quoted escape character after ESCAPE", token)
                escape = str(token[1])
                if len(escape) != 1:
                    raise SelectorError(f"the ESCAPE character must be one character, not {len(escape)}", token[2])
            return Like(left, str(pattern[1]), escape, negated, pos)
        if self.at_keyword("IS"):
            self.take()
            is_not = False
            if self.at_keyword("NOT"):
                self.take()
                is_not = True
            if not self.at_keyword("NULL"):
                self.fail("NULL after IS" if not is_not else "NULL after IS NOT")
            self.take()
            return IsNull(left, is_not, pos)
        return left

    def sum(self) -> Node:
        first = self.product()
        if not self.at_op("+", "-"):
            return first
        pos = self.peek()[2]
        rest = []
        while self.at_op("+", "-"):
            op = str(self.take()[1])
            rest.append((op, self.product()))
        return Arith(first, tuple(rest), pos)

    def product(self) -> Node:
        first = self.unary()
        if not self.at_op("*", "/"):
            return first
        pos = self.peek()[2]
        rest = []
        while self.at_op("*", "/"):
            op = str(self.take()[1])
            rest.append((op, self.unary()))
        return Arith(first, tuple(rest), pos)

    def unary(self) -> Node:
        if self.at_op("+", "-"):
            op_token = self.take()
            sign = str(op_token[1])
            kind, value, _ = self.peek()
            if kind == NUM:
                self.take()
                assert isinstance(value, (int, float))
                return self._check_range(Literal(NUMBER, -value if sign == "-" else value, op_token[2]))
            self.nest(op_token[2])
            node = Sign(sign, self.unary(), op_token[2])
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        kind, value, pos = token
        if kind == TEXT:
            return Literal(STRING, str(value).encode(), pos)
        if kind == NUM:
            assert isinstance(value, (int, float))
            return self._check_range(Literal(NUMBER, value, pos))
        if kind == KEYWORD:
            if value in ("TRUE", "FALSE"):
                return Literal(BOOLEAN, value == "TRUE", pos)
            if value == "NULL":
                raise SelectorError(
                    "NULL is not a value: test for a missing header with IS NULL or IS NOT NULL", pos
                )
        if kind == WORD or kind == QUOTED:
            return _name(str(value), quoted=kind == QUOTED, pos=pos)
        if kind == OP and value == "(":
            self.nest(pos)
            node = self.disjunction()
            self.expect_op(")", "')' or an operator")
            self.depth -= 1
            return node
        self.fail("a value, a header name or '('", token)

    def literal(self) -> Literal:
        kind, value, pos = self.peek()
        if kind == OP and value in ("+", "-"):
            sign = self.take()
            kind, value, _ = self.peek()
            if kind != NUM:
                self.fail("a number after the sign")
            self.take()
            assert isinstance(value, (int, float))
            return self._check_range(Literal(NUMBER, -value if sign[1] == "-" else value, pos))
        if kind == TEXT:
            self.take()
            return Literal(STRING, str(value).encode(), pos)
        if kind == NUM:
            self.take()
            assert isinstance(value, (int, float))
            return self._check_range(Literal(NUMBER, value, pos))
        if kind == KEYWORD and value in ("TRUE", "FALSE"):
            self.take()
            return Literal(BOOLEAN, value == "TRUE", pos)
        self.fail("a quoted string, a number, TRUE or FALSE (an IN list holds literals)")

    @staticmethod
    def _check_range(literal: Literal) -> Literal:
        """An unsigned integer literal must fit a signed 64-bit long (only -2**63 may use LONG_MAX + 1)."""
        if isinstance(literal.value, int) and not isinstance(literal.value, bool) and literal.value > LONG_MAX:
            raise SelectorError(f"the integer {literal.value} is outside the 64-bit range", literal.pos)
        return literal


def _name(text: str, quoted: bool, pos: int) -> Name:
    if not quoted:
        if text in _JMS_UNAVAILABLE:
            raise SelectorError(f"{text} is not available to selectors: {_JMS_UNAVAILABLE[text]}", pos)
        header = JMS_HEADERS.get(text)
        if header is None:
            header = text.encode()
    else:
        header = text.encode()
    problem = header_name_problem(header)
    if problem is not None:
        raise SelectorError(problem, pos)
    return Name(header, text, pos)


def parse(text: str, max_depth: int = 32) -> Node:
    """The syntax tree of ``text``; raise :class:`SelectorError` naming the position and what was expected."""
    return _Parser(tokenize(text), max_depth).selector()
