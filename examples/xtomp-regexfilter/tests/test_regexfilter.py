"""The regexfilter example: x-match subscriptions receive only matching messages, plain strings
go through the subscriber index, and every invalid x-match is refused with a clear ERROR."""

from __future__ import annotations

import pytest

import xtomp_regexfilter
from xtomp_core import ConfigError
from xtomp_testing import InMemoryBroker, check_config

PLUGINS = [("regexfilter", xtomp_regexfilter)]
CONFIG = "[plugins.regexfilter]\nmax_length = 64\n"
TOPIC = "/topic/orders"


@pytest.fixture
def memory():
    with InMemoryBroker(CONFIG, plugins=PLUGINS) as broker:
        yield broker


def publish(memory, *regions):
    publisher = memory.client()
    for region in regions:
        publisher.send("SEND", {"destination": TOPIC, "region": region}, region)


def bodies(client):
    return [frame.body.decode() for frame in client.frames() if frame.command == b"MESSAGE"]


# -- matching ---------------------------------------------------------------------------------------


def test_a_regex_receives_only_the_messages_it_matches_whole(memory):
    client = memory.client()
    client.subscribe(TOPIC, id="eu", x_match="region~eu-(west|north)-[0-9]")
    everything = memory.client()
    everything.subscribe(TOPIC, id="all")  # no x-match: check_unfiltered lets it take everything
    publish(memory, "eu-west-1", "eu-west-10", "us-east-1", "eu-north-2", "xeu-west-1")
    assert bodies(client) == ["eu-west-1", "eu-north-2"]  # fullmatch: no partial matches
    assert len(bodies(everything)) == 5


def test_a_message_without_the_header_or_with_bytes_that_are_not_text_does_not_match(memory):
    client = memory.client()
    client.subscribe(TOPIC, id="any", x_match="region~.*")
    publisher = memory.client()
    publisher.send("SEND", {"destination": TOPIC}, "no region")
    publisher.feed(b"SEND\ndestination:" + TOPIC.encode() + b"\nregion:\xff\xfe\n\nnot utf-8\x00")
    publisher.send("SEND", {"destination": TOPIC, "region": ""}, "empty region")
    assert bodies(client) == ["empty region"]


def test_a_plain_string_is_an_exact_index_key(memory):
    literal, regex = memory.client(), memory.client()
    literal.subscribe(TOPIC, id="lit", x_match="region~eu")
    regex.subscribe(TOPIC, id="re", x_match="region~e.")
    topic = memory.destination(TOPIC)
    [keyed] = topic.index.keyed[b"region"][b"eu"]  # one dict lookup per message finds it
    assert keyed.filter.exact and keyed.filter.index_key == (b"region", b"eu")
    [residual] = topic.index.residual  # the regex is called per message
    assert residual.filter.index_key is None and not residual.filter.exact
    publish(memory, "eu", "eux", "es")
    assert bodies(literal) == ["eu"]
    assert bodies(regex) == ["eu", "es"]


def test_the_literal_filter_itself_agrees_with_the_index():
    engine = xtomp_regexfilter.RegexEngine()
    flt = engine.compile(b"colour~blue", destination=None)  # the engine never looks at it
    assert flt.exact and flt({b"colour": b"blue"}) and not flt({b"colour": b"blues"}) and not flt({})


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        ("region", "'region': expected HEADER~REGEX"),
        ("~eu", "the header name before '~' is empty"),
        ("re gion~eu", "a header name has no spaces, colons or control characters"),
        ("receipt~r1", "the broker consumes the receipt header of a SEND"),
        ("region~eu-(west", "'eu-(west' is not a valid regular expression: missing ), unterminated subpattern at position 4"),
        ("region~" + "x" * 60, "the header is 67 bytes long, more than max_length (64)"),
    ],
)
def test_an_invalid_x_match_gets_an_error_saying_what_is_wrong(memory, value, problem):
    client = memory.client()
    client.subscribe(TOPIC, id="bad", x_match=value, receipt="never")
    [error] = client.frames()
    assert error.command == b"ERROR"
    message = error.headers[b"message"].decode()
    assert message.startswith("invalid x-match - ") and problem in message
    assert error.headers[b"receipt-id"] == b"never" and not client.session.connected


def test_an_x_match_that_is_not_utf8_is_refused(memory):
    client = memory.client()
    client.feed(b"SUBSCRIBE\ndestination:" + TOPIC.encode() + b"\nid:1\nx-match:region~\xff\n\n\x00")
    [error] = client.frames()
    assert error.headers[b"message"] == b"invalid x-match - at byte 8: the header is not valid UTF-8"


def test_max_length_is_checked_at_start_up():
    with pytest.raises(ConfigError) as error:
        check_config("[plugins.regexfilter]\nmax_length = 2\n", plugins=PLUGINS)
    assert "max_length" in str(error.value) and "at least 3" in str(error.value)


# -- over real sockets ---------------------------------------------------------------------------------


def test_x_match_over_a_socket(xtomp_factory, raw_client, stomp_py):
    broker = xtomp_factory(CONFIG, plugins=PLUGINS)
    raw = raw_client(broker)
    raw.connect()
    raw.subscribe(TOPIC, id="eu", x_match="region~eu-.*")
    connection, recorder = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe(TOPIC, id="us", headers={"x-match": "region~us-east-1"})
    publisher = raw_client(broker)
    publisher.connect()
    connection.send(TOPIC, "sync", receipt="subscribed")  # the SUBSCRIBE above is in place once this is back
    recorder.wait_for(lambda: "subscribed" in recorder.receipts)
    for region in ("eu-west-1", "us-east-1", "ap-south-1", "eu-north-1"):
        publisher.send_frame("SEND", {"destination": TOPIC, "region": region}, region)
    assert [frame.body for frame in raw.messages(2)] == [b"eu-west-1", b"eu-north-1"]
    assert [message.body for message in recorder.wait_messages(1)] == ["us-east-1"]
    raw.expect_nothing()
    assert len(recorder.messages) == 1
