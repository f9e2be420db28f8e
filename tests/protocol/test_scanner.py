"""The optional C frame scanner (_scanner.c) against the pure-Python parser, its reference.

The rest of tests/protocol runs every case against both implementations (conftest.py). Here:
the scanner's own contract (complete valid frames only, stop at the frame's start for
anything else, never raise), how it is switched on and off, and a differential property test:
random and near-valid streams, cut anywhere, under random limits, versions and command sets,
with settings changed between frames, must give the same frames, the same error text (or
none) and the same partial-frame state with and without the scanner.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from splits import bytewise, cut

from xtomp_core.errors import ProtocolError
from xtomp_core.protocol import parser as parser_module
from xtomp_core.protocol.constants import BODY_COMMANDS, CLIENT_COMMANDS, SERVER_COMMANDS, V1_0, V1_1, V1_2
from xtomp_core.protocol.escape import escape
from xtomp_core.protocol.frame import Frame
from xtomp_core.protocol.parser import (
    _NEVER_ESCAPED,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_HEADER_LENGTH,
    DEFAULT_MAX_HEADERS,
    FrameParser,
)
from xtomp_testing.tools import missing_tool

try:
    from xtomp_core.protocol import _scanner
except ImportError:  # pragma: no cover - a machine without a C compiler
    _scanner = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
SEND = b"SEND\ndestination:/queue/a\n\nhello\x00"
SEND_FRAME = Frame(b"SEND", {b"destination": b"/queue/a"}, b"hello")
DEFAULTS = (V1_2, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEADER_LENGTH, CLIENT_COMMANDS, Frame)


@pytest.fixture(autouse=True)
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Overrides conftest's: these tests compare the two implementations themselves, and
    FrameParser uses the scanner unless a test says otherwise."""
    if _scanner is None:
        if request.node.name == "test_scanner_is_built_where_a_compiler_is":
            return "none"
        missing_tool("the C scanner (xtomp_core.protocol._scanner): install a C compiler and Python's headers "
                     "(Debian: apt-get install gcc python3-dev), then `pip install -e .` again")
    monkeypatch.setattr(parser_module, "_scan", _scanner.scan)
    return "both"


def scan(buf: bytes, pos: int = 0, *settings: Any) -> tuple[Frame | None, int]:
    return _scanner.scan(buf, pos, *(settings or DEFAULTS))


# -- building and switching --------------------------------------------------------------------


def _compiler_available() -> bool:
    include = sysconfig.get_paths()["include"]
    return shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is not None and Path(
        include, "Python.h"
    ).is_file()


def test_scanner_is_built_where_a_compiler_is() -> None:
    """``optional = true`` hides a failed build; here it shows: a compiler and no scanner fails."""
    if not _compiler_available():
        missing_tool("a C compiler and Python's headers (Debian: apt-get install gcc python3-dev)")
    assert _scanner is not None, "a compiler is here, yet the C scanner was not built: see `pip install -e . -v`"


