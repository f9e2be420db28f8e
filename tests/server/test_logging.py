"""Logs go to stderr or syslog, at the configured level; nothing is written to files."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import pytest

from xtomp_core.bootstrap import load_config
from xtomp_core.server.logs import configure_logging
from xtomp_testing import write_config


@pytest.fixture
def restore_logging():
    logger = logging.getLogger("xtomp")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_syslog_over_udp(tmp_path, restore_logging):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    config, _ = load_config(write_config(
        tmp_path, f'[server]\nlog_target = "syslog"\nsyslog_address = "127.0.0.1:{port}"\n'
        'syslog_facility = "local3"\nlog_level = "warning"\n'
    ))
    configure_logging(config.server)
    logging.getLogger("xtomp.test").info("not at this level")
    logging.getLogger("xtomp.test").warning("hello syslog")
    datagram = receiver.recv(4096).decode()
    # <PRI> = facility local3 (19) * 8 + warning (4)
    assert datagram.startswith("<156>xtomp[") and "WARNING xtomp.test: hello syslog" in datagram
    receiver.close()


def test_stderr_lines_and_level(tmp_path):
    script = (
        "import logging, sys\n"
        "from xtomp_core.bootstrap import load_config\n"
        "from xtomp_core.server.logs import configure_logging\n"
        "config, _ = load_config(sys.argv[1])\n"
        "configure_logging(config.server)\n"
        "logging.getLogger('xtomp.x').debug('shown at debug')\n"
        "logging.getLogger('other').warning('not ours')\n"
    )
    directory = write_config(tmp_path, '[server]\nlog_level = "debug"\n')
    result = subprocess.run([sys.executable, "-c", script, str(directory)], capture_output=True, text=True, check=True)
    lines = result.stderr.strip().splitlines()
    [ours] = [line for line in lines if "xtomp.x" in line]
    assert ours.endswith("DEBUG xtomp.x: shown at debug") and ours.split()[2].startswith("xtomp[")
    assert "not ours" in lines  # other loggers keep Python's defaults: ours does not propagate
    assert result.stdout == ""
