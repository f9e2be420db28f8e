"""A slim install on a device, offline (README, "Slim install on a device, offline"), works on its
own: xtomp-core + xtomp-topics, no uvloop, no test code, nothing else; and third-party plugins
installed as their own distributions (the four in examples/) are found, enabled and driven;
and xtomp-jwt verifies HS256 tokens with PyJWT alone (no cryptography in that environment).

The wheels come from ``make dist``'s builder (tools/dist.py: pure-Python wheels built from
sdists), pluggy from the wheelhouse ``make install`` fills ($XTOMP_WHEELHOUSE); the virtual
environment is installed from those two directories with ``--no-index``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tools import dist
from xtomp_testing import BrokerProcess, RawClient, stomp_py_connection
from xtomp_testing.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

BROKER_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[2])  # xtomp_testing's runner from the checkout: the slim venv has no test code
from xtomp_core.server.lazyssl import import_asyncio_without_ssl
import_asyncio_without_ssl()  # as the xtomp command does: no ssl (OpenSSL) without a TLS listener
from xtomp_core.bootstrap import build_broker
from xtomp_testing.runner import BrokerThread

broker = BrokerThread(build_broker(sys.argv[1])).start()
print(json.dumps({"port": broker.port, "loop": type(broker.loop).__module__}), flush=True)
sys.stdin.readline()
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"modules": sorted(sys.modules), "rss_kb": rss, "stats": broker.stats()}), flush=True)
sys.stdin.readline()
broker.stop()
"""

SLIM_CONFIG = """
[server]
listen = ["127.0.0.1:0"]

[plugins.topics]

[destinations."/topic/*"]
type = "topic"
"""

BLACKHOLE_CONFIG = SLIM_CONFIG + """
[plugins.blackhole]
label = "void"

[destinations."/dev/null"]
type = "blackhole"
"""


#: The example plugins in examples/xtomp-NAME, each installed as its own distribution.
EXAMPLES = ("blackhole", "lastvalue", "apikeys", "regexfilter")


#: What the device installs: the README's recipe, and the examples for the plugin tests below.
DEVICE = ("xtomp-core", "xtomp-topics")


@pytest.fixture(scope="module")
def slim_python(tmp_path_factory) -> Path:
    wheelhouse = os.environ.get("XTOMP_WHEELHOUSE")
    if not wheelhouse or not Path(wheelhouse).is_dir():
        missing_tool("XTOMP_WHEELHOUSE, the wheels of requirements/slim.txt (`make install` downloads them, `make test` sets it)")
    base = tmp_path_factory.mktemp("slim")
    built = dist.build([*DEVICE, *(f"xtomp-{name}" for name in EXAMPLES), "xtomp-jwt"], base / "dist")
    core_wheel = next(path.name for path in built if path.name.startswith("xtomp_core-"))
    assert core_wheel.endswith("-py3-none-any.whl"), core_wheel  # pure Python: installs on any CPU
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-index",
           "--find-links", str(base / "dist"), "--find-links", wheelhouse]
    # The device's two, the examples, and xtomp-jwt without [crypto]: what each brings is checked below.
    subprocess.run([*pip, *DEVICE, *(f"xtomp-{name}" for name in EXAMPLES), "xtomp-jwt"], check=True)
    return python