def _scan_in_fresh_interpreter(**environ: str) -> str:
    code = "from xtomp_core.protocol import parser; print(parser._scan)"
    env = {key: value for key, value in os.environ.items() if key != "XTOMP_PURE_PYTHON"}
    result = subprocess.run(
        [sys.executable, "-c", code], env={**env, **environ}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_parser_uses_the_scanner_by_default() -> None:
    assert _scan_in_fresh_interpreter() == "<built-in function scan>"
    assert _scan_in_fresh_interpreter(XTOMP_PURE_PYTHON="0") == "<built-in function scan>"


def test_xtomp_pure_python_forces_the_python_parser() -> None:
    assert _scan_in_fresh_interpreter(XTOMP_PURE_PYTHON="1") == "None"


def test_hardcoded_command_sets_match_the_python_ones() -> None:
    assert frozenset(_scanner.BODY_COMMANDS) == BODY_COMMANDS
    assert frozenset(_scanner.NEVER_ESCAPED) == _NEVER_ESCAPED


# -- the scanner's contract ----------------------------------------------------------------------


def test_one_frame_and_the_offset_after_it() -> None:
    frame, end = scan(SEND + SEND)
    assert frame == SEND_FRAME
    assert type(frame) is Frame
    assert end == len(SEND)
    assert scan(SEND + SEND, end) == (SEND_FRAME, 2 * len(SEND))
    assert scan(SEND + SEND, 2 * len(SEND)) == (None, 2 * len(SEND))


def test_eols_before_a_frame_are_skipped() -> None:
    assert scan(b"\r\n\n" + SEND) == (SEND_FRAME, 3 + len(SEND))
    assert scan(SEND + b"\n\r\n", len(SEND)) == (None, len(SEND) + 3)  # only EOLs left
    assert scan(b"\n\r") == (None, 1)  # a lone CR is not an EOL: the frame starts there
    assert scan(b"\x00\n\x00\r\n" + SEND) == (SEND_FRAME, 5 + len(SEND))  # stray NULs too
    assert scan(b"\r\x00") == (None, 0)


@pytest.mark.parametrize(
    "data",
    [
        b"SEND\ndestination:/q\n",  # incomplete head
        b"SEND\ndestination:/q\n\r",  # half of a CRLF blank line
        b"SEND\n\nhello",  # no NUL yet
        b"SEND\ncontent-length:5\n\nhello",  # the NUL after a counted body has not arrived
        b"FOO\n\n\x00",  # unknown command
        b"SEND\nno-colon\n\n\x00",
        b"SEND\n:empty-name\n\n\x00",
        b"SEND\nx:\\t\n\n\x00",  # invalid escape (version 1.2)
        b"SEND\nx:\\\\\\\n\n\x00",  # an escaped backslash, then a lone one
        b"SEND\nx:\\\n\n\x00",  # lone trailing backslash
        b"SEND\ncontent-length:x\n\n\x00",
        b"SEND\ncontent-length:\n\n\x00",
        b"SEND\ncontent-length:" + b"1" * 16 + b"\n\n\x00",
        b"SEND\ncontent-length:" + b"0" * 15 + b"3\n\nabc\x00",  # 16 digits, however small the value
        b"SEND\ncontent-length:2\n\nabc\x00",  # no NUL after the counted body
        b"SUBSCRIBE\nid:1\n\nbody\x00",  # a body where none is allowed
        b"SUBSCRIBE\nid:1\n\n\n\x00",  # EOLs alone there: the Python parser accepts them
        b"SUBSCRIBE\nid:1\ncontent-length:1\n\nb\x00",
    ],
)
def test_stops_at_the_start_of_anything_but_a_complete_valid_frame(data: bytes) -> None:
    assert scan(data) == (None, 0)
    assert scan(SEND + b"\n" + data) == (SEND_FRAME, len(SEND))
    assert scan(SEND + b"\n" + data, len(SEND)) == (None, len(SEND) + 1)


@pytest.mark.parametrize(
    ("limits", "ok"),
    [
        ((32, 1, 20), True),
        ((31, 1, 20), False),  # max_frame_size: the 32 bytes of head and body
        ((32, 0, 20), False),  # max_headers
        ((32, 1, 19), False),  # max_header_length: "destination:/queue/a" is 20 bytes
    ],
)
def test_limits_stop_the_scan(limits: tuple[int, int, int], ok: bool) -> None:
    assert len(SEND) - 1 == 32
    result = scan(SEND, 0, V1_2, *limits, CLIENT_COMMANDS, Frame)
    assert result == ((SEND_FRAME, len(SEND)) if ok else (None, 0))


@pytest.mark.parametrize(
    ("buf", "settings"),
    [
        (bytearray(SEND), DEFAULTS),  # not exactly bytes
        (SEND, (1.2, *DEFAULTS[1:])),  # a version that is not an int
        (SEND, (V1_2, 2**70, *DEFAULTS[2:])),  # a limit beyond Py_ssize_t
        (SEND, (*DEFAULTS[:4], tuple(CLIENT_COMMANDS), Frame)),  # commands not a set
        (SEND, (*DEFAULTS[:4], type("Commands", (frozenset,), {})(CLIENT_COMMANDS), Frame)),  # a subclass
    ],
)
def test_unusual_input_or_settings_are_left_to_python(buf: Any, settings: tuple[Any, ...]) -> None:
    assert _scanner.scan(buf, 0, *settings) == (None, 0)


def test_python_handles_what_the_scanner_leaves() -> None:
    parser = FrameParser(version=1.2)  # type: ignore[arg-type]
    assert list(parser.feed(SEND + SEND)) == [SEND_FRAME, SEND_FRAME]
    parser = FrameParser(commands=tuple(CLIENT_COMMANDS))  # type: ignore[arg-type]
    assert list(parser.feed(SEND + SEND)) == [SEND_FRAME, SEND_FRAME]


def test_bad_calls_raise_type_error() -> None:
    with pytest.raises(TypeError):
        _scanner.scan(SEND)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _scanner.scan(SEND, "0", *DEFAULTS)  # type: ignore[arg-type]


def test_out_of_range_offsets_stop() -> None:
    assert scan(SEND, -1) == (None, -1)
    assert scan(SEND, len(SEND) + 1) == (None, len(SEND) + 1)


def test_frame_type_errors_propagate_as_a_stop() -> None:
    """Even a failing constructor is not raised from C: Python redoes the frame."""

    def broken(*args: object) -> Frame:
        raise RuntimeError("no")

    assert _scanner.scan(SEND, 0, *DEFAULTS[:5], broken) == (None, 0)


def test_headers_escaping_and_first_wins() -> None:
    data = b"SEND\r\nk\\c:a\\cb\\nc\\\\d\\r\r\nk\\c:second\nx:\n\n\x00"
    frame, _ = scan(data)
    assert frame is not None
    assert list(frame.headers.items()) == [(b"k:", b"a:b\nc\\d\r"), (b"x", b"")]
    frame, _ = scan(data, 0, V1_0, *DEFAULTS[1:])
    assert frame is not None
    assert list(frame.headers.items()) == [(b"k\\c", b"a\\cb\\nc\\\\d\\r"), (b"x", b"")]
    assert scan(data, 0, V1_1, *DEFAULTS[1:]) == (None, 0)  # \r is not a 1.1 escape


# -- no leaks ------------------------------------------------------------------------------------


def _feed_many(count: int) -> None:
    stream = (
        SEND
        + b"SEND\ndestination:/q\\c1\ncontent-length:3\nreceipt:r\n\nabc\x00"
        + b"ACK\r\nid:1\r\n\r\n\x00\n"
    )
    for _ in range(count):
        for _frame in FrameParser(version=V1_2).feed(stream):
            pass
        # The stop paths: an error half-way, and an incomplete tail.
        try:
            for _frame in FrameParser(version=V1_2).feed(SEND + b"SEND\nx:\\t\n\n\x00"):
                pass
        except ProtocolError:
            pass
        for _frame in FrameParser().feed(SEND + b"SEND\ncontent-length:9\n\nab"):
            pass


def test_no_memory_growth() -> None:
    """Reference counts right on every path: 5,000 rounds (20,000 frames, 10,000 stops) leave
    no more than noise behind (one leaked bytes object per round would be 165 KB)."""
    tracemalloc.start()
    try:
        _feed_many(2000)  # warm-up: caches, free lists, specialisation
        before = tracemalloc.get_traced_memory()[0]
        _feed_many(5000)
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 10_000, growth


# -- differential: the C scanner and the Python parser agree on everything -----------------------

# Streams of valid frames, the last one near-valid (one rule broken), plus some random damage.
_NAME_POOL = [b"destination", b"id", b"receipt", b"a", b"a:b", b"x\\y", b"n\nl", b"c\r", b" s "]
_TEXT = st.text(alphabet="ab:\\\n\r \x00c", max_size=8).map(str.encode)
_MUTANTS = [b"\n", b"\r", b":", b"\\", b"\x00", b"0", b"9", b"c", b"r", b"t", b"\r\n", b"\n\n", b"\xff"]


def _carried(text: bytes, version: int, raw: bool, name: bool) -> bytes:
    """``text`` with what a frame of this kind cannot carry removed (cf. test_parser.valid_frame)."""
    drop = b"\n\r" if version == V1_0 or raw else b"\r" if version == V1_1 else b""
    return text.translate(None, drop + (b":" if name and (version == V1_0 or raw) else b""))


# Header lines, content-lengths and bodies that break one rule each (near-valid frames).
_BAD_LINES = [b"no-colon", b":empty-name", b"x:\\t", b"x:a\\", b"x\\:v", b"x:\\r", b"k:\\\\\\", b"\r"]
_BAD_LENGTHS = [b"", b"-1", b" 3", b"3 ", b"x", b"+3", b"1" * 16, b"0" * 15 + b"3", b"0" * 16 + b"3"]


@st.composite
def valid_frame(draw: st.DrawFn, version: int, commands: frozenset[bytes], near: bool = False) -> bytes:
    """A valid frame for this version and command set; with ``near``, usually one rule broken."""
    rules = [None, "command", "body", "length", "line", "end"]
    broken_rule = draw(st.sampled_from(rules)) if near else None

    def bad(rule: str, choices: Any) -> Any:
        return draw(st.sampled_from(choices)) if rule == broken_rule else None

    command = bad("command", [b"send", b"SEND ", b"X" * 30, b"", b"MESSAGE", b"SEND", b"CONNECTED"]) or draw(
        st.sampled_from(sorted(commands))
    )
    raw = command in _NEVER_ESCAPED or version == V1_0
    headers = []
    for name, value in draw(st.lists(st.tuples(st.one_of(st.sampled_from(_NAME_POOL), _TEXT), _TEXT), max_size=5)):
        name = _carried(name, version, raw, True)
        if name and name != b"content-length":
            value = _carried(value, version, raw, False)
            headers.append((name, value) if raw else (escape(name, version), escape(value, version)))
    body_allowed = command in BODY_COMMANDS or bad("body", [True]) is not None
    body = draw(st.one_of(st.just(b""), st.binary(max_size=30), _TEXT)) if body_allowed else b""
    counted = b"\x00" in body or draw(st.booleans())
    if counted:
        width = draw(st.sampled_from([1, 1, 1, 3, 15]))
        too_long = b"%016d" % len(body)  # 16 digits: one too many, however small the value
        wrong = [b"%d" % (len(body) + 1), b"%d" % max(0, len(body) - 1), too_long, too_long]
        length = bad("length", _BAD_LENGTHS + wrong) or b"%0*d" % (width, len(body))
        headers.insert(draw(st.integers(0, len(headers))), (b"content-length", length))
        if draw(st.booleans()):  # a repeated content-length: the first one counts
            headers.append((b"content-length", b"%d" % (len(body) + 1)))
    lines = [command] + [name + b":" + value for name, value in headers]
    broken = bad("line", _BAD_LINES)
    if broken is not None:
        lines.insert(draw(st.integers(1, len(lines))), broken)
    uniform = draw(st.sampled_from([b"\n", b"\r\n", None]))
    head = b"".join(line + (uniform or draw(st.sampled_from([b"\n", b"\r\n"]))) for line in lines + [b""])
    return head + body + (bad("end", [b"", b"x\x00", b"\x00\x00", b"\n\x00", b"\r\n\x00"]) or b"\x00")


@st.composite
def near_valid_stream(draw: st.DrawFn, version: int, commands: frozenset[bytes], damage: int = 3) -> bytes:
    # Valid frames, the last one near-valid: the scanner has to get as far as the broken rule.
    frames = draw(st.lists(valid_frame(version, commands), max_size=4))
    frames.append(draw(valid_frame(version, commands, near=damage > 0)))
    separators = st.sampled_from([b"", b"", b"\n", b"\r\n", b"\n\r\n", b"\n\n", b"\x00", b"\n\x00"])
    data = draw(separators) + b"".join(frame + draw(separators) for frame in frames)
    # Random damage, on top of the one rule valid_frame may have broken.
    operations = st.sampled_from(["replace", "insert", "delete"])
    for point, operation, byte in draw(
        st.lists(st.tuples(st.integers(0, 10_000), operations, st.sampled_from(_MUTANTS)), max_size=damage)
    ):
        point %= len(data) + 1
        if operation == "insert":
            data = data[:point] + byte + data[point:]
        elif operation == "replace":
            data = data[:point] + byte + data[point + 1 :]
        else:
            data = data[:point] + data[point + 1 :]
    return data


_VERSIONS = st.sampled_from([V1_0, V1_1, V1_2])
_COMMAND_SETS = st.sampled_from([CLIENT_COMMANDS, SERVER_COMMANDS])
# Mostly the defaults (so that near-valid frames get as far as their one broken rule).
_limits = st.one_of(
    st.just({}),
    st.just({}),
    st.fixed_dictionaries(
        {
            "max_frame_size": st.one_of(st.just(DEFAULT_MAX_FRAME_SIZE), st.integers(0, 150)),
            "max_headers": st.one_of(st.just(DEFAULT_MAX_HEADERS), st.integers(0, 6)),
            "max_header_length": st.one_of(st.just(DEFAULT_MAX_HEADER_LENGTH), st.integers(0, 30)),
        }
    ),
)
# Settings a consumer changes after the n-th frame (as the session raises the version after CONNECT).
_changes = st.lists(
    st.one_of(
        st.none(),
        st.none(),
        st.fixed_dictionaries({"version": _VERSIONS}),
        st.fixed_dictionaries({"max_frame_size": st.integers(0, 150)}),
        st.fixed_dictionaries({"max_headers": st.integers(0, 6), "max_header_length": st.integers(0, 30)}),
    ),
    max_size=6,
)
_STATE = ("_head", "_lines", "_line_start", "_frame", "_chunks", "_have", "_need", "_head_size")


class _Counting:
    """A scan function that counts the frames it returns."""

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, *args: Any) -> tuple[Frame | None, int]:
        frame, end = _scanner.scan(*args)
        self.frames += frame is not None
        return frame, end


