"""Example xtomp plugin: ``regexfilter``, subscriptions filtered by a regular expression on one header.

A SUBSCRIBE with the header ``x-match:HEADER~REGEX`` receives only the messages whose
HEADER value, decoded as UTF-8, matches REGEX as a whole (Python's ``re.fullmatch``)::

    SUBSCRIBE
    destination:/topic/orders
    id:eu
    x-match:region~eu-(west|north)-[0-9]

A message without that header, or whose value is not UTF-8, does not match. Enable it with
its table (``max_length`` is optional)::

    [plugins.regexfilter]
    max_length = 256

It shows the filter engine contract:

* the engine names the SUBSCRIBE header it reads and compiles its value **once per
  SUBSCRIBE** into a :class:`~xtomp_core.Filter`, which the destination then calls per
  message: everything that can be decided or prepared up front is done in ``compile``;
* an invalid value is refused with a ``FrameRejected`` (the client gets one ERROR saying
  what is wrong), never with a filter that silently matches nothing;
* a pattern that is a plain string (``x-match:region~eu-west``) is an equality: its filter
  says so with ``index_key = (header, value)`` and ``exact = True``, and the destination's
  subscriber index then finds it with one dict lookup per message, without calling it;
* settings reach the registered engine from ``xtomp_configure``, through
  ``BrokerView.registered``.

A caution that applies to any regex filter: Python's ``re`` backtracks, so a pattern such as
``(a+)+$`` can take exponential time on a hostile header value, on the broker's event loop.
``max_length`` bounds what a client may send, not what a pattern may cost: enable this for
clients you trust.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xtomp_core import (
    NOT_FORWARDED,
    BrokerView,
    Config,
    Destination,
    DirectiveSet,
    Filter,
    FrameRejected,
    Registrar,
    hookimpl,
    plugin_scope,
)

__all__ = ["InvalidMatch", "LiteralMatch", "RegexEngine", "RegexMatch"]

PLUGIN = "regexfilter"
#: The name the engine is registered under (``BrokerView.registered("filter engine", ENGINE)``).
ENGINE = "regex"
HEADER = b"x-match"
DEFAULT_MAX_LENGTH = 256

#: SEND headers the broker consumes (receipt, transaction...) never reach a subscriber, so a
#: filter on one could never match: refuse it rather than deliver nothing, silently.
CONSUMED = NOT_FORWARDED - {b"destination"}
_FORBIDDEN_IN_NAMES = re.compile(r"[\x00-\x20:\x7f]")


class InvalidMatch(FrameRejected):
    """An ``x-match`` value that cannot be compiled; the ERROR reads ``invalid x-match - ...``."""

    code = "invalid x-match"


class LiteralMatch:
    """``HEADER~VALUE`` without regex metacharacters: the header equals VALUE.

    ``exact``: the index alone decides, so this is called only by code that checks one
    message by hand (a last-value topic handing a new subscriber its retained message).
    """

    __slots__ = ("index_key", "exact", "name", "value")

    def __init__(self, name: bytes, value: bytes) -> None:
        self.index_key: tuple[bytes, bytes] | None = (name, value)
        self.exact = True
        self.name = name
        self.value = value

    def __call__(self, headers: Mapping[bytes, bytes]) -> bool:
        return headers.get(self.name) == self.value

    def __repr__(self) -> str:
        return f"LiteralMatch({self.name!r}={self.value!r})"


class RegexMatch:
    """``HEADER~REGEX``: called for every message of the destination (no index key)."""

    __slots__ = ("index_key", "exact", "name", "pattern", "fullmatch")

    def __init__(self, name: bytes, pattern: re.Pattern[str]) -> None:
        self.index_key: tuple[bytes, bytes] | None = None
        self.exact = False
        self.name = name
        self.pattern = pattern
        # The bound method, looked up once here rather than per message.
        self.fullmatch = pattern.fullmatch

    def __call__(self, headers: Mapping[bytes, bytes]) -> bool:
        value = headers.get(self.name)
        if value is None:
            return False
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return False  # a pattern over text cannot match bytes that are not text
        return self.fullmatch(text) is not None

    def __repr__(self) -> str:
        return f"RegexMatch({self.name!r}~{self.pattern.pattern!r})"


def _show(text: str, limit: int = 60) -> str:
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class RegexEngine:
    """The :class:`~xtomp_core.FilterEngine` for the ``x-match`` header."""

    header = HEADER

    def __init__(self) -> None:
        self.max_length = DEFAULT_MAX_LENGTH

    def configure(self, max_length: int) -> None:
        self.max_length = max_length

    def compile(self, value: bytes, destination: Destination) -> Filter:
        # Check the length first: everything after it costs in proportion to it.
        if len(value) > self.max_length:
            raise InvalidMatch(f"the header is {len(value)} bytes long, more than max_length ({self.max_length})")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidMatch(f"at byte {error.start + 1}: the header is not valid UTF-8") from None
        name, tilde, pattern = text.partition("~")
        if not tilde:
            raise InvalidMatch(f"{_show(text)}: expected HEADER~REGEX, as in x-match:region~eu-(west|north)")
        if not name:
            raise InvalidMatch(f"{_show(text)}: the header name before '~' is empty")
        if _FORBIDDEN_IN_NAMES.search(name):
            raise InvalidMatch(f"{_show(name)}: a header name has no spaces, colons or control characters")
        header = name.encode()
        if header in CONSUMED:
            raise InvalidMatch(f"the broker consumes the {name} header of a SEND: no subscriber ever sees it")
        # re.escape leaves a string unchanged only when it holds no character that is special
        # in a pattern: then the pattern can only ever match itself, an equality the
        # subscriber index serves in O(1). (It escapes a few harmless characters too, such as
        # "-" and " ": those patterns take the general path, correct if slower.)
        if re.escape(pattern) == pattern:
            return LiteralMatch(header, pattern.encode())
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            where = f" at position {error.pos + 1}" if error.pos is not None else ""
            raise InvalidMatch(f"{_show(pattern)} is not a valid regular expression: {error.msg}{where}") from None
        return RegexMatch(header, compiled)

    def check_unfiltered(self, destination: Destination) -> None:
        # Called for each SUBSCRIBE that carries no filter header of any engine. A SUBSCRIBE
        # without x-match simply takes every message, so there is nothing to refuse; an engine
        # whose destinations insisted on a filter would raise FrameRejected here.
        return None


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "max_length", "size", DEFAULT_MAX_LENGTH, plugin_scope(PLUGIN),
        "Longest x-match header accepted, in bytes; a longer one gets ERROR \"invalid x-match\".",
        minimum=3, maximum=65536,
    )


@hookimpl
def xtomp_register_filter_engines(registry: Registrar[Any]) -> None:
    # One engine object per broker (this hook runs once per broker built): its settings
    # are set by xtomp_configure below, which runs after every registry is built.
    registry.register(ENGINE, RegexEngine())


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    engine = broker.registered("filter engine", ENGINE)
    assert isinstance(engine, RegexEngine)  # this plugin registered it; no other may use the name
    engine.configure(config.plugins[PLUGIN]["max_length"])
