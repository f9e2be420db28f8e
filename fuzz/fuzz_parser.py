"""Fuzz target (atheris/libFuzzer): the STOMP parser and a whole Session, fed arbitrary bytes.

Properties checked for every input:

* ``FrameParser`` raises nothing but ``ProtocolError``, and what it yields (frames, then
  possibly an error, then its buffered state) does not depend on how the bytes were split:
  whole, at fuzzer-chosen points, and byte by byte.
* A ``Session`` (the broker's real frame handling, with topics and small limits, over a
  recording link as ``bench/micro.py`` uses) never reaches its "internal error" path: every
  refusal is one of the broker's own errors, and after an ERROR the session is closed.
  Half the inputs go to a broker with authentication (static login, xtomp tokens) and
  access rules, so hostile CONNECT headers reach the authenticators.

``make fuzz`` runs it for ``FUZZ_SECONDS`` (CI: 60 s) from the seeds in ``fuzz/seeds``;
new corpus entries and crash artifacts go to ``.cache/fuzz`` (never into the tree).
``tests/protocol/test_fuzz_target.py`` runs the same checks on the seeds and on hypothesis
inputs in ``make test``, so the target cannot rot while atheris is not installed.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from xtomp_core.bootstrap import build_broker
from xtomp_core.broker.session import Session
from xtomp_core.errors import ProtocolError
from xtomp_core.protocol.constants import V1_0, V1_1, V1_2
from xtomp_core.protocol.parser import FrameParser
from xtomp_testing import FakeLink, write_config

VERSIONS = (V1_0, V1_1, V1_2)
LIMITS = {"max_frame_size": 256, "max_headers": 8, "max_header_length": 64}

BROKER_CONFIG = """
[server]
max_frame_size = "2k"
max_frame_size_unauthenticated = "1k"
max_headers = 8
max_header_length = "256"
max_subscriptions = 8
max_transactions = 4
max_transaction_frames = 16
max_destinations = 32

[destination_defaults]
max_message_size = "512"

[destinations."memq"]
type = "topic"
"""

#: The same broker with the synchronous authenticators (static login, xtomp tokens) and
#: access rules, so hostile CONNECT headers reach them too.
AUTH_CONFIG = BROKER_CONFIG.replace("[server]\n", """[server]
login = "guest"
passcode = "guest"
secret = "0123456789abcdef-fuzz"
auth_failure_delay = "0ms"
auth_max_failures = 0
""") + """
[destinations."/topic/ro.*"]
type = "topic"
allow_send = ["nobody"]
allow_create = ["guest"]
"""


class InternalError(AssertionError):
    """The broker logged an internal error (a bug) while handling fuzz input."""


class _Tripwire(logging.Handler):
    """Turns the session's "internal error" log record into an exception for the fuzzer."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            raise InternalError(record.getMessage()) from (record.exc_info[1] if record.exc_info else None)


_brokers: dict[bool, Any] = {}


def _get_broker(auth: bool = False) -> Any:
    broker = _brokers.get(auth)
    if broker is None:
        directory = write_config(Path(tempfile.mkdtemp(prefix="xtomp-fuzz-")), AUTH_CONFIG if auth else BROKER_CONFIG)
        broker = _brokers[auth] = build_broker(directory)
    return broker


def split(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({min(max(point, 0), len(data)) for point in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(cuts, cuts[1:])] or [b""]


def parse(version: int, pieces: list[bytes]) -> tuple[list[tuple[bytes, dict[bytes, bytes], bytes]], str, int, bool]:
    parser = FrameParser(version=version, **LIMITS)
    frames = []
    try:
        for piece in pieces:
            for frame in parser.feed(piece):
                frames.append((frame.command, dict(frame.headers), frame.body))
    except ProtocolError as error:
        # Which limit is reported may depend on the split (a whole head is checked limit by
        # limit, a trickled one line by line), so only the fact of the error is compared,
        # as tests/protocol/test_parser.py does.
        if not str(error).startswith("syntax - "):
            raise AssertionError(f"a ProtocolError without xtomp's code: {error}") from None
        return frames, "error", -1, False
    return frames, "", parser.buffered, parser.in_frame


def check_parser(version: int, data: bytes, points: list[int]) -> None:
    whole = parse(version, [data])
    pieces = parse(version, split(data, points))
    if pieces != whole:
        raise AssertionError(f"split at {points} changed the outcome:\n{whole}\n{pieces}")
    if len(data) <= 512:
        bytewise = parse(version, [data[i : i + 1] for i in range(len(data))])
        if bytewise != whole:
            raise AssertionError(f"byte by byte changed the outcome:\n{whole}\n{bytewise}")


def check_session(data: bytes, points: list[int], auth: bool = False) -> FakeLink:
    link = FakeLink("fuzz")
    session = Session(_get_broker(auth), link)  # type: ignore[arg-type]
    try:
        for piece in split(data, points):
            session.receive(piece)
    finally:
        session.connection_lost("fuzz input ended")
    errors = [frame for frame in link.written if frame.startswith(b"ERROR\n")]
    if any(b"internal error" in frame for frame in errors):
        raise InternalError(errors[-1][:300].decode("latin-1"))
    if errors and link.closed is None:
        raise AssertionError("an ERROR was sent but the session did not close")
    if len(errors) > 1:
        raise AssertionError(f"{len(errors)} ERROR frames: a session sends one, then closes")
    return link


def one_input(data: bytes) -> None:
    """Interpret the first bytes as a version, a broker and split points, the rest as the stream."""
    if len(data) < 3:
        return
    version = VERSIONS[data[0] % 3]
    points = [data[1] * 7 % 600, data[2] * 13 % 600]
    payload = data[3:]
    check_parser(version, payload, points)
    check_session(payload, points, auth=bool(data[0] // 3 % 2))


def main() -> None:
    import atheris

    xtomp_log = logging.getLogger("xtomp")
    xtomp_log.addHandler(_Tripwire())  # an internal error (logged with its traceback) is a crash
    xtomp_log.setLevel(logging.ERROR)  # refusals log at INFO: keep the fuzzer's output readable
    xtomp_log.propagate = False
    _get_broker(False)
    _get_broker(True)
    atheris.instrument_all()  # every module loaded so far, xtomp_core included
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