def _outcome(
    scan: Any, settings: dict[str, Any], pieces: list[bytes], changes: Sequence[dict[str, Any] | None] = ()
) -> tuple[list[Any], str | None, Any]:
    """Frames (command, ordered headers, body; all exactly bytes), the error text, the end state."""
    saved = parser_module._scan
    parser_module._scan = scan
    try:
        parser = FrameParser(**settings)
        frames: list[Any] = []
        try:
            for piece in pieces:
                for frame in parser.feed(piece):
                    fields = [frame.command, *frame.headers, *frame.headers.values(), frame.body]
                    assert {type(field) for field in fields} == {bytes}
                    frames.append((frame.command, list(frame.headers.items()), frame.body))
                    change = changes[len(frames) - 1] if len(frames) <= len(changes) else None
                    for name, value in (change or {}).items():
                        setattr(parser, name, value)
        except ProtocolError as error:
            return frames, str(error), None
        state = [getattr(parser, name) for name in _STATE]
        return frames, None, (parser.buffered, parser.in_frame, state)
    finally:
        parser_module._scan = saved


def _check_same(settings: dict[str, Any], data: bytes, points: list[int], changes: list[dict[str, Any] | None]) -> None:
    for pieces in ([data], cut(data, [min(point, len(data)) for point in points]), bytewise(data)):
        assert _outcome(_scanner.scan, settings, pieces, changes) == _outcome(None, settings, pieces, changes)


