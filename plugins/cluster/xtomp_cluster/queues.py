"""Clustered queues (Redis Streams): the queues helper's part; until then queues stay local."""

from __future__ import annotations

from typing import Any

__all__ = ["wrap_queue"]


def wrap_queue(inner: Any) -> Any:
    """Wraps the queues plugin's ``queue`` factory (see ``Registrar.wrap``)."""
    return inner
