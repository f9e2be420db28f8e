"""The selector engine's compiler: JMS/SQL-92 message selectors to closures (imported on first use).

``compile_selector(text)`` parses a selector once and returns a
:class:`~xtomp_filters.selector.compiler.SelectorFilter`; a selector that does not parse
or type-check raises :class:`SelectorError` naming the position and what was expected.
Nothing here is imported until the first SUBSCRIBE with a ``selector`` header.
"""

from __future__ import annotations

from .compiler import SelectorFilter, compile_tree
from .errors import SelectorError
from .parser import parse

__all__ = ["SelectorError", "SelectorFilter", "compile_selector", "parse"]


def compile_selector(text: str, max_depth: int = 32) -> SelectorFilter:
    """Parse and compile ``text``; raise :class:`SelectorError` when it is not a valid selector."""
    return compile_tree(parse(text, max_depth), text)