DIFFERENTIAL = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@DIFFERENTIAL
@given(st.data(), _VERSIONS, _COMMAND_SETS, _limits, st.lists(st.integers(0, 300), max_size=8), _changes)
def test_differential_near_valid_streams(
    data: st.DataObject,
    version: int,
    commands: frozenset[bytes],
    limits: dict[str, int],
    points: list[int],
    changes: list[dict[str, Any] | None],
) -> None:
    stream = data.draw(near_valid_stream(version, commands))
    _check_same({"version": version, "commands": commands, **limits}, stream, points, changes)


@DIFFERENTIAL
@given(_VERSIONS, _COMMAND_SETS, _limits, st.binary(max_size=120), st.lists(st.integers(0, 120), max_size=6))
def test_differential_random_bytes(
    version: int, commands: frozenset[bytes], limits: dict[str, int], stream: bytes, points: list[int]
) -> None:
    _check_same({"version": version, "commands": commands, **limits}, stream, points, [])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _VERSIONS, _COMMAND_SETS)
def test_differential_every_limit_around_its_boundary(
    data: st.DataObject, version: int, commands: frozenset[bytes]
) -> None:
    """Each limit swept over every value up to the size of a valid frame: the one value where
    a lenient or strict-by-one scanner differs is always tried."""
    stream = data.draw(valid_frame(version, commands, near=data.draw(st.booleans())))
    tops = {"max_frame_size": len(stream), "max_headers": stream.count(b"\n"), "max_header_length": 40}
    for name, top in tops.items():
        for limit in range(top + 1):
            settings = {"version": version, "commands": commands, name: limit}
            assert _outcome(_scanner.scan, settings, [stream]) == _outcome(None, settings, [stream])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _VERSIONS, _COMMAND_SETS)
