"""Test support for xtomp and its plugins: run a real broker, talk to it over real sockets.

The pytest plugin in :mod:`xtomp_core.testing.fixtures` (entry point ``pytest11``) offers
fixtures built on these pieces; plugin test suites get them by installing xtomp-core.
"""

from ..protocol.frame import Frame
from .client import RawClient, ServerFrameParser, frame_bytes, unread_subscriber
from .memory import FakeClient, FakeLink, InMemoryBroker, check_config, load_broker
from ..security.passwords import hash_password
from .pki import Pem, TestPKI
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
