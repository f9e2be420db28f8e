"""xtomp: a small, fast, in-memory STOMP broker. The public API for plugin authors."""

from ._version import __version__
from .broker.destination import Destination
from .broker.message import Message
from .broker.session import Session
from .broker.subscription import Subscription
from .config.directives import DESTINATION, SERVER, Directive, DirectiveSet, plugin_scope
from .errors import (
    AuthRejected,
    Blocked,
    ConfigError,
    DestinationFull,
    DestinationUnknown,
    FrameRejected,
    LimitExceeded,
    ProtocolError,
    XtompError,
)
from .hookspecs import hookimpl
from .interfaces import Authenticator, Filter, FilterEngine, Link, ListenAddress, Principal, Transport

__all__ = [
    "AuthRejected",
    "Authenticator",
    "Blocked",
    "ConfigError",
    "DESTINATION",
    "Destination",
    "DestinationFull",
    "DestinationUnknown",
    "Directive",
    "DirectiveSet",
    "Filter",
    "FilterEngine",
    "FrameRejected",
    "LimitExceeded",
    "Link",
    "ListenAddress",
    "Message",
    "Principal",
    "ProtocolError",
    "SERVER",
    "Session",
    "Subscription",
    "Transport",
    "XtompError",
    "__version__",
    "hookimpl",
    "plugin_scope",
]
