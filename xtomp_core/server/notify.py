"""systemd's readiness protocol (``sd_notify``) without libsystemd: one datagram per state.

Under a ``Type=notify`` unit, systemd sets ``$NOTIFY_SOCKET`` to a unix datagram socket (a
path, or an abstract name written with a leading ``@``); the broker sends ``READY=1`` once it
listens, ``RELOADING=1`` (with ``MONOTONIC_USEC``) and ``READY=1`` around a reload, and
``STOPPING=1`` when it starts shutting down. Without ``$NOTIFY_SOCKET`` nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
import time

__all__ = ["notify", "reloading"]

log = logging.getLogger("xtomp.server")


def notify(state: str) -> bool:
    """Send ``state`` (``"READY=1"``, newline-separated assignments) to ``$NOTIFY_SOCKET``.

    Returns True when it was sent; False when there is no socket, or it cannot be reached
    (logged: the broker runs on, systemd will time it out).
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    elif not address.startswith("/"):
        log.warning("NOTIFY_SOCKET=%r: only unix socket paths and abstract names are supported", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        log.warning("cannot notify systemd (%s) of %s: %s", address.replace("\0", "@"), state.split("\n")[0], error)
        return False
    return True


def reloading() -> bool:
    """``RELOADING=1``, with the monotonic time systemd 253 and later ask for."""
    return notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
