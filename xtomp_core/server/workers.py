"""Several broker processes on one machine (``workers = N``): a master forks, supervises and signals them.

Theory of operation
-------------------
The ``xtomp`` process reads and checks the configuration once and builds the broker (every
plugin imported, every check run: what ``xtomp -t`` does) without an event loop. It then
becomes the master: it forks ``N`` workers, each of which takes that broker, creates its own
event loop and binds every listener with ``SO_REUSEPORT`` (so the kernel spreads new
connections over the workers); a backplane plugin (``xtomp_backplane = True``) makes the
destinations span them.

``os.fork`` without exec, before any loop or thread exists, rather than ``multiprocessing``
spawn: a worker starts from the checked broker as it is (nothing is read or imported twice,
and the configuration cannot change between the check and the start), and it shares the
master's pages copy-on-write: the interpreter, the plugins' modules and the configuration,
frozen out of the garbage collector (``gc.freeze``) so that collecting does not copy them.
A spawned worker would import everything again, for about 20 MB of its own.

The master runs no event loop. It waits in a selector on one socket pair per worker and on
the wake-up fd of its signal handlers:

- a worker writes ``R`` on its socket once it listens; when all have, the master writes the
  pid file (its own pid), logs "xtomp ready" and tells systemd ``READY=1``; a worker sees
  its socket close if the master dies, and stops;
- SIGCHLD: a worker that exits is started again after a back-off (0.1 s, doubling for each
  exit within ``STABLE`` seconds of its start, at most ``MAX_BACKOFF``), logged; one that
  exits before all are first ready fails the start (the worker printed why);
- SIGTERM, SIGINT, SIGQUIT: ``STOPPING=1``, SIGTERM to every worker (each closes its
  sessions gracefully), SIGKILL to any still running after ``STOP_TIMEOUT``; then the pid
  file is removed;
- SIGHUP: the master checks the configuration again as a reload would; when it may be
  applied it becomes the broker later workers start from, and every worker gets SIGHUP
  (each applies it live, :mod:`xtomp_core.broker.reload`); otherwise the master logs why
  once and the workers keep theirs;
- SIGUSR1 goes to every worker (reopen logs).
"""

from __future__ import annotations

import gc
import logging
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..broker import reload as reloader
from ..errors import ConfigError, XtompError
from .logs import reopen, set_level
from .notify import notify, reloading

if TYPE_CHECKING:
    from ..broker.broker import Broker

__all__ = ["run_workers", "STABLE", "MAX_BACKOFF", "STOP_TIMEOUT"]

log = logging.getLogger("xtomp.master")

#: A worker that ran this long before it exited is restarted at once (back-off reset).
STABLE = 10.0
#: The longest wait before a worker that keeps exiting is started again.
MAX_BACKOFF = 30.0
#: How long workers have to stop gracefully before they are killed.
STOP_TIMEOUT = 30.0
_FIRST_BACKOFF = 0.1

_STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_HANDLED = (*_STOP, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD)
_READY = b"R"


@dataclass
class _Worker:
    index: int
    pid: int = 0
    channel: socket.socket | None = None
    started: float = 0.0
    ready: bool = False
    quick_exits: int = 0
    #: When a worker that exited is due to start again (monotonic time); 0: not waiting.
    restart_at: float = 0.0


