"""The broker's error tree: each class maps to one kind of ERROR frame or start-up failure."""

from __future__ import annotations

__all__ = [
    "XtompError",
    "ConfigError",
    "ProtocolError",
    "FrameRejected",
    "DestinationUnknown",
    "DestinationFull",
    "LimitExceeded",
    "Blocked",
    "AuthRejected",
    "StartupError",
]


class XtompError(Exception):
    """Base of every error the broker raises on purpose.

    ``str(error)`` is the text a client sees in the ERROR frame's ``message`` header, so it
    must never carry internal details (paths, exception reprs of unrelated code).
    """

    #: xtomp's short error code, kept as the first word(s) of the message for clients that
    #: match on it (``q flup``, ``auth err``...). Empty when xtomp had no such error.
    code: str = ""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(self.text())

    def text(self) -> str:
        if self.code and self.detail:
            return f"{self.code} - {self.detail}"
        return self.detail or self.code or type(self).__name__


class ConfigError(XtompError):
    """The configuration is invalid; the message names the file and the key."""


class ProtocolError(XtompError):
    """The client broke the STOMP framing rules; the connection cannot continue."""

    code = "syntax"


class FrameRejected(XtompError):
    """A well-formed frame that the broker refuses (bad header value, unknown id...)."""


class DestinationUnknown(XtompError):
    """No destination of that name is configured, and no prefix rule or plugin creates it."""

    code = "destination unknown"


class DestinationFull(XtompError):
    """A destination holds ``max_messages`` and its policy is to refuse more."""

    code = "q flup"


class LimitExceeded(XtompError):
    """A declared limit was hit; ``code`` is set per instance to xtomp's text for it."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        super().__init__(detail)


class Blocked(XtompError):
    """``web_read_block`` / ``web_write_block`` (or an access rule) refused the operation."""

    code = "blocked"


class AuthRejected(XtompError):
    """CONNECT refused (an authenticator may raise it to refuse at once, with its reason)."""

    code = "auth err"


class StartupError(XtompError):
    """A listener could not be started (address in use, permission denied...)."""
