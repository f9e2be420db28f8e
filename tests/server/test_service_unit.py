"""packaging/xtomp.service: the hardening it promises, and ``systemd-analyze verify`` on it.

systemd cannot run in the test environment (it is not PID 1 there), so the unit is checked
statically: its settings parsed here, and, where ``systemd-analyze`` is installed, verified
by systemd itself (with ExecStart pointed at this environment's ``xtomp``, which must exist).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "xtomp.service"


def settings() -> dict[str, list[str]]:
    """Key -> every value it is given (systemd allows repeated keys), comments dropped."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_is_a_notify_service_that_reloads_with_sighup() -> None:
    unit = settings()
    assert unit["Type"] == ["notify"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["ExecStart"] == ["/opt/xtomp/bin/xtomp -c /etc/xtomp"]
    assert unit["RuntimeDirectory"] == ["xtomp"]  # /run/xtomp, for pid_file


def test_the_unit_is_sandboxed_with_nowhere_to_write() -> None:
    unit = settings()
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "DynamicUser": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
        "ReadOnlyPaths": "/etc/xtomp",
        "PrivateDevices": "yes",
        "RestrictNamespaces": "yes",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert "ReadWritePaths" not in unit and "StateDirectory" not in unit and "LogsDirectory" not in unit
    assert "CacheDirectory" not in unit


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # no systemd on this machine: the two tests above are the check
        return
    xtomp = Path(sys.executable).parent / "xtomp"
    assert xtomp.exists(), "the xtomp script of this environment"
    copy = tmp_path / "xtomp.service"
    copy.write_text(UNIT.read_text().replace("/opt/xtomp/bin/xtomp", str(xtomp)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