@dataclass
class _Master:
    broker: Broker
    config_path: str | Path
    count: int
    workers: list[_Worker] = field(default_factory=list)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    signals: list[int] = field(default_factory=list)
    stopping: bool = False
    stop_deadline: float = 0.0
    announced: bool = False
    status: int = 0
    own_fds: list[int] = field(default_factory=list)

    # -- workers ----------------------------------------------------------------------------

    def spawn(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)  # no master handler runs in the child
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            ours.close()
            theirs.close()
            raise
        if pid == 0:  # the worker: never returns
            ours.close()
            os._exit(self.worker_main(worker.index, theirs))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        theirs.close()
        worker.pid, worker.channel, worker.started, worker.ready, worker.restart_at = (
            pid, ours, time.monotonic(), False, 0.0
        )
        self.selector.register(ours, selectors.EVENT_READ, worker)
        log.info("worker %d of %d started, pid %d", worker.index + 1, self.count, pid)

    def worker_main(self, index: int, channel: socket.socket) -> int:
        """The child: forget the master's signal handling and fds, then serve until stopped."""
        signal.set_wakeup_fd(-1)
        for signum in (*_STOP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for signum in (signal.SIGHUP, signal.SIGUSR1):  # until the loop's handlers are in place
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        # Raw closes: the selector's epoll instance is shared with the master, which keeps using it.
        for fd in self.own_fds:
            os.close(fd)
        for other in self.workers:
            if other.channel is not None:
                os.close(other.channel.detach())
        os.environ.pop("NOTIFY_SOCKET", None)  # NotifyAccess=main: only the master talks to systemd
        try:
            return _serve_worker(self.broker, index, self.count, channel, self.config_path)
        except BaseException:  # never back into the master's code
            log.exception("worker %d failed", index + 1)
            return 1
        finally:
            logging.shutdown()

    def message(self, worker: _Worker) -> None:
        assert worker.channel is not None
        try:
            data = worker.channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # it exited (SIGCHLD says how) or closed its end
            self.selector.unregister(worker.channel)
            worker.channel.close()
            worker.channel = None
            return
        if _READY in data and not worker.ready:
            worker.ready = True
            if self.announced and not self.stopping:
                log.info("worker %d of %d is back, pid %d", worker.index + 1, self.count, worker.pid)
            self.announce()

    def announce(self) -> None:
        if self.announced or self.stopping or not all(worker.ready for worker in self.workers):
            return
        self.announced = True
        pid_file = self.broker.config.server["pid_file"]
        if pid_file:
            Path(pid_file).write_text(f"{os.getpid()}\n")
        pids = ", ".join(str(worker.pid) for worker in self.workers)
        log.info("xtomp ready: %d workers (pids %s), plugins: %s", self.count, pids,
                 ", ".join(self.broker.host.enabled) or "none")
        listening = ", ".join(address.text for address in self.broker.listen_addresses)
        notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS={self.count} workers listening on {listening}")

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((worker for worker in self.workers if worker.pid == pid), None)
            if worker is not None:
                self.exited(worker, status)

    def exited(self, worker: _Worker, status: int) -> None:
        if worker.channel is not None:
            self.selector.unregister(worker.channel)
            worker.channel.close()
            worker.channel = None
        worker.pid = 0
        how = _describe(status)
        name = f"worker {worker.index + 1} of {self.count}"
        if self.stopping:
            log.info("%s %s", name, how)
            return
        if not self.announced:
            log.error("%s %s during start-up: stopping", name, how)
            self.status = 1
            self.stop()
            return
        ran = time.monotonic() - worker.started
        worker.quick_exits = 0 if ran >= STABLE else worker.quick_exits + 1
        delay = 0.0 if worker.quick_exits == 0 else min(MAX_BACKOFF, _FIRST_BACKOFF * 2 ** (worker.quick_exits - 1))
        worker.ready = False
        worker.restart_at = time.monotonic() + delay
        log.warning("%s %s after %.1fs; starting it again in %.1fs", name, how, ran, delay)

    def restart_due(self) -> float | None:
        """Start the workers whose back-off is over; the seconds until the next one, if any."""
        now = time.monotonic()
        waits = []
        for worker in self.workers:
            if worker.pid or not worker.restart_at:
                continue
            if worker.restart_at <= now:
                self.spawn(worker)
            else:
                waits.append(worker.restart_at - now)
        return min(waits) if waits else None

    def signal_all(self, signum: int) -> None:
        for worker in self.workers:
            if worker.pid:
                try:
                    os.kill(worker.pid, signum)
                except ProcessLookupError:
                    pass

    # -- signals ------------------------------------------------------------------------------

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_deadline = time.monotonic() + STOP_TIMEOUT
        notify("STOPPING=1")
        self.signal_all(signal.SIGTERM)

    def reload(self) -> None:
        reloading()
        try:
            log.info("reloading the configuration from %s in every worker", self.config_path)
            try:
                config = reloader.check(self.broker, self.config_path)
                # What workers started from now on run (the running ones apply it live).
                fresh = type(self.broker)(config, self.broker.host, self.broker.registries)
                fresh.global_directives = self.broker.global_directives
            except reloader.RestartNeeded as error:
                log.error("reload refused, the running configuration stays:\n%s", error)
                return
            except ConfigError as error:
                log.error("reload failed, the running configuration stays: configuration error:\n%s", error)
                return
            except Exception:
                log.exception("reload failed, the running configuration stays")
                return
            self.broker = fresh
            set_level(config.server)
            self.signal_all(signal.SIGHUP)
        finally:
            notify("READY=1")

    def handle(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            self.reap()
        elif signum in _STOP:
            log.info("%s: stopping every worker", signal.Signals(signum).name)
            self.stop()
        elif signum == signal.SIGHUP:
            if not self.stopping:
                self.reload()
        elif signum == signal.SIGUSR1:
            reopen()
            self.signal_all(signal.SIGUSR1)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> int:
        wake_read, wake_write = os.pipe()  # close-on-exec already (PEP 446)
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        selector_fd = getattr(self.selector, "fileno", None)  # epoll and kqueue have one
        self.own_fds = [wake_read, wake_write, *([selector_fd()] if selector_fd is not None else [])]
        previous = {signum: signal.signal(signum, self.on_signal) for signum in _HANDLED}
        old_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        # What a broker imports at its first connection (server/connections.py) is imported
        # here, to be shared with every worker like the start-up objects; keep the collector
        # off their pages.
        from . import connection, framed  # noqa: F401

        gc.freeze()
        try:
            self.workers = [_Worker(index) for index in range(self.count)]
            for worker in self.workers:
                if not self.stopping:
                    self.spawn(worker)
            while not self.stopping or any(worker.pid for worker in self.workers):
                timeout = self.restart_due() if not self.stopping else None
                if self.stopping:
                    left = self.stop_deadline - time.monotonic()
                    if left <= 0:
                        log.error("workers still running %.0fs after SIGTERM: killing them", STOP_TIMEOUT)
                        self.signal_all(signal.SIGKILL)
                        self.stop_deadline = float("inf")
                        left = 1.0
                    timeout = left
                for key, _ in self.selector.select(timeout):
                    if key.data is None:
                        try:
                            while os.read(wake_read, 512):
                                pass
                        except BlockingIOError:
                            pass
                    else:
                        self.message(key.data)
                while self.signals:
                    self.handle(self.signals.pop(0))
            return self.status
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.selector.close()
            os.close(wake_read)
            os.close(wake_write)
            pid_file = self.broker.config.server["pid_file"]
            if pid_file and self.announced:
                Path(pid_file).unlink(missing_ok=True)
            log.info("xtomp stopped")

    def on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)  # handled in the loop, outside the signal handler


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"was killed by signal {number} ({name})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _serve_worker(broker: Broker, index: int, count: int, channel: socket.socket, config_path: str | Path) -> int:
    from .app import serve
    from .loop import new_event_loop

    broker.set_worker(index, count)
    loop = new_event_loop()
    channel.setblocking(False)

    def master_gone() -> None:
        try:
            if channel.recv(64):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        loop.remove_reader(channel.fileno())
        log.error("worker %d: the master process is gone: stopping", index + 1)
        broker.stop()

    def ready(_: object) -> None:
        channel.send(_READY)
        loop.add_reader(channel.fileno(), master_gone)

    try:
        loop.run_until_complete(serve(broker, ready, handle_signals=True, config_path=config_path, supervised=True))
    except XtompError as error:
        print(f"xtomp: worker {index + 1}: {error}", flush=True, file=sys.stderr)
        return 1
    finally:
        loop.close()
        channel.close()
    return 0


def run_workers(broker: Broker, config_path: str | Path, count: int) -> int:
    """Be the master of ``count`` workers serving ``broker`` until SIGTERM, SIGINT or SIGQUIT;
    the exit status (1 when a worker failed to start)."""
    return _Master(broker, config_path, count).run()
