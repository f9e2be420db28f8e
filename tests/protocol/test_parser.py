"""FrameParser: framing, EOLs, headers, escaping, bodies and limits (STOMP 1.0, 1.1, 1.2).

Every case goes through the ``feeder`` fixture, so it runs fed whole, byte by byte and with
a trailing frame (see splits.py). The hypothesis tests at the end feed random valid streams
at random split points, and random junk with small limits.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from splits import CLIENT_TRAILER, CLIENT_TRAILER_FRAME, Feeder, bytewise, cut, feed_pieces

from xtomp_core.errors import ProtocolError
from xtomp_core.protocol.constants import BODY_COMMANDS, CLIENT_COMMANDS, CONNECT, SERVER_COMMANDS, V1_0, V1_1, V1_2
from xtomp_core.protocol.encoder import encode_frame
from xtomp_core.protocol.frame import Frame
from xtomp_core.protocol.parser import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_HEADER_LENGTH,
    DEFAULT_MAX_HEADERS,
    FrameParser,
)

VERSIONS = (V1_0, V1_1, V1_2)
NO_BODY_CLIENT_COMMANDS = sorted(CLIENT_COMMANDS - BODY_COMMANDS)

SEND = b"SEND\ndestination:/queue/a\n\nhello\x00"
SEND_FRAME = Frame(b"SEND", {b"destination": b"/queue/a"}, b"hello")


def frame(command: bytes, body: bytes = b"", **headers: bytes) -> Frame:
    return Frame(command, {name.replace("_", "-").encode(): value for name, value in headers.items()}, body)


# -- basic frames -----------------------------------------------------------------------


def test_defaults() -> None:
    parser = FrameParser()
    assert parser.version == V1_0
    assert parser.commands == CLIENT_COMMANDS
    assert parser.max_frame_size == DEFAULT_MAX_FRAME_SIZE == 4 * 1024 * 1024
    assert parser.max_headers == DEFAULT_MAX_HEADERS
    assert parser.max_header_length == DEFAULT_MAX_HEADER_LENGTH
    assert parser.buffered == 0
    assert not parser.in_frame
    assert list(parser.feed(b"")) == []


def test_connect(feeder: Feeder) -> None:
    data = b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:stomp.example\nlogin:guest\npasscode:guest\n\n\x00"
    assert feeder.parse_one(data) == Frame(
        b"CONNECT",
        {b"accept-version": b"1.0,1.1,1.2", b"host": b"stomp.example", b"login": b"guest", b"passcode": b"guest"},
    )


def test_stomp_command(feeder: Feeder) -> None:
    data = b"STOMP\naccept-version:1.2\nhost:h\n\n\x00"
    assert feeder.parse_one(data) == Frame(b"STOMP", {b"accept-version": b"1.2", b"host": b"h"})


def test_frame_without_headers(feeder: Feeder) -> None:
    assert feeder.parse_one(b"DISCONNECT\n\n\x00") == Frame(b"DISCONNECT", {})


@pytest.mark.parametrize("command", sorted(CLIENT_COMMANDS))
def test_every_client_command(feeder: Feeder, command: bytes) -> None:
    data = command + b"\nreceipt:r-1\n\n\x00"
    assert feeder.parse_one(data) == Frame(command, {b"receipt": b"r-1"})


def test_header_order_is_kept(feeder: Feeder) -> None:
    data = b"SEND\nzeta:1\ndestination:/q\nalpha:2\n\n\x00"
    parsed = feeder.parse_one(data)
    assert list(parsed.headers) == [b"zeta", b"destination", b"alpha"]


def test_send_body(feeder: Feeder) -> None:
    assert feeder.parse_one(SEND) == SEND_FRAME


def test_many_frames_in_one_feed(feeder: Feeder) -> None:
    frames = []
    data = b""
    for index in range(60):
        kind = index % 4
        if kind == 0:
            data += b"SEND\ndestination:/q/%d\n\nbody %d\x00" % (index, index)
            frames.append(Frame(b"SEND", {b"destination": b"/q/%d" % index}, b"body %d" % index))
        elif kind == 1:
            data += b"SEND\ndestination:/q\ncontent-length:3\n\n\x00%c\x00\x00" % (65 + index % 26)
            frames.append(
                Frame(b"SEND", {b"destination": b"/q", b"content-length": b"3"}, b"\x00%c\x00" % (65 + index % 26))
            )
        elif kind == 2:
            data += b"ACK\r\nid:%d\r\n\r\n\x00\r\n" % index
            frames.append(Frame(b"ACK", {b"id": b"%d" % index}))
        else:
            data += b"\n\nSUBSCRIBE\nid:%d\ndestination:/t\n\n\x00" % index
            frames.append(Frame(b"SUBSCRIBE", {b"id": b"%d" % index, b"destination": b"/t"}))
    assert feeder.parse(data) == frames


def test_feed_is_lazy_and_resumable() -> None:
    """``feed`` is a generator: nothing is parsed before it is iterated."""
    parser = FrameParser()
    generator = parser.feed(SEND + SEND)
    assert parser.buffered == 0
    assert next(generator) == SEND_FRAME
    assert next(generator) == SEND_FRAME
    with pytest.raises(StopIteration):
        next(generator)


# -- line ends and EOLs between frames --------------------------------------------------------


@pytest.mark.parametrize(
    ("command_eol", "header_eol", "blank_eol"),
    list(itertools.product((b"\n", b"\r\n"), repeat=3)),
    ids=lambda eol: "crlf" if eol == b"\r\n" else "lf",
)
def test_line_ends_lf_crlf_and_mixed(
    feeder: Feeder, command_eol: bytes, header_eol: bytes, blank_eol: bytes
) -> None:
    head = b"SEND" + command_eol + b"destination:/q" + header_eol + b"receipt:7" + header_eol + blank_eol
    data = head + b"a\r\nb\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"destination": b"/q", b"receipt": b"7"}, b"a\r\nb")


def test_crlf_frame_with_content_length(feeder: Feeder) -> None:
    data = b"SEND\r\ndestination:/q\r\ncontent-length:4\r\n\r\n\r\n\r\n\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"destination": b"/q", b"content-length": b"4"}, b"\r\n\r\n")


def test_crlf_frame_without_headers(feeder: Feeder) -> None:
    assert feeder.parse_one(b"DISCONNECT\r\n\r\n\x00") == Frame(b"DISCONNECT", {})


@pytest.mark.parametrize("eols", [b"\n", b"\r\n", b"\n\n\n", b"\r\n\r\n", b"\n\r\n\n\r\n"])
def test_eols_before_between_and_after_frames(feeder: Feeder, eols: bytes) -> None:
    data = eols + SEND + eols + SEND + eols
    assert feeder.parse(data) == [SEND_FRAME, SEND_FRAME]


@pytest.mark.parametrize("beats", [b"\n", b"\r\n", b"\n" * 50, b"\r\n" * 50, b"\n\r\n" * 20])
def test_heart_beats_only(feeder: Feeder, beats: bytes) -> None:
    assert feeder.parse(beats) == []


def test_heart_beats_do_not_count_as_header_lines(feeder: Feeder) -> None:
    """EOLs between frames are not part of the next frame, even when a CRLF is split."""
    parser = FrameParser(max_headers=2, max_header_length=12, max_frame_size=30)
    data = b"\r\n\r\n\r\nSEND\na:1\nb:2\n\nbody\x00\r\n"
    assert feeder.parse(data, parser) == [Frame(b"SEND", {b"a": b"1", b"b": b"2"}, b"body")]


def test_heart_beat_crlf_split_between_feeds() -> None:
    parser = FrameParser(max_headers=1)
    assert list(parser.feed(SEND + b"\r")) == [SEND_FRAME]
    assert not parser.in_frame  # a lone CR is half an EOL, not the start of a frame
    assert list(parser.feed(b"\n")) == []
    assert parser.buffered == 0
    assert not parser.in_frame
    assert list(parser.feed(b"\r")) == []
    assert list(parser.feed(b"\nSEND\ndestination:/queue/a\n\nhello\x00")) == [SEND_FRAME]
    assert parser.buffered == 0


def test_lone_cr_is_not_an_eol(feeder: Feeder) -> None:
    feeder.error(b"\rSEND\n\n\x00", "unknown command")


@pytest.mark.parametrize("gap", [b"\x00", b"\x00\x00\x00", b"\n\x00", b"\x00\r\n\x00\n", b"\r\n\x00"])
def test_nuls_between_frames_are_skipped(feeder: Feeder, gap: bytes) -> None:
    """A stray NUL (a frame terminated twice) is skipped like an EOL, as RabbitMQ and ActiveMQ do."""
    data = gap + SEND + gap + SEND + gap
    assert feeder.parse(data) == [SEND_FRAME, SEND_FRAME]


def test_nuls_only(feeder: Feeder) -> None:
    assert feeder.parse(b"\x00" * 20) == []


def test_cr_then_nul_is_not_an_eol(feeder: Feeder) -> None:
    feeder.error(b"\r\x00SEND\n\n\x00", "unknown command")


# -- headers ------------------------------------------------------------------------------------


def test_repeated_headers_first_wins(feeder: Feeder) -> None:
    data = b"SEND\ndestination:/first\nfoo:1\ndestination:/second\nfoo:2\nfoo:3\n\n\x00"
    parsed = feeder.parse_one(data)
    assert parsed.headers == {b"destination": b"/first", b"foo": b"1"}
    assert list(parsed.headers) == [b"destination", b"foo"]


def test_repeated_content_length_first_wins(feeder: Feeder) -> None:
    data = b"SEND\ncontent-length:2\ncontent-length:5\n\nab\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"content-length": b"2"}, b"ab")


@pytest.mark.parametrize("version", VERSIONS)
def test_value_is_everything_after_the_first_colon(feeder: Feeder, version: int) -> None:
    data = b"SEND\ndestination:/queue/a:b::c:\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=version))
    assert parsed.headers == {b"destination": b"/queue/a:b::c:"}


def test_empty_value(feeder: Feeder) -> None:
    data = b"SEND\ndestination:/q\nempty:\nalso-empty:\r\n\n\x00"
    assert feeder.parse_one(data).headers == {b"destination": b"/q", b"empty": b"", b"also-empty": b""}


def test_whitespace_is_significant(feeder: Feeder) -> None:
    """STOMP 1.2 "Headers": no trimming of names or values."""
    data = b"SEND\n key : value \n\n\x00"
    assert feeder.parse_one(data).headers == {b" key ": b" value "}


def test_header_without_colon(feeder: Feeder) -> None:
    feeder.error(b"SEND\ndestination:/q\nno-colon-here\n\n\x00", "header line without a colon: 'no-colon-here'")


def test_header_without_colon_crlf(feeder: Feeder) -> None:
    feeder.error(b"SEND\r\nbroken\r\n\r\n\x00", "header line without a colon: 'broken'")


def test_empty_header_name(feeder: Feeder) -> None:
    feeder.error(b"SEND\ndestination:/q\n:value\n\n\x00", "header line with an empty name: ':value'")


# -- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (b"FOO", "'FOO'"),
        (b"send", "'send'"),
        (b"Send", "'Send'"),
        (b"SEND ", "'SEND '"),
        (b" SEND", "' SEND'"),
        (b"MESSAGE", "'MESSAGE'"),  # a server command from a client
        (b"CONNECTED", "'CONNECTED'"),
        (b"RECEIPT", "'RECEIPT'"),
        (b"ERROR", "'ERROR'"),
        (b"SEND\x00", "'SEND\\x00'"),
    ],
)
def test_unknown_command(feeder: Feeder, command: bytes, shown: str) -> None:
    feeder.error(command + b"\ndestination:/q\n\n\x00", f"unknown command {shown}")


def test_long_unknown_command_is_shortened(feeder: Feeder) -> None:
    error = feeder.error(b"X" * 100 + b"\n\n\x00", "unknown command 'XXXX")
    assert "X" * 41 not in str(error)
    assert "...'" in str(error)


def test_server_parser_accepts_server_commands(feeder: Feeder) -> None:
    data = b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\ncontent-length:2\n\nhi\x00"
    parsed = feeder.parse_one(data, FrameParser(commands=SERVER_COMMANDS))
    assert parsed == Frame(
        b"MESSAGE",
        {b"subscription": b"0", b"message-id": b"1", b"destination": b"/q", b"content-length": b"2"},
        b"hi",
    )


def test_server_parser_refuses_client_commands(feeder: Feeder) -> None:
    feeder.error(SEND, "unknown command 'SEND'", FrameParser(commands=SERVER_COMMANDS))


# -- escaping -----------------------------------------------------------------------------------

ESCAPED_LINE = b"SEND\nk\\c\\\\:a\\cb\\nc\\\\d\n\n\x00"


def test_no_unescaping_in_1_0(feeder: Feeder) -> None:
    data = b"SEND\nk\\c:a\\cb\\nc\\\\d\\t\\r\\\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=V1_0))
    assert parsed.headers == {b"k\\c": b"a\\cb\\nc\\\\d\\t\\r\\"}


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_unescaping_in_1_1_and_1_2(feeder: Feeder, version: int) -> None:
    parsed = feeder.parse_one(ESCAPED_LINE, FrameParser(version=version))
    assert parsed.headers == {b"k:\\": b"a:b\nc\\d"}


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_escaped_backslash_before_letter(feeder: Feeder, version: int) -> None:
    """``\\\\n`` is an escaped backslash followed by ``n``, not a backslash and a newline."""
    data = b"SEND\nx:\\\\n\\\\\\n\\\\\\\\\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=version))
    assert parsed.headers == {b"x": b"\\n\\\n\\\\"}


def test_cr_escape_in_1_2(feeder: Feeder) -> None:
    data = b"SEND\nx\\r:a\\rb\n\n\x00"
    assert feeder.parse_one(data, FrameParser(version=V1_2)).headers == {b"x\r": b"a\rb"}


def test_cr_escape_is_an_error_in_1_1(feeder: Feeder) -> None:
    feeder.error(b"SEND\nx:a\\rb\n\n\x00", "invalid escape sequence '\\\\r'", FrameParser(version=V1_1))


def test_cr_escape_in_a_name_is_an_error_in_1_1(feeder: Feeder) -> None:
    feeder.error(b"SEND\nx\\r:a\n\n\x00", "invalid escape sequence '\\\\r'", FrameParser(version=V1_1))


@pytest.mark.parametrize("version", [V1_1, V1_2])
@pytest.mark.parametrize("sequence", [b"\\t", b"\\a", b"\\N", b"\\C", b"\\:", b"\\ ", b"\\0"])
def test_unknown_escape_is_an_error(feeder: Feeder, version: int, sequence: bytes) -> None:
    data = b"SEND\nx:a" + sequence + b"b\n\n\x00"
    shown = repr(sequence.decode())
    feeder.error(data, f"invalid escape sequence {shown}", FrameParser(version=version))


@pytest.mark.parametrize("version", [V1_1, V1_2])
@pytest.mark.parametrize("value", [b"abc\\", b"\\", b"\\\\\\", b"a\\nb\\"])
def test_trailing_lone_backslash_is_an_error(feeder: Feeder, version: int, value: bytes) -> None:
    feeder.error(b"SEND\nx:" + value + b"\n\n\x00", "invalid escape sequence '\\\\'", FrameParser(version=version))


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_trailing_lone_backslash_in_a_name_is_an_error(feeder: Feeder, version: int) -> None:
    feeder.error(b"SEND\nx\\:v\n\n\x00", "invalid escape sequence", FrameParser(version=version))


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_trailing_backslash_with_crlf(feeder: Feeder, version: int) -> None:
    feeder.error(b"SEND\r\nx:a\\\r\n\r\n\x00", "invalid escape sequence '\\\\'", FrameParser(version=version))


@pytest.mark.parametrize("version", [V1_1, V1_2])
@pytest.mark.parametrize("command", [b"CONNECT", b"STOMP"])
def test_connect_headers_are_never_unescaped(feeder: Feeder, version: int, command: bytes) -> None:
    data = command + b"\nlogin:a\\cb\npasscode:p\\\\w\\t\\\nhost:h\\n\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=version))
    assert parsed.headers == {b"login": b"a\\cb", b"passcode": b"p\\\\w\\t\\", b"host": b"h\\n"}


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_connected_headers_are_never_unescaped(feeder: Feeder, version: int) -> None:
    data = b"CONNECTED\nversion:1.2\nserver:x\\cy\\\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=version, commands=SERVER_COMMANDS))
    assert parsed.headers == {b"version": b"1.2", b"server": b"x\\cy\\"}


@pytest.mark.parametrize("version", [V1_1, V1_2])
def test_repeated_escaped_header_first_wins(feeder: Feeder, version: int) -> None:
    data = b"SEND\na\\cb:1\na:b:2\na\\cb:3\n\n\x00"
    parsed = feeder.parse_one(data, FrameParser(version=version))
    assert parsed.headers == {b"a:b": b"1", b"a": b"b:2"}


def test_escape_error_message_has_the_syntax_code(feeder: Feeder) -> None:
    data = b"SEND\nx:\\t\n\n\x00"
    error = feeder.error(data, "invalid escape sequence '\\\\t' in a header", FrameParser(version=V1_2))
    assert str(error) == "syntax - invalid escape sequence '\\\\t' in a header"


# -- version switch -----------------------------------------------------------------------------


def _switching_parse(feeder: Feeder, parser: FrameParser, data: bytes, switch_to: int | None) -> list[Frame]:
    """Feed like ``feeder``, raising ``parser.version`` as soon as a CONNECT comes out (as the
    session does), while the generator is still running."""
    frames: list[Frame] = []
    for piece in feeder.pieces(parser, data):
        for parsed in parser.feed(piece):
            frames.append(parsed)
            if parsed.command == CONNECT and switch_to is not None:
                parser.version = switch_to
    return feeder.check_trailer(parser, frames)


def test_version_switch_applies_to_the_rest_of_the_same_feed(feeder: Feeder) -> None:
    data = (
        b"CONNECT\naccept-version:1.2\nlogin:a\\cb\n\n\x00"
        b"SEND\ndestination:/q\\cx\nh:1\\r2\n\nbody\x00"
        b"SUBSCRIBE\nid:s\\\\1\ndestination:/q\n\n\x00"
    )
    parser = FrameParser()
    frames = _switching_parse(feeder, parser, data, V1_2)
    assert frames == [
        Frame(b"CONNECT", {b"accept-version": b"1.2", b"login": b"a\\cb"}),
        Frame(b"SEND", {b"destination": b"/q:x", b"h": b"1\r2"}, b"body"),
        Frame(b"SUBSCRIBE", {b"id": b"s\\1", b"destination": b"/q"}),
    ]
    assert parser.version == V1_2


def test_without_version_switch_the_same_stream_stays_raw(feeder: Feeder) -> None:
    data = b"CONNECT\naccept-version:1.0\n\n\x00SEND\ndestination:/q\\cx\n\nbody\x00"
    frames = _switching_parse(feeder, FrameParser(), data, None)
    assert frames[1] == Frame(b"SEND", {b"destination": b"/q\\cx"}, b"body")


def test_version_switch_to_1_1_makes_cr_escape_an_error(feeder: Feeder) -> None:
    data = b"CONNECT\naccept-version:1.1\n\n\x00SEND\nh:1\\r2\n\n\x00"
    parser = FrameParser()
    with pytest.raises(ProtocolError, match="invalid escape sequence"):
        _switching_parse(feeder, parser, data, V1_1)


# -- bodies -------------------------------------------------------------------------------------


def test_nul_terminated_body(feeder: Feeder) -> None:
    data = b"SEND\ndestination:/q\n\nline one\n\nline two\r\n\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"destination": b"/q"}, b"line one\n\nline two\r\n")


def test_nul_terminated_empty_body(feeder: Feeder) -> None:
    assert feeder.parse_one(b"SEND\ndestination:/q\n\n\x00") == Frame(b"SEND", {b"destination": b"/q"}, b"")


def test_content_length_body_with_nuls(feeder: Feeder) -> None:
    body = b"\x00a\x00\x00b\n\n\x00"
    data = b"SEND\ndestination:/q\ncontent-length:%d\n\n" % len(body) + body + b"\x00"
    assert feeder.parse_one(data) == Frame(
        b"SEND", {b"destination": b"/q", b"content-length": b"%d" % len(body)}, body
    )


def test_content_length_body_ending_in_nul(feeder: Feeder) -> None:
    data = b"SEND\ncontent-length:6\n\nhello\x00\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"content-length": b"6"}, b"hello\x00")


def test_content_length_body_looking_like_frames(feeder: Feeder) -> None:
    body = SEND + b"\n\n" + SEND
    data = b"SEND\ncontent-length:%d\n\n" % len(body) + body + b"\x00"
    assert feeder.parse(data) == [Frame(b"SEND", {b"content-length": b"%d" % len(body)}, body)]


@pytest.mark.parametrize("length", [b"0", b"00"])
def test_content_length_zero(feeder: Feeder, length: bytes) -> None:
    data = b"SEND\ndestination:/q\ncontent-length:" + length + b"\n\n\x00"
    assert feeder.parse_one(data) == Frame(b"SEND", {b"destination": b"/q", b"content-length": length}, b"")


def test_content_length_with_leading_zeros(feeder: Feeder) -> None:
    assert feeder.parse_one(b"SEND\ncontent-length:003\n\nabc\x00").body == b"abc"


def test_content_length_too_short(feeder: Feeder) -> None:
    feeder.error(b"SEND\ncontent-length:3\n\nhello\x00", "no NUL after the 3-byte body that content-length announced")


def test_content_length_too_long(feeder: Feeder) -> None:
    """The announced body swallows the NUL and the next byte is not a NUL."""
    feeder.error(
        b"SEND\ncontent-length:6\n\nhello\x00X", "no NUL after the 6-byte body that content-length announced"
    )


def test_content_length_zero_with_body_bytes(feeder: Feeder) -> None:
    feeder.error(b"SEND\ncontent-length:0\n\nx\x00", "no NUL after the 0-byte body")


@pytest.mark.parametrize(
    "value",
    [b"abc", b"-1", b" 5", b"5 ", b"", b"+5", b"5.0", b"0x5", b"1e3", b"5\t", "\u0665".encode(), b"1" * 16],
)
def test_invalid_content_length(feeder: Feeder, value: bytes) -> None:
    data = b"SEND\ncontent-length:" + value + b"\n\nhello\x00"
    shown = repr(value.decode())
    feeder.error(data, f"invalid content-length {shown}: expected a decimal byte count")


def test_invalid_content_length_without_body(feeder: Feeder) -> None:
    feeder.error(b"SUBSCRIBE\nid:1\ncontent-length:x\n\n\x00", "invalid content-length 'x'")


@pytest.mark.parametrize("command", NO_BODY_CLIENT_COMMANDS)
def test_body_not_allowed_nul_terminated(feeder: Feeder, command: bytes) -> None:
    feeder.error(command + b"\nid:1\n\nbody\x00", f"a {command.decode()} frame must not have a body")


@pytest.mark.parametrize("command", NO_BODY_CLIENT_COMMANDS)
def test_body_not_allowed_content_length(feeder: Feeder, command: bytes) -> None:
    feeder.error(
        command + b"\nid:1\ncontent-length:4\n\nbody\x00", f"a {command.decode()} frame must not have a body"
    )


@pytest.mark.parametrize("eols", [b"\n", b"\r\n", b"\n\n", b"\r\n\n\r\n"])
def test_eol_only_body_is_ignored_where_no_body_is_allowed(feeder: Feeder, eols: bytes) -> None:
    """What a netcat user types: a blank line before the NUL. Accepted, and dropped."""
    data = b"CONNECT\naccept-version:1.2\n\n" + eols + b"\x00"
    assert feeder.parse_one(data) == Frame(b"CONNECT", {b"accept-version": b"1.2"}, b"")


@pytest.mark.parametrize("command", NO_BODY_CLIENT_COMMANDS)
def test_eol_only_body_every_command(feeder: Feeder, command: bytes) -> None:
    assert feeder.parse_one(command + b"\r\nid:1\r\n\r\n\r\n\x00") == Frame(command, {b"id": b"1"}, b"")


@pytest.mark.parametrize("body", [b"\nx", b"x\n", b"\n\n \n", b"\r\r\n\t", b"\n\x01"])
def test_body_with_more_than_eols_still_refused(feeder: Feeder, body: bytes) -> None:
    feeder.error(b"CONNECT\naccept-version:1.2\n\n" + body + b"\x00", "a CONNECT frame must not have a body")


def test_counted_eol_body_still_refused(feeder: Feeder) -> None:
    """content-length announces a body: that is a body, EOLs or not."""
    feeder.error(b"CONNECT\ncontent-length:1\n\n\n\x00", "a CONNECT frame must not have a body")


def test_eol_body_counts_towards_max_frame_size(feeder: Feeder) -> None:
    feeder.error(b"DISCONNECT\n\n" + b"\n" * 40 + b"\x00", "max_frame_size", max_frame_size=30)


def test_eol_body_is_not_kept_while_incomplete() -> None:
    parser = FrameParser()
    assert list(parser.feed(b"CONNECT\n\n\n\n")) == []
    assert parser.in_frame and parser.buffered == len(b"CONNECT\n\n\n\n")
    assert list(parser.feed(b"\r\n")) == []
    assert parser._chunks == []
    assert list(parser.feed(b"\n\x00")) == [Frame(b"CONNECT", {}, b"")]
    assert (parser.buffered, parser.in_frame) == (0, False)


def test_subscribe_body_refused_before_the_body_arrives(feeder: Feeder) -> None:
    """With content-length the refusal comes with the headers, not after buffering the body."""
    feeder.error(b"SUBSCRIBE\nid:1\ndestination:/q\ncontent-length:4\n\n", "a SUBSCRIBE frame must not have a body")


def test_subscribe_nul_body_refused_before_the_nul(feeder: Feeder) -> None:
    feeder.error(b"SUBSCRIBE\nid:1\ndestination:/q\n\nbo", "a SUBSCRIBE frame must not have a body")


def test_subscribe_with_content_length_zero(feeder: Feeder) -> None:
    data = b"SUBSCRIBE\nid:1\ndestination:/q\ncontent-length:0\n\n\x00"
    assert feeder.parse_one(data) == Frame(
        b"SUBSCRIBE", {b"id": b"1", b"destination": b"/q", b"content-length": b"0"}, b""
    )


@pytest.mark.parametrize("command", sorted(BODY_COMMANDS - {b"SEND"}))
def test_server_body_commands(feeder: Feeder, command: bytes) -> None:
    parsed = feeder.parse_one(command + b"\nmessage:m\n\nbody\x00", FrameParser(commands=SERVER_COMMANDS))
    assert parsed == Frame(command, {b"message": b"m"}, b"body")


def test_receipt_may_not_have_a_body(feeder: Feeder) -> None:
    feeder.error(
        b"RECEIPT\nreceipt-id:1\n\nx\x00", "a RECEIPT frame must not have a body", FrameParser(commands=SERVER_COMMANDS)
    )


# -- limits: max_frame_size -----------------------------------------------------------------

HEAD_10 = b"SEND\ncontent-length:10\n\n"  # 24 bytes: frame size is head + body, the NUL excluded


@pytest.mark.parametrize("limit", [34, 35, 1000])
def test_content_length_frame_within_max_frame_size(feeder: Feeder, limit: int) -> None:
    assert len(HEAD_10) == 24
    parsed = feeder.parse_one(HEAD_10 + b"0123456789\x00", max_frame_size=limit)
    assert parsed.body == b"0123456789"


def test_content_length_frame_one_byte_over_max_frame_size(feeder: Feeder) -> None:
    data = HEAD_10 + b"0123456789\x00"
    feeder.error(data, "frame of 34 bytes is larger than max_frame_size (33 bytes)", max_frame_size=33)


def test_large_content_length_refused_before_the_body(feeder: Feeder) -> None:
    """Only the headers are sent: the announced size alone is enough to refuse the frame."""
    data = b"SEND\ndestination:/q\ncontent-length:1000000\n\n"
    feeder.error(data, "is larger than max_frame_size (1000 bytes)", max_frame_size=1000)


def test_large_content_length_refused_with_crlf_head(feeder: Feeder) -> None:
    feeder.error(b"SEND\r\ncontent-length:100\r\n\r\n", "larger than max_frame_size (50 bytes)", max_frame_size=50)


def test_nul_body_within_max_frame_size(feeder: Feeder) -> None:
    head = b"SEND\n\n"
    parsed = feeder.parse_one(head + b"x" * 94 + b"\x00", max_frame_size=100)
    assert parsed.body == b"x" * 94


def test_nul_body_one_byte_over_max_frame_size(feeder: Feeder) -> None:
    feeder.error(b"SEND\n\n" + b"x" * 95 + b"\x00", "frame larger than max_frame_size (100 bytes)", max_frame_size=100)


def test_nul_body_growing_past_max_frame_size(feeder: Feeder) -> None:
    """No NUL ever comes: the limit is enforced while buffering the body."""
    data = b"SEND\ndestination:/q\n\n" + b"x" * 200
    feeder.error(data, "frame larger than max_frame_size (100 bytes)", max_frame_size=100)


def test_nul_body_growing_past_max_frame_size_in_chunks() -> None:
    parser = FrameParser(max_frame_size=100)
    assert list(parser.feed(b"SEND\n\n")) == []
    for _ in range(9):
        assert list(parser.feed(b"x" * 10)) == []
    assert parser.buffered == 96
    with pytest.raises(ProtocolError, match="max_frame_size"):
        list(parser.feed(b"x" * 10))


def test_header_block_past_max_frame_size_complete(feeder: Feeder) -> None:
    data = b"SEND\ndestination:" + b"x" * 200 + b"\n\n\x00"
    feeder.error(data, "frame larger than max_frame_size (100 bytes)", max_frame_size=100)


def test_header_block_past_max_frame_size_incomplete(feeder: Feeder) -> None:
    data = b"SEND\n" + b"h:v\n" * 40
    feeder.error(data, "frame larger than max_frame_size (100 bytes)", max_frame_size=100)


def test_header_block_exactly_max_frame_size(feeder: Feeder) -> None:
    data = b"SEND\nh:" + b"v" * 91 + b"\n\n"
    assert len(data) == 100
    assert feeder.parse_one(data + b"\x00", max_frame_size=100) == Frame(b"SEND", {b"h": b"v" * 91})
    feeder.error(b"SEND\nh:" + b"v" * 92 + b"\n\n\x00", "max_frame_size", max_frame_size=100)


def test_max_frame_size_may_change_between_feeds() -> None:
    parser = FrameParser(max_frame_size=10)
    with pytest.raises(ProtocolError, match="max_frame_size"):
        list(parser.feed(SEND))
    parser = FrameParser(max_frame_size=10)
    parser.max_frame_size = 1000
    assert list(parser.feed(SEND)) == [SEND_FRAME]


# -- limits: max_headers and max_header_length ------------------------------------------------


def _headers(count: int, eol: bytes = b"\n") -> bytes:
    return b"".join(b"h%d:v%s" % (index, eol) for index in range(count))


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_max_headers_reached(feeder: Feeder, eol: bytes) -> None:
    data = b"SEND" + eol + _headers(3, eol) + eol + b"\x00"
    assert feeder.parse_one(data, max_headers=3).headers == {b"h0": b"v", b"h1": b"v", b"h2": b"v"}


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_too_many_headers_complete(feeder: Feeder, eol: bytes) -> None:
    data = b"SEND" + eol + _headers(4, eol) + eol + b"\x00"
    feeder.error(data, "too many headers (max_headers is 3)", max_headers=3)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_too_many_headers_incomplete(feeder: Feeder, eol: bytes) -> None:
    """The blank line never comes: the count is enforced while the head is buffered."""
    data = b"SEND" + eol + _headers(4, eol)
    feeder.error(data, "too many headers (max_headers is 3)", max_headers=3)


def test_too_many_headers_incomplete_many_lines(feeder: Feeder) -> None:
    feeder.error(b"SEND\n" + _headers(5000), "too many headers (max_headers is 1000)")


def test_max_headers_zero(feeder: Feeder) -> None:
    """The trailer has one header, so only the error case runs here in every mode."""
    if feeder.mode != "trailing":
        assert feeder.parse(b"DISCONNECT\n\n\x00", max_headers=0) == [Frame(b"DISCONNECT", {})]
    feeder.error(b"DISCONNECT\nreceipt:1\n\n\x00", "too many headers (max_headers is 0)", max_headers=0)


def test_exactly_max_headers_incomplete_is_not_an_error() -> None:
    parser = FrameParser(max_headers=3)
    for piece in bytewise(b"SEND\n" + _headers(3)):
        assert list(parser.feed(piece)) == []
    assert parser.in_frame
    assert list(parser.feed(b"\nbody\x00")) == [Frame(b"SEND", {b"h0": b"v", b"h1": b"v", b"h2": b"v"}, b"body")]


LONG = 16


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_header_line_of_max_length(feeder: Feeder, eol: bytes) -> None:
    line = b"name:" + b"v" * (LONG - 5)
    assert len(line) == LONG
    data = b"SEND" + eol + line + eol + eol + b"\x00"
    assert feeder.parse_one(data, max_header_length=LONG).headers == {b"name": b"v" * (LONG - 5)}


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_header_line_too_long_complete(feeder: Feeder, eol: bytes) -> None:
    data = b"SEND" + eol + b"name:" + b"v" * (LONG - 4) + eol + eol + b"\x00"
    feeder.error(data, f"header line longer than max_header_length ({LONG} bytes)", max_header_length=LONG)


def test_header_line_too_long_incomplete(feeder: Feeder) -> None:
    """No EOL ever comes: the line length is enforced while it is buffered."""
    data = b"SEND\nshort:1\nname:" + b"v" * 1000
    feeder.error(data, f"header line longer than max_header_length ({LONG} bytes)", max_header_length=LONG)


def test_header_line_too_long_completed_inside_an_incomplete_head(feeder: Feeder) -> None:
    """A piece that completes an over-long line but not the head: that line is checked too,
    not only the line still being received (found by the junk property below)."""
    data = b"SEND\nname:" + b"v" * 30 + b"\nshort:1\nx:"
    feeder.error(data, f"header line longer than max_header_length ({LONG} bytes)", max_header_length=LONG)


def test_command_line_too_long_inside_an_incomplete_head(feeder: Feeder) -> None:
    data = b"SENDSENDcontent-length:\n"
    feeder.error(data, "header line longer than max_header_length (20 bytes)", max_header_length=20)


def test_header_line_too_long_incomplete_refused_early() -> None:
    parser = FrameParser(max_header_length=LONG)
    assert list(parser.feed(b"SEND\nname:" + b"v" * (LONG - 5))) == []
    with pytest.raises(ProtocolError, match="max_header_length"):
        list(parser.feed(b"v"))


def test_header_line_with_lone_cr_counts_the_cr(feeder: Feeder) -> None:
    data = b"SEND\nname:" + b"v" * (LONG - 5) + b"\rx\n\n\x00"
    feeder.error(data, "max_header_length", max_header_length=LONG)


def test_command_line_too_long(feeder: Feeder) -> None:
    feeder.error(b"S" * 100, "header line longer than max_header_length", max_header_length=LONG)


# -- buffered and in_frame -----------------------------------------------------------------------


def test_buffered_and_in_frame_content_length(feeder: Feeder) -> None:
    parser = FrameParser()
    assert feeder.feed(parser, b"\r\n\n") == []
    assert (parser.buffered, parser.in_frame) == (0, False)
    head = b"SEND\ndestination:/q\ncontent-length:5\n"
    assert feeder.feed(parser, head) == []
    assert (parser.buffered, parser.in_frame) == (len(head), True)
    assert feeder.feed(parser, b"\nab") == []
    assert (parser.buffered, parser.in_frame) == (len(head) + 3, True)
    assert feeder.feed(parser, b"cde") == []
    assert (parser.buffered, parser.in_frame) == (len(head) + 6, True)
    frames = feeder.parse(b"\x00\n", parser)
    assert frames == [Frame(b"SEND", {b"destination": b"/q", b"content-length": b"5"}, b"abcde")]


def test_buffered_and_in_frame_nul_body(feeder: Feeder) -> None:
    parser = FrameParser()
    assert feeder.feed(parser, SEND) == [SEND_FRAME]
    assert (parser.buffered, parser.in_frame) == (0, False)
    assert feeder.feed(parser, b"SEND\n\nab") == []
    assert (parser.buffered, parser.in_frame) == (8, True)
    assert feeder.feed(parser, b"cd") == []
    assert (parser.buffered, parser.in_frame) == (10, True)
    assert feeder.parse(b"\x00", parser) == [Frame(b"SEND", {}, b"abcd")]


def test_buffered_head_then_body_grows(feeder: Feeder) -> None:
    """``buffered`` counts the bytes of the frame so far: it never drops when the head completes."""
    parser = FrameParser()
    assert feeder.feed(parser, b"SEND\n") == []
    assert parser.buffered == 5
    assert feeder.feed(parser, b"\n") == []
    assert parser.buffered == 6
    assert feeder.parse(b"\x00", parser) == [Frame(b"SEND", {})]


def test_buffered_is_zero_after_complete_frames(feeder: Feeder) -> None:
    parser = FrameParser()
    assert feeder.parse(SEND * 3, parser) == [SEND_FRAME] * 3
    assert (parser.buffered, parser.in_frame) == (0, False)


# -- hypothesis: valid streams at random split points ------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

_interesting = st.one_of(
    st.binary(max_size=12),
    st.text(alphabet="ab:\\\n\r \x00c", max_size=10).map(str.encode),
)

# What escape() changes, or what the 1.0/1.1 wire cannot carry, per version.
_UNSAFE_VALUE = {V1_0: b"\n\r", V1_1: b"\r", V1_2: b""}
_UNSAFE_NAME = {V1_0: b"\n\r:", V1_1: b"\r", V1_2: b""}
_ESCAPED_BY_ENCODER = {V1_0: b"\n\r", V1_1: b"\\\n:\r", V1_2: b"\\\n:\r"}


@st.composite
def valid_frame(draw: st.DrawFn, version: int) -> tuple[bytes, Frame]:
    command = draw(st.sampled_from(sorted(CLIENT_COMMANDS)))
    never_escaped = command in (b"CONNECT", b"STOMP")
    value_drop = _UNSAFE_VALUE[version] + (_ESCAPED_BY_ENCODER[version] if never_escaped else b"")
    name_drop = _UNSAFE_NAME[version] + (_ESCAPED_BY_ENCODER[version] if never_escaped else b"")
    names = st.one_of(_interesting, st.sampled_from([b"destination", b"id", b"receipt"])).map(
        lambda name: name.translate(None, name_drop)
    ).filter(lambda name: name and name != b"content-length")
    values = _interesting.map(lambda value: value.translate(None, value_drop))
    headers = draw(st.dictionaries(names, values, max_size=5))
    body = draw(st.binary(max_size=40)) if command == b"SEND" else b""
    with_length = draw(st.booleans()) or b"\x00" in body
    if with_length or not body:
        data = encode_frame(command, headers.items(), body, version)
    else:  # a NUL-terminated body, no content-length
        data = encode_frame(command, headers.items(), b"", version)[:-1] + body + b"\x00"
    if draw(st.booleans()):  # CRLF line ends in the head (the encoder writes LF)
        head, _, rest = data.partition(b"\n\n")
        data = head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + rest
    expected = dict(headers)
    if body and with_length:
        expected[b"content-length"] = b"%d" % len(body)
    return data, Frame(command, expected, body)


@st.composite
def valid_stream(draw: st.DrawFn) -> tuple[int, bytes, list[Frame], list[int]]:
    version = draw(st.sampled_from(VERSIONS))
    items = draw(st.lists(valid_frame(version), max_size=6))
    eols = st.sampled_from([b"", b"", b"\n", b"\r\n", b"\n\n", b"\r\n\n", b"\r\n\r\n", b"\x00", b"\n\x00\r\n"])
    data = draw(eols)
    for encoded, _ in items:
        data += encoded + draw(eols)
    points = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return version, data, [parsed for _, parsed in items], points


@FUZZ_SETTINGS
@given(valid_stream())
def test_valid_frames_survive_any_split(stream: tuple[int, bytes, list[Frame], list[int]]) -> None:
    version, data, expected, points = stream
    parser = FrameParser(version=version)
    assert feed_pieces(parser, cut(data, points)) == expected
    assert (parser.buffered, parser.in_frame) == (0, False)
    # The same stream in one piece and byte by byte, and followed by one more frame.
    assert list(FrameParser(version=version).feed(data)) == expected
    assert feed_pieces(FrameParser(version=version), bytewise(data)) == expected
    assert list(FrameParser(version=version).feed(data + CLIENT_TRAILER)) == expected + [CLIENT_TRAILER_FRAME]


# -- hypothesis: junk never raises anything but ProtocolError -------------------------------------

_TOKENS = [
    b"SEND", b"CONNECT", b"STOMP", b"SUBSCRIBE", b"ACK", b"MESSAGE", b"send", b"\n", b"\n", b"\r\n", b"\r",
    b":", b"\\", b"\\n", b"\\c", b"\\r", b"\\\\", b"\\t", b"\x00", b"\x00", b"content-length:", b"content-length:0",
    b"0", b"3", b"12", b"-1", b"destination:/q", b"id:1", b"x", b"\xff",
]
junk = st.lists(st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=6)), max_size=40).map(b"".join)
LIMITS = {"max_frame_size": 64, "max_headers": 3, "max_header_length": 20}


def _outcome(version: int, pieces: list[bytes]) -> tuple[list[Frame], bool, int, bool]:
    """Frames produced before any error, whether a ProtocolError ended it, and the end state."""
    parser = FrameParser(version=version, **LIMITS)
    frames: list[Frame] = []
    try:
        for piece in pieces:
            for parsed in parser.feed(piece):
                frames.append(parsed)
    except ProtocolError as error:
        assert str(error).startswith("syntax - ")
        return frames, True, -1, False
    return frames, False, parser.buffered, parser.in_frame


@FUZZ_SETTINGS
@given(st.sampled_from(VERSIONS), junk, st.lists(st.integers(0, 300), max_size=10))
@example(V1_0, b"SENDSENDcontent-length:\n", [21])  # an over-long line completed in a partial head
@example(V1_2, b"\r\nSEND\na:1\nb:2\nc:3\n\n\x00", [1])  # a CRLF heart-beat split before a frame
def test_junk_raises_only_protocol_error_and_does_not_depend_on_splits(
    version: int, data: bytes, points: list[int]
) -> None:
    points = [min(point, len(data)) for point in points]
    whole = _outcome(version, [data])
    assert _outcome(version, cut(data, points)) == whole
    assert _outcome(version, bytewise(data)) == whole
    frames, failed, buffered, _ = whole
    for parsed in frames:
        assert parsed.command in CLIENT_COMMANDS
        assert len(parsed.headers) <= LIMITS["max_headers"]
        assert parsed.body == b"" or parsed.command in BODY_COMMANDS
    if not failed:
        assert 0 <= buffered <= len(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=10))
def test_random_bytes_raise_only_protocol_error(data: bytes, points: list[int]) -> None:
    for version in VERSIONS:
        parser = FrameParser(version=version, **LIMITS)
        try:
            feed_pieces(parser, cut(data, [min(point, len(data)) for point in points]))
        except ProtocolError:
            pass
