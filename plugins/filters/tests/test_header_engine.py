"""The header engine over real sockets: xtomp's ``filter:NAME=VALUE``, with xtomp's bugs fixed.

Each test names the xtomp behaviour it pins down (xtomp-original.md §4 and §11).
"""

from __future__ import annotations

import pytest

from xtomp_core import ConfigError
from xtomp_testing import load_broker, write_config
from xtomp_filters import HeaderFilter

from filters_support import FILTERS_BASE


def publish(client, destination, bodies_and_headers):
    for body, headers in bodies_and_headers:
        client.send_frame("SEND", {"destination": destination, **headers}, body)
    client.send_frame("SEND", {"destination": "/topic/sync", "receipt": "sent"}, "")
    client.expect_receipt("sent")


def test_filter_selects_by_header_value(broker, raw_client):
    blue, red, everything = raw_client(broker), raw_client(broker), raw_client(broker)
    for client in (blue, red, everything):
        client.connect()
    blue.subscribe("/topic/paint", id="b", filter="colour=blue")
    red.subscribe("/topic/paint", id="r", filter="colour=red")
    everything.subscribe("/topic/paint", id="all")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/paint", [
        ("sky", {"colour": "blue"}), ("rose", {"colour": "red"}), ("grass", {"colour": "green"}), ("air", {}),
    ])
    assert [m.body for m in blue.messages(1)] == [b"sky"]
    assert [m.body for m in red.messages(1)] == [b"rose"]
    assert [m.body for m in everything.messages(4)] == [b"sky", b"rose", b"grass", b"air"]
    blue.expect_nothing()
    red.expect_nothing()


def test_exact_match_not_prefix(broker, raw_client):
    """xtomp matched the header name and value by prefix: colourful:blue matched filter_header colour."""
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("memfilter", id="1", filter="colour=blue")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "memfilter", [
        ("prefix name", {"colourful": "blue"}),
        ("prefix value", {"colour": "bluer"}),
        ("shorter value", {"colour": "blu"}),
        ("case", {"colour": "Blue"}),
        ("yes", {"colour": "blue"}),
    ])
    assert [m.body for m in subscriber.messages(1)] == [b"yes"]
    subscriber.expect_nothing()


def test_only_the_filter_header_counts_not_prefixes_of_it(broker, raw_client):
    """xtomp took the first header whose name prefix-matched 'filter' (f, fil...) as the filter."""
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("/topic/p", id="1", fil="colour=blue")  # not a filter: an ordinary header
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/p", [("red", {"colour": "red"})])
    assert subscriber.expect("MESSAGE").body == b"red"


def test_the_name_is_the_header_matched(broker, raw_client):
    """xtomp ignored the key (filter:anything=blue matched colour:blue); here NAME is the header."""
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("/topic/k", id="1", filter="shade=blue")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/k", [("colour", {"colour": "blue"}), ("shade", {"shade": "blue"})])
    assert [m.body for m in subscriber.messages(1)] == [b"shade"]
    subscriber.expect_nothing()


@pytest.mark.parametrize("name", ["Colour", "x_region", "region2", "a.b", "JMSType", "é"])
def test_any_header_name_is_valid(broker, raw_client, name):
    """xtomp accepted only [a-z-]+ keys."""
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("/topic/names", id="1", filter=f"{name}=v")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/names", [("hit", {name: "v"}), ("miss", {name: "w"})])
    assert [m.body for m in subscriber.messages(1)] == [b"hit"]


def test_value_may_hold_equals_and_be_empty(broker, raw_client):
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("/topic/eq", id="eq", filter="q=a=b")
    subscriber.subscribe("/topic/eq", id="empty", filter="q=")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/eq", [("one", {"q": "a=b"}), ("two", {"q": ""}), ("three", {"q": "a"})])
    got = [(m.headers[b"subscription"], m.body) for m in subscriber.messages(2)]
    assert got == [(b"eq", b"one"), (b"empty", b"two")]
    subscriber.expect_nothing()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("blue", "expected NAME=VALUE"),
        ("=blue", "the header name is empty"),
        ("colour =blue", "no spaces"),
        ("receipt=x", "the broker consumes the receipt header"),
        ("content-length=5", "consumes the content-length header"),
    ],
)
def test_malformed_filters_get_a_clear_error(broker, raw_client, value, text):
    client = raw_client(broker)
    client.connect()
    client.send_frame("SUBSCRIBE", {"destination": "/topic/bad", "id": "1", "filter": value, "receipt": "r"})
    frame = client.expect_error(text)
    assert frame.headers[b"message"].startswith(b"dest flup - ")  # xtomp's code for filter errors
    assert frame.headers[b"receipt-id"] == b"r"


