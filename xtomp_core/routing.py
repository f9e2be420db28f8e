"""The subscriber index of a destination: who should see a message, without a loop over everyone.

Ss are kept in three groups:

* ``plain`` - no filter: every message goes to them;
* ``keyed`` - the filter promises an equality on one header (xtomp's ``filter: k=v``, or
  a selector whose top-level conjunct is ``name = 'literal'``): one dict lookup per header
  name finds the candidates, and only non-exact filters are called;
* ``residual`` - any other filter, called per message.

With 10,000 subscribers each filtering on a distinct value, a message costs one lookup,
not 10,000 evaluations.

The lists are copy-on-write: adding or removing builds a new list, so a fan-out loop
iterating over the current one is never disturbed when a delivery makes a subscriber go
away (a slow consumer disconnected mid-loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar

from .primitives import Filter

__all__ = ["SubscriberIndex", "Subscriber"]


class Subscriber(Protocol):
    """What the index needs of a subscription: its filter (None: it takes everything)."""

    @property
    def filter(self) -> Filter | None: ...


S = TypeVar("S", bound=Subscriber)


class SubscriberIndex(Generic[S]):
    """The subscriptions of one destination, grouped so that ``matching`` loops over no one it need not."""

    __slots__ = ("plain", "keyed", "residual", "count")

    def __init__(self) -> None:
        self.plain: list[S] = []
        self.keyed: dict[bytes, dict[bytes, list[S]]] = {}
        self.residual: list[S] = []
        self.count = 0

    @property
    def filtered(self) -> bool:
        return bool(self.keyed or self.residual)

    def add(self, subscription: S) -> None:
        flt = subscription.filter
        if flt is None:
            self.plain = self.plain + [subscription]
        elif flt.index_key is not None:
            header, value = flt.index_key
            by_value = self.keyed.setdefault(header, {})
            by_value[value] = by_value.get(value, []) + [subscription]
        else:
            self.residual = self.residual + [subscription]
        self.count += 1

    def remove(self, subscription: S) -> bool:
        """Remove; False when the subscription was not indexed here."""
        flt = subscription.filter
        if flt is None:
            remaining = _without(self.plain, subscription)
            if remaining is None:
                return False
            self.plain = remaining
        elif flt.index_key is not None:
            header, value = flt.index_key
            by_value = self.keyed.get(header, {})
            remaining = _without(by_value.get(value, []), subscription)
            if remaining is None:
                return False
            if remaining:
                by_value[value] = remaining
            else:
                del by_value[value]
                if not by_value:
                    del self.keyed[header]
        else:
            remaining = _without(self.residual, subscription)
            if remaining is None:
                return False
            self.residual = remaining
        self.count -= 1
        return True

    def matching(self, headers: Mapping[bytes, bytes]) -> list[S]:
        """Every subscription that wants a message with these headers, plain ones first."""
        targets = list(self.plain)
        for header, by_value in self.keyed.items():
            value = headers.get(header)
            if value is not None:
                group = by_value.get(value)
                if group:
                    for subscription in group:
                        flt = subscription.filter
                        assert flt is not None
                        if flt.exact or flt(headers):
                            targets.append(subscription)
        for subscription in self.residual:
            flt = subscription.filter
            assert flt is not None
            if flt(headers):
                targets.append(subscription)
        return targets

    def all(self) -> list[S]:
        subscriptions = list(self.plain)
        for by_value in self.keyed.values():
            for group in by_value.values():
                subscriptions.extend(group)
        subscriptions.extend(self.residual)
        return subscriptions

    def __len__(self) -> int:
        return self.count


def _without(group: list[S], subscription: S) -> list[S] | None:
    """A copy of ``group`` without ``subscription``; None when it was not there."""
    try:
        index = group.index(subscription)  # identity: subscriptions do not define __eq__
    except ValueError:
        return None
    return group[:index] + group[index + 1 :]
