"""Running a broker: start listeners, wait for a stop request, shut down gracefully.

With ``handle_signals`` (the ``xtomp`` command): SIGTERM, SIGINT and SIGQUIT stop gracefully,
SIGHUP reloads the configuration from ``config_path`` (:mod:`xtomp_core.broker.reload`:
nobody is dropped; an invalid configuration keeps the running one), SIGUSR1 reopens log
files (there are none: a no-op). systemd hears of each state through ``$NOTIFY_SOCKET``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..broker.broker import Broker
from ..errors import ConfigError, StartupError
from .flusher import Flusher
from .connections import prepare_listeners
from .logs import reopen, set_level
from .loop import loop_name, new_event_loop
from .notify import notify, reloading

if TYPE_CHECKING:
    from pathlib import Path  # annotations only: pathlib is not imported at start-up (config/loader.py)

__all__ = ["serve", "run", "reload", "StartupError", "STOP_SIGNALS"]

log = logging.getLogger("xtomp.server")

#: The signals that stop the broker gracefully.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def reload(broker: Broker, config_path: str | Path | None) -> bool:
    """SIGHUP: read ``config_path`` again and apply what can change live; True when applied.

    Any problem is logged (a configuration error in full) and the running configuration
    stays. systemd is told ``RELOADING=1`` first and ``READY=1`` after, either way.
    """
    reloading()
    try:
        if config_path is None:
            log.warning("reload: this broker was not started from a config path: nothing to reload")
            return False
        log.info("reloading the configuration from %s", config_path)
        from ..broker import reload as reloader  # at the first SIGHUP: nothing of it is needed idle

        try:
            config = reloader.check(broker, config_path)
            reloader.apply(broker, config)
        except reloader.RestartNeeded as error:
            log.error("reload refused, the running configuration stays:\n%s", error)
            return False
        except ConfigError as error:
            log.error("reload failed, the running configuration stays: configuration error:\n%s", error)
            return False
        except Exception:
            log.exception("reload failed, the running configuration stays")
            return False
        # Said at the old level, so that a reload to log_level = "warning" still says it.
        log.info("configuration reloaded from %s (%s)", config_path, ", ".join(config.files))
        set_level(config.server)
        return True
    finally:
        notify("READY=1")


async def serve(
    broker: Broker,
    on_ready: Callable[[Broker], None] | None = None,
    handle_signals: bool = False,
    config_path: str | Path | None = None,
    supervised: bool = False,
) -> None:
    """Serve until ``broker.stop()``: stop accepting, close sessions, run shutdown hooks.

    ``config_path`` is what SIGHUP reloads (with ``handle_signals``). A ``supervised`` broker
    is one of several workers (:mod:`.workers`): its master writes the pid file and talks to
    systemd, so it does neither.
    """
    loop = asyncio.get_running_loop()
    context = prepare_listeners(broker)
    broker.flusher = Flusher(loop)
    await broker.start(loop)
    servers = []
    # Read once: pid_file changes only with a restart, and exit removes the file written here.
    pid_file = None if supervised else broker.config.server["pid_file"]
    notifying = handle_signals and not supervised
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
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, broker.stop)
            loop.add_signal_handler(signal.SIGHUP, reload, broker, config_path)
            loop.add_signal_handler(signal.SIGUSR1, reopen)
        if pid_file:
            with open(pid_file, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        # Start-up objects (modules, config, registries) live as long as the process: keep
        # them out of every later garbage-collection pass.
        gc.freeze()
        if supervised:  # the master says "xtomp ready" once every worker is
            index, count = broker.worker
            log.info("worker %d of %d ready on %s", index + 1, count, loop_name(loop))
        else:
            log.info("xtomp ready on %s, plugins: %s", loop_name(loop), ", ".join(broker.host.enabled) or "none")
        if on_ready is not None:
            on_ready(broker)
        if notifying:
            notify("READY=1\nSTATUS=listening on " + ", ".join(address.text for address in broker.listen_addresses))
        await broker.wait_stopped()
        log.info("shutting down")
        if notifying:
            notify("STOPPING=1")
    finally:
        for server in servers:
            server.close()
        await broker.close()
        broker.flusher.flush()
        # Let transports write what sessions queued before the loop goes away.
        await asyncio.sleep(0.05)
        if handle_signals:
            for signum in (*STOP_SIGNALS, signal.SIGHUP, signal.SIGUSR1):
                loop.remove_signal_handler(signum)
        if pid_file:
            try:
                os.unlink(pid_file)
            except FileNotFoundError:
                pass


def run(broker: Broker, config_path: str | Path | None = None) -> None:
    """Run in the foreground on a new loop (uvloop when available) until SIGTERM, SIGINT or
    SIGQUIT; SIGHUP reloads ``config_path``."""
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(broker, handle_signals=True, config_path=config_path))
    finally:
        loop.close()