def test_filter_header_directive_pins_the_name(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.send_frame("SUBSCRIBE", {"destination": "memfilter", "id": "1", "filter": "shade=blue"})
    client.expect_error("memfilter filters on the colour header: use filter:colour=VALUE")


def test_required_refuses_a_subscription_without_filter(broker, raw_client):
    """xtomp's 'filter required' put such subscriptions in a list routing never read."""
    client = raw_client(broker)
    client.connect()
    client.send_frame("SUBSCRIBE", {"destination": "memfilter", "id": "1", "receipt": "r"})
    frame = client.expect_error("memfilter requires a filter: subscribe with filter:colour=VALUE or selector:EXPRESSION")
    assert frame.headers[b"message"].startswith(b"dest flup - ")


def test_required_delivers_to_filtered_subscribers(broker, raw_client):
    subscriber = raw_client(broker)
    subscriber.connect()
    subscriber.subscribe("memfilter", id="f", filter="colour=blue")
    subscriber.subscribe("memfilter", id="s", selector="colour = 'red'")  # a selector counts as a filter
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "memfilter", [("a", {"colour": "blue"}), ("b", {"colour": "red"}), ("c", {})])
    got = [(m.headers[b"subscription"], m.body) for m in subscriber.messages(2)]
    assert got == [(b"f", b"a"), (b"s", b"b")]
    subscriber.expect_nothing()


def test_off_refuses_filters(broker, raw_client):
    for header, value in (("filter", "colour=blue"), ("selector", "colour = 'blue'")):
        client = raw_client(broker)
        client.connect()
        client.send_frame("SUBSCRIBE", {"destination": "nofilter", "id": "1", header: value})
        client.expect_error("filters are off on nofilter")
    plain = raw_client(broker)
    plain.connect()
    plain.subscribe("nofilter", id="1")


def test_filter_and_selector_together_are_refused(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "filter": "a=b", "selector": "a = 'b'"})
    client.expect_error("a subscription takes one filter")


def test_unsubscribe_and_disconnect_of_filtered_and_plain_subscriptions(broker, raw_client):
    """xtomp crashed (NULL dereference) unsubscribing or closing a filter-less subscription on a filtered
    destination. Here every mix of filtered and plain subscriptions comes and goes, and delivery goes on."""
    publisher = raw_client(broker)
    publisher.connect()
    first = raw_client(broker)
    first.connect()
    first.subscribe("/topic/mix", id="plain")
    first.subscribe("/topic/mix", id="blue", filter="colour=blue")
    first.subscribe("memfilter", id="m", filter="colour=blue")
    second = raw_client(broker)
    second.connect()
    second.subscribe("/topic/mix", id="blue2", filter="colour=blue")
    second.subscribe("/topic/mix", id="plain2")
    first.send_frame("UNSUBSCRIBE", {"id": "plain", "receipt": "u1"})
    first.expect_receipt("u1")
    first.send_frame("UNSUBSCRIBE", {"id": "m", "receipt": "u2"})
    first.expect_receipt("u2")
    second.close()  # disconnect with a filtered and a plain subscription
    publish(publisher, "/topic/mix", [("x", {"colour": "blue"}), ("y", {"colour": "red"})])
    assert [(m.headers[b"subscription"], m.body) for m in first.messages(1)] == [(b"blue", b"x")]
    first.expect_nothing()
    first.send_frame("UNSUBSCRIBE", {"id": "blue", "receipt": "u3"})
    first.expect_receipt("u3")
    stats = {d["dest"]: d for d in broker.stats()["destinations"]}
    assert stats["/topic/mix"]["sz"] == 0 and stats["memfilter"]["sz"] == 0
    index = broker.broker.destinations[b"/topic/mix"].index
    assert broker.call(lambda: (index.plain, index.keyed, index.residual)) == ([], {}, [])


