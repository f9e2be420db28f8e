"""Message.encoded_rest / from_encoded_rest: a message crossing to another broker keeps its
headers, body and encoding, and is never encoded again on the other side."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtomp_core import Message

V1_0, V1_1, V1_2 = 10, 11, 12

# Names and values with everything that needs escaping in some version (colon, EOL, CR, backslash).
octets = st.binary(min_size=0, max_size=12).map(lambda b: bytes(c for c in b if c != 0))
names = octets.filter(lambda b: b != b"")
destinations = st.sampled_from([b"/topic/a", b"/topic/a:b", b"/topic/back\\slash", b"/topic/e\nol", b"/topic/c\rr"])


def sent(destination: bytes, headers: dict[bytes, bytes], body: bytes) -> Message:
    """A SEND's message: its header dict holds what STOMP does not forward too."""
    return Message(41, destination, {b"destination": destination, b"receipt": b"r-1", **headers}, body)


@given(destinations, st.dictionaries(names, octets, max_size=5), st.binary(max_size=40))
def test_the_copy_is_the_message_it_would_be_if_encoded_here(destination, headers, body):
    headers = {name: value for name, value in headers.items() if name not in (b"destination", b"receipt",
               b"content-length", b"transaction", b"message-id", b"subscription", b"ack", b"content-type")}
    original = sent(destination, headers, body)
    copy = Message.from_encoded_rest(7, destination, original.encoded_rest())
    fresh = Message(7, destination, dict(headers), body)
    assert copy.headers == headers and copy.body == body
    for version in (V1_0, V1_1, V1_2):
        assert copy.tail_for(version) == fresh.tail_for(version)
    assert copy.uniform == fresh.uniform


def test_the_rest_is_the_tail_after_the_message_id_line():
    message = sent(b"/topic/prices", {b"at": b"12:30", b"ccy": b"EUR"}, b"42")
    assert message.encoded_rest() == b"at:12\\c30\nccy:EUR\ncontent-length:2\n\n42\x00"
    assert message.tail() == b"destination:/topic/prices\nmessage-id:41\n" + message.encoded_rest()


def test_the_rest_becomes_the_copy_s_tail_as_it_is():
    rest = sent(b"/topic/t", {b"k": b"v"}, b"body").encoded_rest()
    copy = Message.from_encoded_rest(123456, b"/topic/t", rest)
    assert copy.tail() == b"destination:/topic/t\nmessage-id:123456\n" + rest
    assert copy.uniform and copy.id == 123456 and copy.destination == b"/topic/t"


@pytest.mark.parametrize("rest, complaint", [
    (b"", "no blank line"),
    (b"k:v\ncontent-length:1\n\nx", "no NUL"),
    (b"k:v\n\nx\x00", "content-length"),
    (b"k:v\ncontent-length:2\n\nx\x00", "content-length"),
    (b"content-length:1\nk:v\n\nx\x00", "content-length"),
    (b"no colon\ncontent-length:1\n\nx\x00", "without a colon"),
    (b"k:bad\\q\ncontent-length:1\n\nx\x00", "invalid escape"),
])
def test_what_is_not_a_rest_is_a_value_error(rest, complaint):
    with pytest.raises(ValueError, match=complaint):
        Message.from_encoded_rest(1, b"/topic/t", rest)


@pytest.mark.parametrize("section", [
    b"a:b:c\nnocolon\ncontent-length:1",  # as many colons as lines, but two on one line
    b"k:v\r\ncontent-length:1",  # a raw CR
    b"k:v\x00\ncontent-length:1",  # a NUL
    b"k:a\\nb:c\ncontent-length:1",  # other escapes take the line-by-line path: two colons still refused
])
def test_lines_that_would_reach_subscribers_malformed_are_refused(section):
    with pytest.raises(ValueError):
        Message.from_encoded_rest(1, b"/topic/t", section + b"\n\nx\x00")