def test_scanner_parses_every_valid_frame(data: st.DataObject, version: int, commands: frozenset[bytes]) -> None:
    """Not only the same result: valid frames never fall back to the (slower) Python code."""
    stream = data.draw(near_valid_stream(version, commands, damage=0))
    counting = _Counting()
    settings = {"version": version, "commands": commands}
    frames, error, _ = _outcome(counting, settings, [stream])
    assert error is None
    assert counting.frames == len(frames) > 0
    assert _outcome(None, settings, [stream])[0] == frames


def _one_rule_broken(command: bytes) -> Iterator[bytes]:
    good = [b"destination:/q", b"receipt:r\\c1"]
    for line in _BAD_LINES:
        yield command + b"\n" + b"\n".join([good[0], line, good[1]]) + b"\n\n\x00"
    for length in [*_BAD_LENGTHS, b"2", b"4", b"%016d" % 3, b"%015d" % 3, b"0"]:
        yield command + b"\ncontent-length:" + length + b"\n\nabc\x00"
    yield command + b"\ncontent-length:?\n\n" + b"x" * 15 + b"\x00"  # "?" is "0" + 15 in ASCII, not a digit
    yield command + b"\ncontent-length::\n\n" + b"x" * 10 + b"\x00"
    yield command + b"\nid:1\n\nabc\x00"
    yield command + b"\r\nid:1\r\n\r\nabc\x00\x00"


