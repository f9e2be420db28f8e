"""The syntax tree of a selector: small frozen nodes, each remembering its position for error messages.

The parser builds these, the compiler turns them into closures, and the tests' reference
interpreter walks them. ``pos`` is the 0-based character offset of the node's operator (or of its first token
for values), the place an error about it points at; it takes no part in equality, so
trees parsed from differently spaced texts compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "Node",
    "Literal",
    "Name",
    "Arith",
    "Sign",
    "Compare",
    "Between",
    "InList",
    "Like",
    "IsNull",
    "Not",
    "And",
    "Or",
    "STRING",
    "NUMBER",
    "BOOLEAN",
]

STRING = "string"
NUMBER = "number"
BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class Literal:
    """A string (``value`` is the UTF-8 ``bytes``), number (``int``/``float``) or boolean literal."""

    kind: str
    value: bytes | int | float | bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier: the message header ``header`` (bytes), written as ``text`` in the selector."""

    header: bytes
    text: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    """A chain of one precedence level, evaluated left to right: ``first (op operand)*``.

    ``op`` is ``+``/``-`` or ``*``/``/``. Chains are flat so that ``a + b + c + ...`` does not
    nest: the tree's depth grows only with parentheses, NOT and unary signs.
    """

    first: Node
    rest: tuple[tuple[str, Node], ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Sign:
    """Unary ``-`` or ``+`` on a value that is not a number literal (``-5`` is a literal)."""

    op: str
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # = <> < <= > >=
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Between:
    operand: Node
    low: Node
    high: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InList:
    operand: Node
    items: tuple[Literal, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Like:
    operand: Node
    pattern: str
    escape: str | None = None
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """Two or more conditions, all of which must be TRUE."""

    items: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    """Two or more conditions, one of which must be TRUE."""

    items: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


Node = Union[Literal, Name, Arith, Sign, Compare, Between, InList, Like, IsNull, Not, And, Or]
