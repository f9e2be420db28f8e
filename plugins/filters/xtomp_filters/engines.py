"""The two filter engines: ``header`` (xtomp's ``filter:NAME=VALUE``) and ``selector`` (SQL-92).

Both compile a SUBSCRIBE header once into an object the core's SubscriberIndex uses per
message (the Filter protocol: ``__call__(headers)``, ``index_key``, ``exact``). The
selector compiler (:mod:`xtomp_filters.selector`) is imported by the first ``compile``
call that needs it, never at registration: a broker whose clients send no selector
never loads the parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from xtomp_core import FrameRejected, record

from .names import header_name_problem

if TYPE_CHECKING:
    from xtomp_core import Destination, Filter

__all__ = ["FilterSettings", "HeaderEngine", "HeaderFilter", "SelectorEngine", "FilterRefused", "InvalidSelector"]


class FilterRefused(FrameRejected):
    """A filter the destination does not allow, or a malformed ``filter`` header.

    Keeps xtomp's code for filter errors, ``dest flup``, for scripts that match on it.
    """

    code = "dest flup"


class InvalidSelector(FrameRejected):
    """A selector that does not parse, does not type-check, or breaks a limit."""

    code = "invalid selector"


@record(frozen=True)
class FilterSettings:
    """``[plugins.filters]``, converted once at start-up (frozen: compared, hashed and shown by
    its fields, as the dataclass it was)."""

    __slots__ = ("header", "selector", "selector_max_length", "selector_max_depth")
    header: bool
    selector: bool
    selector_max_length: int
    selector_max_depth: int

    def __init__(
        self, header: bool = True, selector: bool = True, selector_max_length: int = 4096, selector_max_depth: int = 32
    ) -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "selector", selector)
        object.__setattr__(self, "selector_max_length", selector_max_length)
        object.__setattr__(self, "selector_max_depth", selector_max_depth)


def _show(raw: bytes, limit: int = 60) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("..." if len(raw) > limit else "")


def _check_allowed(destination: Destination) -> None:
    if destination.settings["filter"] == "off":
        raise FilterRefused(f"filters are off on {_show(destination.name)}: subscribe without filter or selector")


class HeaderFilter:
    """``filter:NAME=VALUE``: the message's NAME header equals VALUE. Exact: the index alone decides."""

    __slots__ = ("index_key", "exact", "_name", "_value")

    def __init__(self, name: bytes, value: bytes) -> None:
        self.index_key: tuple[bytes, bytes] | None = (name, value)
        self.exact = True
        self._name = name
        self._value = value

    def __call__(self, headers: Mapping[bytes, bytes]) -> bool:
        return headers.get(self._name) == self._value

    def __repr__(self) -> str:
        return f"HeaderFilter({self._name!r}={self._value!r})"


class HeaderEngine:
    """xtomp's subscription filters, with its bugs fixed.

    The SUBSCRIBE header ``filter:NAME=VALUE`` selects the messages whose NAME header is
    exactly VALUE. NAME is the message header to match (any header name); where a
    destination sets ``filter_header``, NAME must be that header. Matching is exact and
    byte for byte, never by prefix.
    """

    header = b"filter"

    def __init__(self) -> None:
        self.settings = FilterSettings()

    def configure(self, settings: FilterSettings) -> None:
        self.settings = settings

    def compile(self, value: bytes, destination: Destination) -> Filter:
        if not self.settings.header:
            raise FilterRefused("filter headers are not enabled on this broker")
        _check_allowed(destination)
        name, equals, wanted = value.partition(b"=")
        if not equals:
            raise FilterRefused(f"invalid filter {_show(value)!r}: expected NAME=VALUE, as in filter:colour=blue")
        configured = destination.settings["filter_header"]
        if configured is not None and name != configured.encode():
            raise FilterRefused(
                f"{_show(destination.name)} filters on the {configured} header: use filter:{configured}=VALUE"
            )
        if b" " in name or b"\t" in name:
            raise FilterRefused(f"invalid filter {_show(value)!r}: no spaces in the header name or around '='")
        problem = header_name_problem(name)
        if problem is not None:
            raise FilterRefused(f"invalid filter {_show(value)!r}: {problem}")
        return HeaderFilter(name, wanted)

    def check_unfiltered(self, destination: Destination) -> None:
        """A SUBSCRIBE with neither ``filter`` nor ``selector``: refused where ``filter = "required"``."""
        if destination.settings["filter"] == "required":
            ways = []
            if self.settings.header:
                ways.append(f"filter:{destination.settings['filter_header'] or 'NAME'}=VALUE")
            if self.settings.selector:
                ways.append("selector:EXPRESSION")
            raise FilterRefused(f"{_show(destination.name)} requires a filter: subscribe with {' or '.join(ways)}")


class SelectorEngine:
    """JMS/SQL-92 message selectors on the SUBSCRIBE header ``selector`` (see the plugin README)."""

    header = b"selector"

    def __init__(self) -> None:
        self.settings = FilterSettings()

    def configure(self, settings: FilterSettings) -> None:
        self.settings = settings

    def check_unfiltered(self, destination: Destination) -> None:
        """``filter = "required"`` is enforced once, by the header engine."""

    def compile(self, value: bytes, destination: Destination) -> Filter:
        settings = self.settings
        if not settings.selector:
            raise InvalidSelector("selectors are not enabled on this broker")
        _check_allowed(destination)
        if len(value) > settings.selector_max_length:
            raise InvalidSelector(
                f"the selector is {len(value)} bytes long, more than selector_max_length ({settings.selector_max_length})"
            )
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidSelector(f"at byte {error.start + 1}: the selector is not valid UTF-8") from None
        from .selector import SelectorError, compile_selector  # the parser loads on first use

        try:
            return compile_selector(text, settings.selector_max_depth)
        except SelectorError as error:
            raise InvalidSelector(str(error)) from None