def run_broker(python: Path, config_dir: Path, config: str):
    config_dir.mkdir()
    (config_dir / "xtomp.toml").write_text(config)
    process = subprocess.Popen(
        [str(python), "-c", BROKER_SCRIPT, str(config_dir), str(ROOT / "testing")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=config_dir,
    )
    started = json.loads(process.stdout.readline())
    return process, started


def finish(process) -> dict:
    process.stdin.write("\n")
    process.stdin.flush()
    report = json.loads(process.stdout.readline())
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(20) == 0
    return report


def pub_sub(port: int, destination: str) -> list[bytes]:
    with RawClient("127.0.0.1", port) as subscriber, RawClient("127.0.0.1", port) as publisher:
        subscriber.connect()
        subscriber.subscribe(destination)
        publisher.connect()
        publisher.send_frame("SEND", {"destination": destination, "receipt": "r"}, "slim")
        publisher.expect_receipt("r")
        if destination.startswith("/topic/"):
            return [subscriber.expect("MESSAGE").body]
        subscriber.expect_nothing()
        return []


def test_slim_broker_works_and_imports_only_what_is_enabled(slim_python, tmp_path):
    process, started = run_broker(slim_python, tmp_path / "conf", SLIM_CONFIG)
    assert started["loop"].startswith("asyncio")  # no uvloop in a slim install
    assert pub_sub(started["port"], "/topic/slim") == [b"slim"]
    report = finish(process)
    modules = set(report["modules"])
    assert "xtomp_topics" in modules
    examples = tuple(f"xtomp_{name}" for name in EXAMPLES)  # installed, not enabled: not imported
    assert not {m for m in modules if m.startswith((*examples, "uvloop", "stomp", "jwt", "cryptography"))}
    assert not modules & {"xtomp_core.server.tls", "ssl", "_ssl", "hashlib", "_hashlib"}  # no tls:// listener, no login
    assert "logging.handlers" not in modules  # syslog support is imported only when configured
    assert "xtomp_core.protocol._scanner" not in modules  # the py3-none-any wheel: the pure-Python parser
    print(f"slim broker RSS: {report['rss_kb']} KB")
    assert report["rss_kb"] < 40_000


def _readme_recipe_config() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Slim install on a device, offline"):]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match, "README: the offline recipe has no TOML block"
    return match.group(1)


def test_the_readme_recipe_on_a_device(slim_python, tmp_path):
    """No test code and no pytest on the device; the README's config runs; stomp.py gets a message through a topic."""
    probe = (
        "import importlib.metadata as m, importlib.util as u, json, pathlib, xtomp_core\n"
        "print(json.dumps({'dists': sorted(d.metadata['Name'].lower() for d in m.distributions()),\n"
        "  'testing': pathlib.Path(xtomp_core.__file__).with_name('testing').exists(),\n"
        "  'found': [n for n in ('pytest', 'xtomp_testing', 'stomp', 'uvloop') if u.find_spec(n)]}))\n"
    )
    installed = json.loads(subprocess.run([str(slim_python), "-c", probe], capture_output=True, text=True,
                                          check=True, cwd=tmp_path).stdout)
    assert installed["testing"] is False and installed["found"] == []
    assert {"xtomp-core", "xtomp-topics", "pluggy"} <= set(installed["dists"])
    assert not {"pytest", "xtomp-testing", "stomp.py", "cryptography", "uvloop"} & set(installed["dists"])

    text = _readme_recipe_config()
    server = tomllib.loads(text)["server"]
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "xtomp.toml").write_text(text.replace('"0.0.0.0:61613"', '"127.0.0.1:0"'))
    xtomp = slim_python.parent / "xtomp"
    assert subprocess.run([str(xtomp), "-t", "-c", str(conf)], capture_output=True).returncode == 0
    broker = BrokerProcess(conf)
    broker.command = [str(xtomp), "-c", str(conf)]  # the console script the recipe runs
    with broker:
        assert broker.addresses == [("tcp", "127.0.0.1", broker.port)]
        subscriber, heard = stomp_py_connection("127.0.0.1", broker.port)
        publisher, told = stomp_py_connection("127.0.0.1", broker.port)
        subscriber.connect(server["login"], server["passcode"], wait=True)
        subscriber.subscribe("/topic/device", id="1", receipt="subscribed")
        heard.wait_for(lambda: "subscribed" in heard.receipts)
        publisher.connect(server["login"], server["passcode"], wait=True)
        publisher.send("/topic/device", "through the wheelhouse", receipt="sent")
        told.wait_for(lambda: "sent" in told.receipts)
        assert [frame.body for frame in heard.wait_messages(1)] == ["through the wheelhouse"]
        subscriber.disconnect()
        publisher.disconnect()
        assert broker.stop() == 0


