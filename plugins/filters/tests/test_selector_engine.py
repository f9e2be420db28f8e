"""The selector engine over real sockets: routing, ERROR frames, limits, the index, lazy loading."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from filters_support import FILTERS_BASE

from xtomp_testing import write_config


def publish(client, destination, bodies_and_headers):
    for body, headers in bodies_and_headers:
        client.send_frame("SEND", {"destination": destination, **headers}, body)
    client.send_frame("SEND", {"destination": "/topic/sync", "receipt": "sent"}, "")
    client.expect_receipt("sent")


def test_selectors_route_with_stomp_py(broker, stomp_py):
    """A RabbitMQ or ActiveMQ user's subscriptions: each gets exactly what its selector says."""
    selectors = {
        "eu": "region = 'eu'",
        "big": "region = 'eu' AND amount >= 1000",
        "not-eu": "region <> 'eu'",  # UNKNOWN (not selected) without a region
        "named": "\"x-kind\" LIKE 'pay%' AND JMSType = 'order'",
        "none-or-low": "priority IS NULL OR priority < 5",
        "in": "currency IN ('EUR', 'CHF')",
    }
    connection, heard = stomp_py(broker)
    connection.connect(wait=True)
    for name, selector in selectors.items():
        connection.subscribe("/topic/orders", id=name, headers={"selector": selector, "receipt": name})
    heard.wait_for(lambda: len(heard.receipts) == len(selectors))  # subscribed before anything is sent
    sender, _ = stomp_py(broker)
    sender.connect(wait=True)
    orders = [
        ("o1", {"region": "eu", "amount": "999.99", "currency": "EUR", "priority": "7"}),
        ("o2", {"region": "eu", "amount": "1000", "currency": "USD"}),
        ("o3", {"region": "us", "amount": "5000", "x-kind": "payment", "type": "order", "priority": "1"}),
        ("o4", {"amount": "1", "currency": "CHF", "priority": "high"}),
    ]
    for body, headers in orders:
        sender.send("/topic/orders", body, headers=headers)
    expected = {
        ("eu", "o1"), ("eu", "o2"), ("big", "o2"), ("not-eu", "o3"), ("named", "o3"),
        ("none-or-low", "o2"), ("none-or-low", "o3"), ("in", "o1"), ("in", "o4"),
    }
    heard.wait_messages(len(expected))
    sender.send("/topic/orders", "end", headers={"region": "none"}, receipt="done")
    heard.wait_messages(len(expected) + 2)  # "end" has a region that is not eu and no priority
    got = {(m.headers["subscription"], m.body) for m in heard.messages}
    assert got == expected | {("not-eu", "end"), ("none-or-low", "end")}


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("region = ", "invalid selector - at position 10: expected a value, a header name or '(', found the end of the selector"),
        ("region == 'eu'", "invalid selector - at position 8: expected a comparison operator, found '==' (write = for 'equal')"),
        ("amount > 'x' + 1", "invalid selector - at position 14: arithmetic needs numbers, found a string"),
        ("region = 'eu", "invalid selector - at position 10: unterminated string: no closing '"),
    ],
)
def test_a_bad_selector_gets_an_error_naming_position_and_expectation(broker, raw_client, selector, message):
    client = raw_client(broker)
    client.connect()
    client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "selector": selector, "receipt": "r"})
    frame = client.expect_error()
    assert frame.headers[b"message"].decode() == message
    assert frame.headers[b"receipt-id"] == b"r"


def test_stomp_py_sees_the_error(broker, stomp_py):
    connection, heard = stomp_py(broker)
    connection.connect(wait=True)
    connection.subscribe("/topic/x", id="1", headers={"selector": "a = = 1"})
    heard.wait_for(lambda: heard.errors)
    assert heard.errors[0].headers["message"].startswith("invalid selector - at position 5: expected a value")


def test_limits_are_directives(filtered, raw_client):
    broker = filtered("[plugins.filters]\nselector_max_length = 40\nselector_max_depth = 3\n")
    cases = [
        ("a = '" + "x" * 40 + "'", "invalid selector - the selector is 46 bytes long, more than selector_max_length (40)"),
        ("((((a = 1))))", "invalid selector - at position 4: nested more than 3 levels deep"),
        ("(((a = 1)))", None),
    ]
    for selector, error in cases:
        client = raw_client(broker)
        client.connect()
        if error is None:
            client.subscribe("/topic/x", id="1", selector=selector)
            continue
        client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1", "selector": selector})
        client.expect_error(error)


