"""``workers = N``: a master process and N broker processes sharing the listening ports.

The process tests run ``python -m xtomp_core`` with a throw-away plugin installed the way a
distribution would be (a ``*.dist-info`` with its entry point on ``PYTHONPATH``) that only
declares ``xtomp_backplane = True``: without a real backplane each worker holds its own
destinations, which is all these tests need. Which worker a client reached is read from
CONNECTED's ``server`` header (``xtomp/VERSION (worker 2 of 2)``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from xtomp_core import ConfigError
from xtomp_core.bootstrap import load_config
from xtomp_core.config.convert import convert_main
from xtomp_core.plugins import PluginHost
from xtomp_testing import BASE_CONFIG, BrokerProcess, RawClient, check_config, reserved_port, wait_until, write_config

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads connections on Linux")


class Backplane:
    xtomp_backplane = True


# -- configuration -----------------------------------------------------------------------------------


def test_several_workers_without_a_backplane_name_file_key_and_what_to_enable():
    with pytest.raises(ConfigError) as refused:
        check_config("[server]\nworkers = 2\n")
    message = str(refused.value)
    assert re.match(r"^\S+\.toml: server\.workers: 2 worker processes need a backplane plugin", message), message
    assert "enable one with a [plugins.cluster] table" in message
    check_config("[server]\nworkers = 1\n")  # one process needs nothing
    fixed = BASE_CONFIG.replace("127.0.0.1:0", "127.0.0.1:61613")  # checked, never bound
    check_config("[server]\nworkers = 2\n", fixed, plugins=[("bp", Backplane())])


def test_port_0_with_several_workers_is_refused():
    with pytest.raises(ConfigError, match=r"server\.listen: '127\.0\.0\.1:0': port 0 with 2 workers would give "
                                          r"each worker a port of its own"):
        check_config("[server]\nworkers = 2\n", plugins=[("bp", Backplane())])


def test_auto_and_zero_mean_one_worker_per_cpu(tmp_path, monkeypatch):
    from xtomp_core.config import workers

    monkeypatch.setattr(workers, "cpu_count", lambda: 3)
    for value in ('"auto"', "0"):
        with pytest.raises(ConfigError, match=rf"server\.workers: {re.escape(value)} \(3 CPUs\) worker processes"):
            check_config(f"[server]\nworkers = {value}\n")
    host = PluginHost()
    host.register("bp", Backplane())
    config, _ = load_config(write_config(tmp_path, '[server]\nworkers = "auto"\n'), host)  # load_config binds nothing
    assert workers.worker_count(config.server) == 3
    with pytest.raises(ConfigError, match=r"server\.workers: expected an integer or 'auto'"):
        check_config('[server]\nworkers = "many"\n')
    monkeypatch.setattr(workers, "cpu_count", lambda: 1)
    check_config('[server]\nworkers = "auto"\n')  # one CPU: one process, no backplane needed


def test_the_backplane_declaration_must_be_a_bool():
    class Sloppy:
        xtomp_backplane = "yes"

    with pytest.raises(ConfigError, match=r"^plugin bp: xtomp_backplane must be True or False, not 'yes'$"):
        check_config("[server]\nworkers = 2\n", plugins=[("bp", Sloppy())])


def test_worker_processes_in_an_xtomp_conf_maps_to_workers(tmp_path):
    host = PluginHost()
    host.register("bp", Backplane())
    conf = tmp_path / "xtomp.conf"
    conf.write_text("worker_processes 2;\nxtomp { server { listen 127.0.0.1:0; } }\n")
    config, _ = load_config(conf, host)
    assert config.server["workers"] == 2
    assert config.server.origin("workers") == f"{conf}:1"
    assert convert_main([str(conf), str(tmp_path / "out")]) == 0  # xtomp convert writes it too
    assert f"workers = 2  # {conf}:1: worker_processes 2;" in (tmp_path / "out" / "00-core.toml").read_text()


# -- processes ------------------------------------------------------------------------------------------


@pytest.fixture
def backplane_site(tmp_path: Path) -> Path:
    """A directory to put on PYTHONPATH in which plugin ``bp`` is installed."""
    site = tmp_path / "site"
    info = site / "bp_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bp-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[xtomp.plugins]\nbp = bp_plugin\n")
    (site / "bp_plugin.py").write_text(textwrap.dedent('''
        """A backplane in name only: enough for the process model's tests."""
        xtomp_backplane = True
    '''))
    return site


def start_master(tmp_path: Path, site: Path, env: dict[str, str] | None = None) -> BrokerProcess:
    """``xtomp`` with workers = 2; returns at the master's "xtomp ready" (every worker listens)."""
    holder, port = reserved_port()
    pid_file = tmp_path / "xtomp.pid"
    conf = write_config(
        tmp_path / "conf",
        f'[server]\nworkers = 2\npid_file = "{pid_file}"\nlog_level = "debug"\n[plugins.bp]\n',
        BASE_CONFIG.replace("127.0.0.1:0", f"127.0.0.1:{port}"),
    )
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    process = BrokerProcess(conf, env={"PYTHONPATH": python_path, **(env or {})})
    holder.close()
    return process.start()


@pytest.fixture
def master(tmp_path: Path, backplane_site: Path) -> Iterator[BrokerProcess]:
    with start_master(tmp_path, backplane_site) as running:
        yield running
    log = "".join(running.log)
    assert "Traceback" not in log, log


def worker_pids(master: BrokerProcess) -> dict[int, int]:
    """Worker number -> pid, from the master's log (the latest start of each)."""
    found: dict[int, int] = {}
    for line in list(master.log):
        started = re.search(r"worker (\d+) of \d+ started, pid (\d+)", line)
        if started:
            found[int(started.group(1))] = int(started.group(2))
    return found


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def reached(port: int) -> str:
    """Which worker a new connection lands on, from CONNECTED's server header."""
    with RawClient("127.0.0.1", port) as client:
        server = client.connect().headers[b"server"].decode()
    match = re.search(r"\(worker (\d) of 2\)$", server)
    assert match, server
    return match.group(1)


def test_two_workers_children_of_the_master_share_the_port(master: BrokerProcess):
    pids = worker_pids(master)
    assert sorted(pids) == [1, 2] and pids[1] != pids[2]
    assert all(parent_of(pid) == master.pid for pid in pids.values())
    # The kernel hashes each connection to one listener: many connections reach both.
    seen: set[str] = set()
    wait_until(lambda: seen.add(reached(master.port)) or seen == {"1", "2"}, what="connections on both workers")


def test_the_pid_file_holds_the_master_and_sigterm_stops_everyone(master: BrokerProcess, tmp_path: Path):
    pid_file = tmp_path / "xtomp.pid"
    assert pid_file.read_text() == f"{master.pid}\n"
    pids = list(worker_pids(master).values())
    client = RawClient("127.0.0.1", master.port)
    client.connect()
    assert master.stop() == 0
    assert not any(alive(pid) for pid in pids)
    assert not pid_file.exists()
    client.expect_closed()  # the worker closed its session on the way out
    client.close()
    log = "".join(master.log)
    assert "SIGTERM: stopping every worker" in log and "xtomp stopped" in log


def test_a_killed_worker_is_started_again_and_the_port_keeps_accepting(master: BrokerProcess):
    pids = worker_pids(master)
    os.kill(pids[1], signal.SIGKILL)
    wait_until(lambda: worker_pids(master).get(1) not in (None, pids[1]), what="worker 1 started again")
    wait_until(lambda: any("worker 1 of 2 is back" in line for line in master.log), what="worker 1 listening again")
    assert "worker 1 of 2 was killed by signal 9 (SIGKILL)" in "".join(master.log)
    new = worker_pids(master)[1]
    assert parent_of(new) == master.pid and alive(pids[2])
    seen: set[str] = set()
    wait_until(lambda: seen.add(reached(master.port)) or seen == {"1", "2"}, what="both workers accepting again")


def test_sighup_and_sigusr1_reach_every_worker(master: BrokerProcess):
    pids = worker_pids(master)
    os.kill(master.pid, signal.SIGHUP)
    for pid in pids.values():
        wait_until(lambda pid=pid: any(f"xtomp[{pid}] INFO xtomp.server: configuration reloaded" in line
                                       for line in master.log), what=f"worker {pid} reloaded")
    assert all(alive(pid) for pid in pids.values())
    os.kill(master.pid, signal.SIGUSR1)
    for pid in pids.values():
        wait_until(lambda pid=pid: any(f"xtomp[{pid}] DEBUG xtomp.server: SIGUSR1" in line for line in master.log),
                   what=f"worker {pid} heard SIGUSR1")
    assert reached(master.port) in ("1", "2")
    assert all(alive(pid) for pid in pids.values()) and worker_pids(master) == pids


def test_only_the_master_talks_to_systemd_once_every_worker_listens(tmp_path: Path, backplane_site: Path):
    """systemd (NotifyAccess=main) hears READY=1 from the master, once; never from a worker."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.settimeout(15)
    name = f"@xtomp-workers-{os.getpid()}-{tmp_path.name}"
    sock.bind("\0" + name[1:])

    def receive() -> tuple[int, str]:
        data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = next(struct.unpack("3i", payload)[0] for level, kind, payload in ancillary
                   if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)
        return pid, data.decode()

    with sock, start_master(tmp_path, backplane_site, env={"NOTIFY_SOCKET": name}) as master:
        pid, state = receive()
        assert pid == master.pid
        assert state.startswith("READY=1\n") and "STATUS=2 workers listening on 127.0.0.1:" in state
        log = "".join(master.log)
        assert "worker 1 of 2 ready" in log and "worker 2 of 2 ready" in log
        os.kill(master.pid, signal.SIGHUP)  # the workers reload too, silently for systemd
        assert receive()[1].startswith("RELOADING=1\n")
        assert receive() == (master.pid, "READY=1")
        for pid in worker_pids(master).values():
            wait_until(lambda pid=pid: any(f"xtomp[{pid}] INFO xtomp.server: configuration reloaded" in line
                                           for line in master.log), what=f"worker {pid} reloaded")
        os.kill(master.pid, signal.SIGTERM)
        assert receive() == (master.pid, "STOPPING=1")
        assert master.process is not None and master.process.wait(15) == 0
        sock.settimeout(0)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)  # nothing more, from anyone
