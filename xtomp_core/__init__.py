"""xtomp: a small, fast, in-memory STOMP broker. This module is the whole public API for plugin authors.

Everything a plugin needs is importable from here (``from xtomp_core import ...``);
``xtomp_testing`` (the xtomp-testing distribution) adds pytest fixtures for its tests. Every other module is the
broker's own and may change without notice. ``tests/test_public_api.py`` snapshots the
names and signatures below, so a change to them is always deliberate.
"""

from ._record import FrozenInstanceError, record
from ._version import __version__
from .config.directives import DESTINATION, SERVER, Directive, DirectiveSet, plugin_scope
from .config.listen import listen_host, parse_listen
from .config.loader import default_config_path, read_config
from .config.model import Config, Section
from .destination import (
    DeferredReceipt,
    Destination,
    DestinationContext,
    MemoryAccount,
    Session,
    Subscription,
    prefetch_window,
)
from .errors import (
    AuthRejected,
    Blocked,
    ConfigError,
    DestinationFull,
    DestinationUnknown,
    FrameRejected,
    LimitExceeded,
    ProtocolError,
    StartupError,
    XtompError,
)
from .hookspecs import hookimpl
from .interfaces import (
    AuthContext,
    Authenticator,
    AuthenticatorFactory,
    BrokerView,
    DestinationFactory,
    FilterEngine,
    FramedStream,
    Framing,
    SendHeaderRewrite,
    SessionDestinationResolver,
    Transport,
    TransportContext,
)
from .limits import Limits
from .message import Message
from .primitives import Filter, Link, ListenAddress, Principal, Server, Stash, StashKey
from .protocol.constants import NOT_FORWARDED, V1_0, V1_1, V1_2
from .registry import Registrar
from .routing import SubscriberIndex

__all__ = [
    "DESTINATION",
    "NOT_FORWARDED",
    "SERVER",
    "V1_0",
    "V1_1",
    "V1_2",
    "AuthContext",
    "AuthRejected",
    "Authenticator",
    "AuthenticatorFactory",
    "Blocked",
    "BrokerView",
    "Config",
    "ConfigError",
    "DeferredReceipt",
    "Destination",
    "DestinationContext",
    "DestinationFactory",
    "DestinationFull",
    "DestinationUnknown",
    "Directive",
    "DirectiveSet",
    "Filter",
    "FilterEngine",
    "FrameRejected",
    "FramedStream",
    "Framing",
    "FrozenInstanceError",
    "LimitExceeded",
    "Limits",
    "Link",
    "ListenAddress",
    "MemoryAccount",
    "Message",
    "Principal",
    "ProtocolError",
    "Registrar",
    "Section",
    "SendHeaderRewrite",
    "Server",
    "Session",
    "SessionDestinationResolver",
    "StartupError",
    "Stash",
    "StashKey",
    "SubscriberIndex",
    "Subscription",
    "Transport",
    "TransportContext",
    "XtompError",
    "__version__",
    "default_config_path",
    "hookimpl",
    "listen_host",
    "parse_listen",
    "plugin_scope",
    "prefetch_window",
    "read_config",
    "record",
]
