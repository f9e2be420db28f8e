"""The broker's list of open sessions, linked through the sessions themselves."""

from __future__ import annotations

from typing import Any

from xtomp_core.broker.sessions import SessionList


class Node:
    """Just what the list uses of a session: its two link slots."""

    __slots__ = ("name", "_prev", "_next")

    def __init__(self, name: str) -> None:
        self.name = name
        self._prev: object = None
        self._next: object = None


def names(sessions: SessionList) -> list[str]:
    return [node.name for node in sessions]  # type: ignore[attr-defined]


def test_added_sessions_are_counted_and_walked_in_order() -> None:
    sessions = SessionList()
    nodes = [Node(name) for name in "abcd"]
    for node in nodes:
        sessions.add(node)  # type: ignore[arg-type]
    sessions.add(nodes[1])  # type: ignore[arg-type]  # twice counts once
    assert len(sessions) == 4
    assert names(sessions) == ["a", "b", "c", "d"]
    assert nodes[2] in sessions and Node("e") not in sessions


def test_removed_from_anywhere_and_removing_twice_is_harmless() -> None:
    sessions = SessionList()
    nodes = [Node(name) for name in "abcd"]
    for node in nodes:
        sessions.add(node)  # type: ignore[arg-type]
    for gone in (nodes[0], nodes[2], nodes[3], nodes[2], Node("e")):
        sessions.discard(gone)  # type: ignore[arg-type]
    assert len(sessions) == 1 and names(sessions) == ["b"]
    assert nodes[0] not in sessions
    sessions.discard(nodes[1])  # type: ignore[arg-type]
    assert len(sessions) == 0 and names(sessions) == []
    sessions.add(nodes[3])  # type: ignore[arg-type]  # a list emptied works again
    assert names(sessions) == ["d"]


def test_a_session_may_end_while_it_is_being_walked() -> None:
    sessions = SessionList()
    nodes: list[Any] = [Node(name) for name in "abc"]
    for node in nodes:
        sessions.add(node)
    seen = []
    for node in sessions:
        seen.append(node.name)  # type: ignore[attr-defined]
        sessions.discard(node)  # what closing the session does
    assert seen == ["a", "b", "c"] and len(sessions) == 0
