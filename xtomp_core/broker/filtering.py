"""Choosing and compiling a SUBSCRIBE's filter with the enabled filter engines."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..destination import Destination
from ..errors import FrameRejected
from ..interfaces import FilterEngine
from ..primitives import Filter
from ..protocol import constants as c

__all__ = ["subscription_filter"]


def subscription_filter(
    engines: Mapping[bytes, FilterEngine],
    unfiltered_checks: tuple[Callable[[Destination], None], ...],
    destination: Destination,
    headers: Mapping[bytes, bytes],
) -> Filter | None:
    """The compiled filter a SUBSCRIBE asks for, or None; raises ``FrameRejected`` for two
    filters, an invalid one, a missing required one, or one no enabled engine reads."""
    subscription_filter = None
    if engines:
        for header, engine in engines.items():
            value = headers.get(header)
            if value is not None:
                if subscription_filter is not None:
                    raise FrameRejected("a subscription takes one filter: use either filter or selector")
                subscription_filter = engine.compile(value, destination)
        if subscription_filter is None:
            for check in unfiltered_checks:
                check(destination)
    for header in c.FILTER_HEADERS:
        if header in headers and header not in engines:
            # Delivering everything to a subscriber that asked for a subset (RabbitMQ
            # ignores selectors) is a silent bug for that client: refuse instead.
            raise FrameRejected(
                f"{header.decode()} headers are not supported here: the filters plugin "
                "(xtomp-filters) is not enabled"
            )
    return subscription_filter
