"""A clustered queue's stream entry: a message's headers and body survive encode_entry/decode_entry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from xtomp_core import NOT_FORWARDED
from xtomp_cluster.streams import decode_entry, encode_entry

#: Header bytes as clients send them after unescaping: anything but NUL (EOLs, colons, backslashes...).
text = st.binary(max_size=12).filter(lambda value: b"\x00" not in value)


@given(st.dictionaries(text, text, max_size=6), st.binary(max_size=40))
def test_headers_and_body_come_back_as_they_were_sent(headers: dict[bytes, bytes], body: bytes) -> None:
    forwarded = {name: value for name, value in headers.items() if name not in NOT_FORWARDED}
    assert decode_entry(encode_entry(headers, body)) == (forwarded, body)


def test_the_common_case_is_written_raw_colons_in_values_included() -> None:
    assert encode_entry({b"time": b"12:30:00", b"destination": b"/queue/x"}, b"body") == b"time:12:30:00\n\nbody"
    assert encode_entry({b"a:b": b"1"}, b"") == b"a\\cb:1\n\n"  # a colon in a name: escaped
