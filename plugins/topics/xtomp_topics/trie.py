"""The per-broker trie of wildcard patterns (see :mod:`xtomp_topics.wildcard`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xtomp_core import StashKey

if TYPE_CHECKING:
    from xtomp_core import DestinationContext, Subscription

    from .topic import Topic
    from .wildcard import Pattern

__all__ = ["GONE", "SPECIAL", "WILDCARDS", "Wildcards", "wildcards_of"]

STAR, HASH, GT = b"*", b"#", b">"
SPECIAL = frozenset((STAR, HASH, GT))
#: Set as ``subscription.state`` when a wildcard subscription ends (topics skip it from then on).
GONE = "gone"


class Node:
    __slots__ = ("children", "patterns")

    def __init__(self) -> None:
        self.children: dict[bytes, Node] = {}
        self.patterns: list[Pattern] = []


class Wildcards:
    """The patterns of one broker, in a trie per rule prefix (see the module doc)."""

    __slots__ = ("roots", "generation", "count", "stuck")

    def __init__(self) -> None:
        self.roots: dict[bytes, Node] = {}
        #: Bumped whenever a pattern or a wildcard subscription comes or goes.
        self.generation = 0
        self.count = 0
        #: The topics each slow wildcard subscription is stuck in (the pause policy).
        self.stuck: dict[Subscription, dict[Topic, None]] = {}

    def add(self, pattern: Pattern) -> None:
        node = self.roots.setdefault(pattern.prefix, Node())
        for word in pattern.words:
            node = node.children.setdefault(word, Node())
        node.patterns.append(pattern)
        self.count += 1
        self.generation += 1

    def remove(self, pattern: Pattern) -> None:
        path = []
        node = self.roots.get(pattern.prefix)
        for word in pattern.words:
            if node is None:
                return
            path.append((node, word))
            node = node.children.get(word)
        if node is None or pattern not in node.patterns:
            return
        node.patterns.remove(pattern)
        self.count -= 1
        self.generation += 1
        for parent, word in reversed(path):  # prune empty branches
            child = parent.children[word]
            if child.patterns or child.children:
                break
            del parent.children[word]
        root = self.roots.get(pattern.prefix)
        if root is not None and not root.children:
            del self.roots[pattern.prefix]

    def touch(self) -> None:
        self.generation += 1

    def match(self, name: bytes) -> list[Pattern]:
        """The patterns matching the concrete topic ``name`` (each once)."""
        found: dict[Pattern, None] = {}
        for prefix, root in self.roots.items():
            if name.startswith(prefix):
                _walk(root, name[len(prefix):].split(b"."), 0, found)
        return list(found)


def _walk(node: Node, words: list[bytes], i: int, found: dict[Pattern, None]) -> None:
    children = node.children
    count = len(words)
    if i == count:
        for pattern in node.patterns:
            found[pattern] = None
    else:
        word = words[i]
        if word not in SPECIAL:
            child = children.get(word)
            if child is not None:
                _walk(child, words, i + 1, found)
        child = children.get(STAR)
        if child is not None:
            _walk(child, words, i + 1, found)
        child = children.get(GT)
        if child is not None:  # one or more words remain
            for pattern in child.patterns:
                found[pattern] = None
    child = children.get(HASH)
    if child is not None:  # zero or more words
        for j in range(i, count + 1):
            _walk(child, words, j, found)


#: The broker's trie of patterns (``context.stash``).
WILDCARDS = StashKey[Wildcards]("topics.wildcards")


def wildcards_of(context: DestinationContext) -> Wildcards:
    return context.stash.setdefault(WILDCARDS, Wildcards)
