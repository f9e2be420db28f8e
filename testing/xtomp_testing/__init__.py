"""Test support for xtomp and its plugins: run a real broker, talk to it over real sockets.

The pytest plugin in :mod:`xtomp_testing.fixtures` (entry point ``pytest11``) offers
fixtures built on these pieces; plugin test suites get them by installing xtomp-testing
(a development dependency: xtomp-core itself carries no test code).
"""

from xtomp_core.protocol.frame import Frame
from xtomp_core.security.passwords import hash_password

from .client import RawClient, ServerFrameParser, frame_bytes, unread_subscriber
from .memory import FakeClient, FakeLink, InMemoryBroker, check_config, load_broker
from .pki import Pem, TestPKI
from .redis import RedisServer
from .runner import BASE_CONFIG, BrokerProcess, BrokerThread, start_broker, write_config
from .stomppy import Recorder, stomp_py_connection
from .waiting import reserved_port, wait_until

__all__ = [
    "BASE_CONFIG",
    "BrokerProcess",
    "BrokerThread",
    "FakeClient",
    "Frame",
    "FakeLink",
    "InMemoryBroker",
    "Pem",
    "RawClient",
    "Recorder",
    "RedisServer",
    "ServerFrameParser",
    "TestPKI",
    "check_config",
    "frame_bytes",
    "hash_password",
    "load_broker",
    "reserved_port",
    "start_broker",
    "stomp_py_connection",
    "unread_subscriber",
    "wait_until",
    "write_config",
]