def test_a_selector_that_is_not_utf8_is_refused(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.send(b"SUBSCRIBE\ndestination:/topic/x\nid:1\nselector:a = '\xff'\n\n\x00")
    client.expect_error("invalid selector - at byte 6: the selector is not valid UTF-8")


def test_ten_thousand_distinct_selectors_cost_one_evaluation_per_message(filtered, raw_client):
    """Each selector's equality conjunct is in the index: a message evaluates one selector, not 10,000."""
    broker = filtered("[server]\nmax_subscriptions = 20000\n[destination_defaults]\nmax_connections = 20000\n")
    count = 10_000
    subscriber = raw_client(broker, timeout=30)
    subscriber.connect()
    frames = b"".join(
        b"SUBSCRIBE\ndestination:/topic/many\nid:%d\nselector:k = 'v%d' AND n >= 0\n\n\x00" % (i, i)
        for i in range(count)
    )
    subscriber.send(frames + b"SUBSCRIBE\ndestination:/topic/ready\nid:ready\nreceipt:ready\n\n\x00")
    subscriber.expect_receipt("ready", timeout=30)
    index = broker.broker.destinations[b"/topic/many"].index
    calls = []

    def count_calls():
        assert not index.plain and not index.residual
        for group in index.keyed[b"k"].values():
            for subscription in group:
                selector = subscription.filter

                def counted(headers, selector=selector):
                    calls.append(1)
                    return selector(headers)

                counted.index_key, counted.exact = selector.index_key, selector.exact
                subscription.filter = counted
        return len(index.keyed[b"k"])

    assert broker.call(count_calls) == count
    publisher = raw_client(broker)
    publisher.connect()
    publish(publisher, "/topic/many", [(f"m{i}", {"k": f"v{i * 997 % count}", "n": str(i)}) for i in range(20)])
    got = [(m.headers[b"subscription"], m.body) for m in subscriber.messages(20)]
    assert got == [(b"%d" % (i * 997 % count), b"m%d" % i) for i in range(20)]
    assert broker.call(lambda: len(calls)) == 20  # one evaluation per message
    publish(publisher, "/topic/many", [("negative", {"k": "v5", "n": "-1"}), ("absent", {"n": "1"})])
    subscriber.expect_nothing()


def test_unsubscribing_selector_subscriptions_empties_the_index(broker, raw_client):
    client = raw_client(broker)
    client.connect()
    client.subscribe("/topic/u", id="keyed", selector="a = 'x' AND b > 1")
    client.subscribe("/topic/u", id="residual", selector="a LIKE 'x%'")
    index = broker.broker.destinations[b"/topic/u"].index
    assert broker.call(lambda: (len(index.keyed[b"a"]), len(index.residual))) == (1, 1)
    client.send_frame("UNSUBSCRIBE", {"id": "keyed"})
    client.send_frame("UNSUBSCRIBE", {"id": "residual", "receipt": "gone"})
    client.expect_receipt("gone")
    assert broker.call(lambda: (index.plain, index.keyed, index.residual)) == ([], {}, [])


LAZY = textwrap.dedent(
    """
    import sys
    from xtomp_testing import load_broker

    def selector_modules():
        return sorted(name for name in sys.modules if name.startswith("xtomp_filters.selector"))

    broker = load_broker(sys.argv[1])
    assert "xtomp_filters.plugin" in sys.modules, "the plugin is enabled"
    assert selector_modules() == [], selector_modules()
    destination = broker.context.destination(b"/topic/lazy")
    broker.registered("filter engine", "header").compile(b"a=b", destination)
    assert selector_modules() == [], "the header engine does not load the selector compiler"
    broker.registered("filter engine", "selector").compile(b"a = 'b'", destination)
    assert "xtomp_filters.selector.parser" in sys.modules
    print("ok")
    """
)


def test_the_selector_compiler_is_imported_on_first_use_only(tmp_path):
    config = write_config(tmp_path, "", FILTERS_BASE)
    result = subprocess.run([sys.executable, "-c", LAZY, str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
