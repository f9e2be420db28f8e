"""How many broker processes the ``workers`` directive asks for (``"auto"`` and 0: one per CPU)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Section

__all__ = ["cpu_count", "worker_count"]


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, as a cpuset or ``taskset`` leaves it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def worker_count(server: Section) -> int:
    """``server.workers`` as a number of processes."""
    value = server["workers"]
    if value == "auto" or value == 0:
        return cpu_count()
    return int(value)
