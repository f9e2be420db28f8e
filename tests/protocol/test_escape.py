"""Header escaping per STOMP version (1.2 "Value Encoding"; 1.1 "Value Encoding"; 1.0 has none)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtomp_core.errors import ProtocolError
from xtomp_core.protocol.constants import V1_0, V1_1, V1_2
from xtomp_core.protocol.escape import escape, needs_escape, unescape

VERSIONS = (V1_0, V1_1, V1_2)

# Bytes that matter to escaping, mixed with arbitrary ones so shrinking finds short examples.
escape_heavy = st.one_of(
    st.binary(max_size=64),
    st.text(alphabet="\\:\n\rcnrt a", max_size=24).map(str.encode),
)


# -- unescape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [b"", b"plain", b"a\\cb", b"\\n\\r\\t", b"trailing\\", b"\\", b"\\\\", b"a:b", b"\xff\x00"]
)
def test_unescape_1_0_changes_nothing(value: bytes) -> None:
    assert unescape(value, V1_0) == value


@pytest.mark.parametrize("version", [V1_1, V1_2])
@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"", b""),
        (b"plain", b"plain"),
        (b"\\n", b"\n"),
        (b"\\c", b":"),
        (b"\\\\", b"\\"),
        (b"a\\cb\\nc\\\\d", b"a:b\nc\\d"),
        (b"\\\\n", b"\\n"),  # escaped backslash, then a plain n
        (b"\\\\\\n", b"\\\n"),
        (b"\\\\\\\\", b"\\\\"),
        (b"\\\\c\\c", b"\\c:"),
        (b"\\n\\n\\c\\c", b"\n\n::"),
        (b"\r", b"\r"),  # a raw CR is left alone (the parser deals with line ends)
    ],
)
def test_unescape_1_1_and_1_2(version: int, raw: bytes, decoded: bytes) -> None:
    assert unescape(raw, version) == decoded


def test_unescape_cr_in_1_2() -> None:
    assert unescape(b"a\\rb\\r", V1_2) == b"a\rb\r"
    assert unescape(b"\\\\r", V1_2) == b"\\r"


def test_unescape_cr_is_an_error_in_1_1() -> None:
    with pytest.raises(ProtocolError) as info:
        unescape(b"a\\rb", V1_1)
    assert str(info.value) == "syntax - invalid escape sequence '\\\\r' in a header"


@pytest.mark.parametrize("version", [V1_1, V1_2])
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"\\t", "'\\\\t'"),
        (b"ok\\n then \\t", "'\\\\t'"),
        (b"\\\\\\t", "'\\\\t'"),
        (b"\\N", "'\\\\N'"),
        (b"\\ ", "'\\\\ '"),
        (b"\\\x00", "'\\\\\\x00'"),
        (b"\\\xff", "'\\\\\xff'"),
        (b"\\", "'\\\\'"),  # a lone trailing backslash
        (b"abc\\", "'\\\\'"),
        (b"\\\\\\", "'\\\\'"),
        (b"\\n\\", "'\\\\'"),
    ],
)
def test_unescape_invalid_sequences(version: int, raw: bytes, shown: str) -> None:
    with pytest.raises(ProtocolError) as info:
        unescape(raw, version)
    assert str(info.value) == f"syntax - invalid escape sequence {shown} in a header"


def test_unescape_first_invalid_sequence_is_named() -> None:
    with pytest.raises(ProtocolError, match=r"'\\\\a'"):
        unescape(b"\\c\\a\\t", V1_2)


# -- escape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "raw", "encoded"),
    [
        (V1_2, b"", b""),
        (V1_2, b"plain", b"plain"),
        (V1_2, b"a:b", b"a\\cb"),
        (V1_2, b"a\nb", b"a\\nb"),
        (V1_2, b"a\rb", b"a\\rb"),
        (V1_2, b"a\\b", b"a\\\\b"),
        (V1_2, b"\\n", b"\\\\n"),  # the backslash is escaped first, not re-escaped after
        (V1_2, b"\\:\n\r", b"\\\\\\c\\n\\r"),
        (V1_1, b"\\:\n\r", b"\\\\\\c\\n\r"),  # 1.1 has no \r escape
        (V1_1, b"a\rb", b"a\rb"),
        (V1_0, b"a:b\\c", b"a:b\\c"),  # 1.0: untouched...
        (V1_0, b"a\nb\\c:\r", b"a\\nb\\\\c:\\r"),  # ...unless an EOL would break the frame
    ],
)
def test_escape(version: int, raw: bytes, encoded: bytes) -> None:
    assert escape(raw, version) == encoded


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([V1_1, V1_2]), escape_heavy)
def test_unescape_inverts_escape(version: int, value: bytes) -> None:
    assert unescape(escape(value, version), version) == value


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VERSIONS), escape_heavy)
def test_escaped_values_fit_on_a_header_line(version: int, value: bytes) -> None:
    encoded = escape(value, version)
    assert b"\n" not in encoded
    if version == V1_2:
        assert b"\r" not in encoded
    if version in (V1_1, V1_2):
        assert b":" not in encoded


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([V1_1, V1_2]), escape_heavy)
def test_unescape_never_raises_on_escaped_output(version: int, value: bytes) -> None:
    # Any escaped value, even concatenated with another, is still valid escaped text.
    unescape(escape(value, version) + escape(value[::-1], version), version)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([V1_1, V1_2]), escape_heavy)
def test_unescape_raises_only_protocol_error(version: int, value: bytes) -> None:
    try:
        decoded = unescape(value, version)
    except ProtocolError as error:
        assert "invalid escape sequence" in str(error)
    else:
        assert len(decoded) <= len(value)
        if b"\\" not in value:
            assert decoded == value


# -- needs_escape ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "value", "expected"),
    [
        (V1_2, b"plain /queue/a-b_c.d", False),
        (V1_2, b"", False),
        (V1_2, b":", True),
        (V1_2, b"\n", True),
        (V1_2, b"\r", True),
        (V1_2, b"\\", True),
        (V1_1, b"\r", False),
        (V1_1, b":", True),
        (V1_1, b"\\", True),
        (V1_1, b"\n", True),
        (V1_0, b":\\", False),
        (V1_0, b"\n", True),
        (V1_0, b"\r", True),
    ],
)
def test_needs_escape(version: int, value: bytes, expected: bool) -> None:
    assert needs_escape(value, version) is expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VERSIONS), escape_heavy)
def test_needs_escape_is_true_exactly_when_escape_changes_the_value(version: int, value: bytes) -> None:
    assert needs_escape(value, version) == (escape(value, version) != value)