def test_index_is_a_dict_lookup_and_exact_filters_are_not_called(broker, raw_client):
    clients = []
    for number in range(200):
        client = raw_client(broker)
        client.connect()
        client.subscribe("/topic/many", id="s", filter=f"k=v{number}")
        clients.append(client)
    index = broker.broker.destinations[b"/topic/many"].index
    keyed = broker.call(lambda: {header: len(groups) for header, groups in index.keyed.items()})
    assert keyed == {b"k": 200} and not index.residual and not index.plain
    flt = broker.call(lambda: index.keyed[b"k"][b"v7"][0].filter)
    assert isinstance(flt, HeaderFilter) and flt.exact and flt.index_key == (b"k", b"v7")
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/many", [(f"to {n}", {"k": f"v{n}"}) for n in (7, 150, 7)])
    assert [m.body for m in clients[7].messages(2)] == [b"to 7", b"to 7"]
    assert clients[150].expect("MESSAGE").body == b"to 150"
    clients[8].expect_nothing(0.05)


def test_stomp_py_subscriber(broker, stomp_py):
    connection, heard = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/py", id="1", headers={"filter": "colour=blue", "receipt": "1"})
    connection.subscribe("/topic/py", id="2", headers={"selector": "colour = 'red' AND size > 2", "receipt": "2"})
    heard.wait_for(lambda: len(heard.receipts) == 2)
    sender, _ = stomp_py(broker)
    sender.connect(wait=True)
    for colour, size in (("blue", 1), ("red", 1), ("red", 3), ("green", 9)):
        sender.send("/topic/py", f"{colour} {size}", headers={"colour": colour, "size": str(size)})
    sender.send("/topic/py", "last", headers={"colour": "blue"}, receipt="done")
    heard.wait_messages(3)
    got = sorted((m.headers["subscription"], m.body) for m in heard.messages)
    assert got == [("1", "blue 1"), ("1", "last"), ("2", "red 3")]


def test_config_checks(tmp_path):
    def load(extra, name):
        return load_broker(write_config(tmp_path / name, extra, FILTERS_BASE))

    with pytest.raises(ConfigError, match=r'destinations."d".filter_header: the header name \'a:b\' contains a colon'):
        load('[destinations."d"]\nfilter_header = "a:b"\n', "colon")
    with pytest.raises(ConfigError, match="consumes the receipt header"):
        load('[destination_defaults]\nfilter_header = "receipt"\n', "consumed")
    with pytest.raises(ConfigError, match=r"filter_header: is set, but the header engine is off"):
        load('[plugins.filters]\nheader = false\n[destinations."d"]\nfilter_header = "colour"\n', "off")
    with pytest.raises(ConfigError, match=r'filter: "required" needs an engine'):
        load('[plugins.filters]\nheader = false\nselector = false\n[destinations."d"]\nfilter = "required"\n', "none")
    with pytest.raises(ConfigError, match=r"expected one of 'off', 'on', 'required'"):
        load('[destinations."d"]\nfilter = "yes"\n', "choice")
    assert load('[destinations."d"]\nfilter = "required"\nfilter_header = "colour"\n', "ok")


def test_disabled_engines_refuse_rather_than_ignore(filtered, raw_client):
    broker = filtered("[plugins.filters]\nheader = false\nselector = false\n")
    for header, value, text in (
        ("filter", "a=b", "dest flup - filter headers are not enabled on this broker"),
        ("selector", "a = 'b'", "invalid selector - selectors are not enabled on this broker"),
    ):
        client = raw_client(broker)
        client.connect()
        client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", header: value})
        client.expect_error(text)


def test_filter_settings_is_a_frozen_value():
    """Compared, hashed and shown by its fields, as the dataclass it was; no assignment."""
    from xtomp_core import FrozenInstanceError
    from xtomp_filters.engines import FilterSettings

    settings = FilterSettings(selector_max_depth=8)
    assert settings == FilterSettings(True, True, 4096, 8) and settings != FilterSettings()
    assert len({settings, FilterSettings(selector_max_depth=8), FilterSettings()}) == 2
    assert repr(settings) == "FilterSettings(header=True, selector=True, selector_max_length=4096, selector_max_depth=8)"
    with pytest.raises(FrozenInstanceError):
        settings.header = False  # type: ignore[misc]