def test_third_party_plugin_installed_as_its_own_distribution(slim_python, tmp_path):
    listing = subprocess.run(
        [str(slim_python), "-m", "xtomp_core", "--plugins", "-c", str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "blackhole" in listing and "xtomp-blackhole" in listing
    process, started = run_broker(slim_python, tmp_path / "conf", BLACKHOLE_CONFIG)
    assert pub_sub(started["port"], "/dev/null") == []
    report = finish(process)
    assert report["stats"]["void"] == {"swallowed": 1}
    assert "xtomp_blackhole" in report["modules"]


ROBOT_KEY = "xk_slim-robot-0123456789abcdef"

EXAMPLES_CONFIG = """
[server]
listen = ["127.0.0.1:0"]
authenticators = ["apikeys"]
auth_failure_delay = "0ms"

[plugins.topics]
[plugins.lastvalue]
[plugins.regexfilter]
[plugins.apikeys]
keys_file = "KEYS_FILE"

[destinations."/topic/*"]
type = "topic"

[destinations."/status/*"]
type = "lastvalue"
"""


def test_example_plugins_installed_from_their_sources(slim_python, tmp_path):
    listing = subprocess.run(
        [str(slim_python), "-m", "xtomp_core", "--plugins", "-c", str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert all(f"xtomp-{name}" in listing for name in EXAMPLES)
    keys = tmp_path / "apikeys"
    keys.write_text(f"{ROBOT_KEY} robot ops\n")
    process, started = run_broker(slim_python, tmp_path / "conf", EXAMPLES_CONFIG.replace("KEYS_FILE", str(keys)))
    port = started["port"]
    with RawClient("127.0.0.1", port) as intruder:  # apikeys: a wrong key is refused
        intruder.send_frame("CONNECT", {"accept-version": "1.2", "passcode": "xk_guessed-0123456789abcdef"})
        intruder.expect_error("auth err - unknown API key")
    with RawClient("127.0.0.1", port) as publisher, RawClient("127.0.0.1", port) as late, \
            RawClient("127.0.0.1", port) as eu:
        for client in (publisher, late, eu):
            client.connect(passcode=ROBOT_KEY)  # apikeys: the key logs in
        # lastvalue: the newest message reaches a subscriber that arrives after it
        for body in ("starting", "up"):
            publisher.send_frame("SEND", {"destination": "/status/web", "receipt": body}, body)
            publisher.expect_receipt(body)
        late.subscribe("/status/web")
        assert late.expect("MESSAGE").body == b"up"
        # regexfilter: an x-match subscription receives only the matching messages
        eu.subscribe("/topic/orders", x_match="region~eu-(west|north)-[0-9]")
        for region in ("eu-west-1", "us-east-1", "eu-north-2", "eu-south-1"):
            publisher.send_frame("SEND", {"destination": "/topic/orders", "region": region}, region)
        assert [frame.body for frame in eu.messages(2)] == [b"eu-west-1", b"eu-north-2"]
        eu.expect_nothing()
    report = finish(process)
    assert report["stats"]["apikeys"] == {"keys": 1, "accepted_total": 3, "refused_total": 1}
    [status] = [d for d in report["stats"]["destinations"] if d["dest"] == "/status/web"]
    assert status["type"] == "lastvalue" and status["retained"] == 1
    assert {"xtomp_lastvalue", "xtomp_apikeys", "xtomp_regexfilter"} <= set(report["modules"])


def test_slim_command_line(slim_python, tmp_path):
    config = tmp_path / "xtomp.toml"
    config.write_text(SLIM_CONFIG)
    xtomp = slim_python.parent / "xtomp"
    assert subprocess.run([str(xtomp), "-t", "-c", str(config)], capture_output=True).returncode == 0
    config.write_text(SLIM_CONFIG + "\n[plugins.queues]\n")
    result = subprocess.run([str(xtomp), "-t", "-c", str(config)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "plugins.queues" in result.stderr and "not installed" in result.stderr


JWT_SECRET = "an HS256 key of at least 32 characters"

JWT_CONFIG = f"""
[server]
listen = ["127.0.0.1:0"]
authenticators = ["jwt"]
auth_failure_delay = "0ms"

[plugins.topics]
[plugins.jwt]
secret = "{JWT_SECRET}"

[destinations."/topic/*"]
type = "topic"
"""


def test_jwt_hs256_without_cryptography(slim_python, tmp_path):
    """PyJWT's HMAC algorithms need no cryptography; the public-key ones are a config error naming the fix."""
    import jwt  # the test's own PyJWT signs (with cryptography or not, HS256 tokens are the same)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    probe = "import importlib.util as u; print([n for n in ('jwt', 'cryptography') if u.find_spec(n)])"
    found = subprocess.run([str(slim_python), "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "['jwt']"
    process, started = run_broker(slim_python, tmp_path / "conf", JWT_CONFIG)
    token = jwt.encode({"sub": "sensor-7", "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "sensor-7", "exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256")
    with RawClient("127.0.0.1", started["port"]) as client:
        client.connect(passcode=token)
    with RawClient("127.0.0.1", started["port"]) as client:
        client.send_frame("CONNECT", {"accept-version": "1.2", "passcode": forged})
        client.expect_error("auth err - invalid token")
    report = finish(process)
    assert "xtomp_jwt" in report["modules"] and "jwt" in report["modules"]
    assert not [m for m in report["modules"] if m.split(".")[0] == "cryptography"]

    pem = tmp_path / "issuer.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    config = tmp_path / "rs.toml"
    config.write_text(JWT_CONFIG.replace(f'secret = "{JWT_SECRET}"', f'public_key_file = "{pem}"\nalgorithms = ["ES256"]'))
    result = subprocess.run([str(slim_python.parent / "xtomp"), "-t", "-c", str(config)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{config}" in result.stderr and "plugins.jwt.algorithms: ES256 needs the cryptography package" in result.stderr
    assert "pip install 'xtomp-jwt[crypto]'" in result.stderr and "Traceback" not in result.stderr
