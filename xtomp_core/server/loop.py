"""Event loop choice: uvloop when installed (and not disabled), plain asyncio otherwise."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

__all__ = ["new_event_loop", "loop_name"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new loop; set ``XTOMP_NO_UVLOOP=1`` to use asyncio's even when uvloop is installed."""
    if not os.environ.get("XTOMP_NO_UVLOOP"):
        from .lazyssl import import_uvloop

        try:
            uvloop = import_uvloop()  # without ssl when nothing needs TLS (see lazyssl)
        except ImportError:
            pass
        else:
            new: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return new()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
