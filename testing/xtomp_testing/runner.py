"""Running a real broker for tests: in a background thread, or as a ``python -m xtomp_core`` process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from xtomp_core.bootstrap import load_config
from xtomp_core.broker.broker import Broker
from xtomp_core.plugins import PluginHost
from xtomp_core.server.app import serve
from xtomp_core.server.loop import new_event_loop

__all__ = ["BASE_CONFIG", "BrokerThread", "BrokerProcess", "write_config", "start_broker"]

T = TypeVar("T")

#: The config every test broker starts from: loopback, any free port, topics under /topic/.
BASE_CONFIG = """\
[server]
listen = ["127.0.0.1:0"]

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
"""


def write_config(directory: Path, extra: str = "", base: str = BASE_CONFIG) -> Path:
    """Write ``base`` and ``extra`` as ``00-base.toml`` and ``50-test.toml``; return the directory.

    Tables merge across the two files, so ``extra`` may add keys to ``[server]`` or new
    destinations, but may not set a key ``base`` already sets.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "00-base.toml").write_text(base)
    if extra:
        (directory / "50-test.toml").write_text(extra)
    return directory


class BrokerThread:
    """A broker serving on its own event loop in a daemon thread.

    ``address`` is the first bound (host, port). ``call(fn)`` runs ``fn`` on the broker's
    loop and returns its result, which is how a test inspects broker state safely.
    """

    def __init__(self, broker: Broker, use_uvloop: bool = True) -> None:
        self.broker = broker
        self.use_uvloop = use_uvloop
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> BrokerThread:
        self._thread = threading.Thread(target=self._run, name="xtomp-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the broker did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        if self.use_uvloop:
            loop = new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(serve(self.broker, on_ready=lambda _: self._ready.set()))
        except BaseException as error:  # reported to the test thread by start()
            self._error = error
        finally:
            self._ready.set()
            loop.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.addresses()[0]

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def addresses(self, scheme: str | None = None) -> list[tuple[str, int]]:
        found = []
        for listen, bound in self.broker.listening:
            if scheme is None or listen.scheme == scheme:
                found.extend(bound)
        return found

    def call(self, function: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``function(*args)`` on the broker's loop; return (or raise) what it does."""
        assert self.loop is not None
        done = threading.Event()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, function(*args)))
            except BaseException as error:  # handed back to the caller
                outcome.append((False, error))
            done.set()

        self.loop.call_soon_threadsafe(run)
        if not done.wait(timeout):
            raise TimeoutError("the broker loop did not answer")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self.call(self.broker.stats)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.broker.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the broker did not stop in time")

    def __enter__(self) -> BrokerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_broker(
    config_dir: Path,
    plugins: Iterable[tuple[str, object]] = (),
    use_uvloop: bool = True,
) -> BrokerThread:
    """Build a broker from a config directory (plus in-process plugins) and start it."""
    host = PluginHost()
    for name, plugin in plugins:
        host.register(name, plugin)
    config, host = load_config(config_dir, host)
    return BrokerThread(Broker(config, host), use_uvloop=use_uvloop).start()


_LISTENING = re.compile(r"listening on (\w+)://(.+):(\d+)")


class BrokerProcess:
    """``python -m xtomp_core -c CONFIG`` as a child process, for CLI, signal and slim tests."""

    def __init__(
        self,
        config: Path,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
    ) -> None:
        self.command = [python, "-m", "xtomp_core", "-c", str(config), *args]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.addresses: list[tuple[str, str, int]] = []
        self.log: list[str] = []

    def start(self, timeout: float = 20.0) -> BrokerProcess:
        if self.process is not None:
            raise RuntimeError("this BrokerProcess was already started")
        self.process = subprocess.Popen(
            self.command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError("the broker exited during start-up:\n" + "".join(self.log))
            self.log.append(line)
            match = _LISTENING.search(line)
            if match:
                self.addresses.append((match.group(1), match.group(2), int(match.group(3))))
            if "xtomp ready" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("the broker did not become ready:\n" + "".join(self.log))

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def port(self) -> int:
        return self.addresses[0][2]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self) -> BrokerProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
