"""Message priorities: the ``priority`` header (0-9, JMS's default 4) and the per-priority deques a queue
switches to when its first message with another priority arrives.

A queue starts with one deque of waiting messages; a SEND without ``priority`` (or with the default)
costs it one header lookup. The first non-default priority replaces the deque with :class:`Levels`,
which has the same operations (``append``, ``popleft``, ``[0]``, ``extendleft``, iteration in delivery
order...), so the queue's code does not care which one it holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from xtomp_core import FrameRejected

from .consumer import Held
from .headers import DEFAULT_VALUE, PRIORITY

__all__ = ["PRIORITY", "DEFAULT_PRIORITY", "DEFAULT_VALUE", "LEVELS", "Levels", "priority_of", "level_of"]

#: JMS's default priority, what a message without the header gets (DEFAULT_VALUE in the header).
DEFAULT_PRIORITY = 4
#: Priorities 0 (lowest) to 9 (highest), as JMS and ActiveMQ (RabbitMQ: x-max-priority 9).
LEVELS = 10

_VALUES = {b"%d" % level: level for level in range(LEVELS)}


def priority_of(value: bytes) -> int:
    """The priority a ``priority`` header value asks for.

    A whole number above 9 counts as 9 (RabbitMQ treats a priority above the queue's
    x-max-priority as the maximum); anything else (empty, negative, not a number) is
    refused with an ERROR naming the header and the range.
    """
    level = _VALUES.get(value)
    if level is not None:
        return level
    if value.isdigit():  # "05", "255" (ASCII digits only: bytes.isdigit)
        digits = value.lstrip(b"0") or b"0"
        return int(digits) if len(digits) == 1 else LEVELS - 1
    shown = value[:20].decode("utf-8", "replace")
    raise FrameRejected(
        f"priority must be a whole number from 0 (lowest) to 9 (highest; larger numbers count as 9), not {shown!r}"
    )


def level_of(headers: Mapping[bytes, bytes]) -> int:
    """The priority of a message already accepted (its header was checked by ``priority_of``)."""
    value = headers.get(PRIORITY)
    return DEFAULT_PRIORITY if value is None else priority_of(value)


class Levels:
    """Waiting messages by priority: one deque per level, highest first, FIFO within a level.

    Quacks like the ``deque[Held]`` it replaces for what ``Queue`` does with it; ``[0]``
    and ``popleft`` are the highest-priority message that waited longest.
    """

    __slots__ = ("levels", "count", "top")

    #: The check of a ``priority`` value, for the queue that holds these levels.
    priority_of = staticmethod(priority_of)

    def __init__(self, items: Iterable[Held] = ()) -> None:
        self.levels: list[deque[Held]] = [deque() for _ in range(LEVELS)]
        self.count = 0
        #: No level above this one holds anything (it may itself be empty).
        self.top = -1
        self.extend(items)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[Held]:
        for level in range(self.top, -1, -1):
            yield from self.levels[level]

    def __getitem__(self, index: int) -> Held:
        if index == 0 and self.count:
            self._settle_top()
            return self.levels[self.top][0]
        if index < 0:
            index += self.count
        if 0 <= index < self.count:
            for level in range(self.top, -1, -1):
                items = self.levels[level]
                if index < len(items):
                    return items[index]
                index -= len(items)
        raise IndexError("Levels index out of range")

    def _settle_top(self) -> None:
        levels = self.levels
        top = self.top
        while top > 0 and not levels[top]:
            top -= 1
        self.top = top

    def append(self, held: Held) -> None:
        level = level_of(held.message.headers)
        self.levels[level].append(held)
        self.count += 1
        if level > self.top:
            self.top = level

    def extend(self, items: Iterable[Held]) -> None:
        for held in items:
            self.append(held)

    def appendleft(self, held: Held) -> None:
        level = level_of(held.message.headers)
        self.levels[level].appendleft(held)
        self.count += 1
        if level > self.top:
            self.top = level

    def extendleft(self, items: Iterable[Held]) -> None:
        """As deque's: each goes to the head of its own priority, so ``reversed(in_order)``
        puts messages back at the heads in order."""
        for held in items:
            self.appendleft(held)

    def popleft(self) -> Held:
        if not self.count:
            raise IndexError("pop from empty Levels")
        self._settle_top()
        held = self.levels[self.top].popleft()
        self.count -= 1
        return held

    def clear(self) -> None:
        for items in self.levels:
            items.clear()
        self.count = 0
        self.top = -1

    def __repr__(self) -> str:
        return f"Levels({[len(items) for items in self.levels]})"
