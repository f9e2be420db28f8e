"""Running a broker: start listeners, wait for a stop request, shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from ..broker.broker import Broker
from ..errors import StartupError
from .connection import Flusher
from .connections import prepare_listeners
from .loop import loop_name, new_event_loop

__all__ = ["serve", "run", "StartupError"]

log = logging.getLogger("xtomp.server")


async def serve(
    broker: Broker,
    on_ready: Callable[[Broker], None] | None = None,
    handle_signals: bool = False,
) -> None:
    """Serve until ``broker.stop()``: stop accepting, close sessions, run shutdown hooks."""
    loop = asyncio.get_running_loop()
    context = prepare_listeners(broker)
    broker.flusher = Flusher(loop)
    await broker.start(loop)
    servers = []
    try:
        for address in broker.listen_addresses:
            transport = broker.registries.transports.get(address.scheme)
            try:
                server, bound = await transport.listen(address, context)
            except OSError as error:
                raise StartupError(f"cannot listen on {address.text}: {error.strerror or error}") from None
            servers.append(server)
            broker.listener_started(address, bound)
            for host, port in bound:
                log.info("listening on %s://%s:%d%s", address.scheme, host, port, address.path)
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, broker.stop)
        pid_file = broker.config.server["pid_file"]
        if pid_file:
            Path(pid_file).write_text(f"{os.getpid()}\n")
        # Start-up objects (modules, config, registries) live as long as the process: keep
        # them out of every later garbage-collection pass.
        gc.freeze()
        log.info("xtomp ready on %s, plugins: %s", loop_name(loop), ", ".join(broker.host.enabled) or "none")
        if on_ready is not None:
            on_ready(broker)
        await broker.wait_stopped()
        log.info("shutting down")
    finally:
        for server in servers:
            server.close()
        await broker.close()
        broker.flusher.flush()
        # Let transports write what sessions queued before the loop goes away.
        await asyncio.sleep(0.05)
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        pid_file = broker.config.server["pid_file"]
        if pid_file:
            Path(pid_file).unlink(missing_ok=True)


def run(broker: Broker) -> None:
    """Run in the foreground on a new loop (uvloop when available) until SIGTERM/SIGINT."""
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(broker, handle_signals=True))
    finally:
        loop.close()