@pytest.mark.parametrize("version", [V1_0, V1_1, V1_2])
@pytest.mark.parametrize("commands", [CLIENT_COMMANDS, SERVER_COMMANDS], ids=["client", "server"])
def test_differential_each_rule_broken_once(version: int, commands: frozenset[bytes]) -> None:
    """Every command of the set, every broken rule of the tables above, after a valid frame."""
    valid = sorted(commands)[0] + b"\n\n\x00"
    for command in [*sorted(CLIENT_COMMANDS | SERVER_COMMANDS), b"send", b""]:
        for frame in _one_rule_broken(command):
            settings = {"version": version, "commands": commands}
            for pieces in ([valid + frame], bytewise(frame)):
                assert _outcome(_scanner.scan, settings, pieces) == _outcome(None, settings, pieces), frame


def test_differential_catches_a_difference() -> None:
    """The comparison is not vacuous: a scanner that loses a header is noticed."""

    def lossy(*args: Any) -> tuple[Frame | None, int]:
        frame, end = _scanner.scan(*args)
        if frame is not None:
            frame.headers.pop(b"destination", None)
        return frame, end

    settings = {"version": V1_2}
    assert _outcome(lossy, settings, [SEND]) != _outcome(None, settings, [SEND])
    assert _outcome(_scanner.scan, settings, [SEND]) == _outcome(None, settings, [SEND])
