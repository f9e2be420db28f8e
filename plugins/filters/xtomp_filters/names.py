"""Which message header names a filter may name: shared by the header and selector engines."""

from __future__ import annotations

from xtomp_core import NOT_FORWARDED

__all__ = ["CONSUMED", "header_name_problem"]

#: SEND headers the broker consumes (receipt, transaction, content-length...): they never
#: reach a subscriber, so a filter on one could only ever see the publisher's bookkeeping.
CONSUMED = NOT_FORWARDED - {b"destination"}

_FORBIDDEN = bytes(range(0x20)) + b":\x7f"


def header_name_problem(name: bytes) -> str | None:
    """Why ``name`` cannot be filtered on, or None when it can."""
    if not name:
        return "the header name is empty"
    if len(name.translate(None, _FORBIDDEN)) != len(name):
        return f"the header name {name.decode('utf-8', 'replace')!r} contains a colon or a control character"
    if name in CONSUMED:
        return (
            f"the broker consumes the {name.decode()} header of a SEND, so it never reaches subscribers "
            "and cannot be filtered on"
        )
    return None
