"""/stats (JSON) and /metrics (Prometheus text) over real sockets, parsed back, with figures that
other plugins add: extra destination figures and broker-wide ones through xtomp_collect_stats."""

from __future__ import annotations

import math
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from xtomp_admin.admin import Rates

from xtomp_core import Destination, hookimpl

#: Wall-clock time before any broker of this module started.
IMPORTED = time.time()


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(found: dict, family: str, **labels: str) -> float:
    matches = [s.value for s in found[family].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (family, labels, found[family].samples)
    return matches[0]


def traffic(raw_client, broker, sends: dict[str, int], subscribe: tuple[str, ...] = ()) -> tuple:
    subscriber = raw_client(broker)
    subscriber.connect()
    for index, name in enumerate(subscribe):
        subscriber.subscribe(name, id=str(index))
    publisher = raw_client(broker)
    publisher.connect()
    for name, count in sends.items():
        for index in range(count):
            publisher.send_frame("SEND", {"destination": name}, f"m{index}")
    publisher.send_frame("SEND", {"destination": "/topic/receipts", "receipt": "done"}, "")
    publisher.expect_receipt("done")
    return subscriber, publisher


def test_stats_json(admin, raw_client):
    started = time.time()
    subscriber, _ = traffic(raw_client, admin.broker, {"/topic/a": 5, "/topic/b": 2}, subscribe=("/topic/a",))
    subscriber.messages(5)
    stats = admin.json()
    by_name = {d["dest"]: d for d in stats["destinations"]}
    assert by_name["/topic/a"]["Σ"] == 5 and by_name["/topic/a"]["delivered"] == 5 and by_name["/topic/a"]["sz"] == 1
    assert by_name["/topic/b"]["Σ"] == 2 and by_name["/topic/b"]["delivered"] == 0 and by_name["/topic/b"]["sz"] == 0
    assert by_name["/topic/a"]["type"] == "topic" and by_name["/topic/a"]["q"] == 0
    broker = stats["broker"]
    assert broker["connections"] == 2 and broker["sessions"] == 2 and broker["transports"] == {"tcp": 2}
    assert broker["messages"] == 8 and broker["rss"] > 1_000_000
    assert broker["cpu_user"] + broker["cpu_system"] > 0
    assert 0 <= broker["uptime"] <= round(time.time() - IMPORTED, 3)  # the broker started after this module
    assert list(stats["cc"]) == ["sz", "up", "Σ", "Σµ", "m"] and int(IMPORTED) <= stats["cc"]["up"] <= started
    assert stats["admin"]["requests"] >= 1 and stats["admin"]["connections"] == 1
    assert stats["rates"] == {"window": None}  # nothing to compare with yet
    assert broker["rate_in"] is None and by_name["/topic/a"]["rate_in"] is None


def test_rates_between_two_requests(admin, raw_client):
    first_asked = time.monotonic()
    admin.json()
    first_answered = time.monotonic()
    subscriber, _ = traffic(raw_client, admin.broker, {"/topic/r": 30}, subscribe=("/topic/r",))
    subscriber.messages(30)
    # a rate compares with a sample at least min_age old: let that much time pass
    time.sleep(max(0.0, Rates().min_age - (time.monotonic() - first_answered)))
    second_asked = time.monotonic()
    stats = admin.json()
    second_answered = time.monotonic()
    window = stats["rates"]["window"]
    # the time between the two samples, as this test saw it from outside
    assert second_asked - first_answered - 0.001 <= window <= second_answered - first_asked + 0.001
    rates = {d["dest"]: (d["rate_in"], d["rate_out"]) for d in stats["destinations"]}
    per_second = pytest.approx(30 / window, rel=0.01)
    assert rates["/topic/r"] == (per_second, per_second)
    assert rates["/topic/receipts"] == (pytest.approx(1 / window, rel=0.01), 0.0)  # new since the sample
    assert stats["broker"]["rate_in"] == pytest.approx(31 / window, rel=0.01)
    # Within min_age of the last sample, rates still compare with a sample old enough.
    again = admin.json()
    assert again["rates"]["window"] >= Rates().min_age


class Holding(Destination):
    """A queue-like type reporting figures the admin plugin has never heard of."""

    __slots__ = ()
    type_name = "holding"

    def publish(self, message, sender):
        self.enqueued += 1

    @property
    def depth(self):
        return self.enqueued

    def stats(self):
        figures = super().stats()
        figures.update({
            "in_flight": 2,
            "redelivered": 1,
            "weird key Δ": 3,
            "acked_total": 4,
            "nested": {"a": 1},
            "label": "not a number",
            "flag": True,
            "ratio": 0.25,
        })
        return figures


class FiguresPlugin:
    @hookimpl
    def xtomp_register_destination_types(self, registry):
        registry.register("holding", Holding)

    @hookimpl
    def xtomp_collect_stats(self, broker, stats):
        stats["fake"] = {"gauge": 1.5, "deep": {"count_total": 7}, "skip": "text", "list": [1, 2], "inf": math.inf}
        stats["solo"] = 3


FIGURES_CONFIG = '[destinations."held"]\ntype = "holding"\n'


def test_metrics_parse_back_with_proper_names(admin, raw_client):
    subscriber, _ = traffic(raw_client, admin.broker, {"/topic/m": 4}, subscribe=("/topic/m",))
    subscriber.messages(4)
    text = admin.metrics()
    found = families(text)
    assert sample(found, "xtomp_info", version=admin.broker.broker.stats()["broker"]["version"]) == 1
    assert found["xtomp_messages"].type == "counter" and sample(found, "xtomp_messages") == 5
    assert found["xtomp_connections"].type == "gauge" and sample(found, "xtomp_connections", transport="tcp") == 2
    assert sample(found, "xtomp_sessions") == 2 and sample(found, "xtomp_connections_accepted") == 2
    assert sample(found, "xtomp_frames_received") == 8  # 2 CONNECT, SUBSCRIBE, 4 + 1 SEND
    assert sample(found, "xtomp_frames_sent") == 8  # 2 CONNECTED, 2 RECEIPT, 4 MESSAGE
    assert sample(found, "xtomp_resident_memory_bytes") > 1_000_000
    assert found["xtomp_cpu_seconds"].type == "counter"
    assert {s.labels["mode"] for s in found["xtomp_cpu_seconds"].samples} == {"user", "system"}
    assert sample(found, "xtomp_start_time_seconds") <= time.time()
    labels = {"destination": "/topic/m", "type": "topic"}
    assert sample(found, "xtomp_destination_enqueued", **labels) == 4
    assert sample(found, "xtomp_destination_delivered", **labels) == 4
    assert sample(found, "xtomp_destination_subscriptions", **labels) == 1
    assert sample(found, "xtomp_destination_messages", **labels) == 0
    assert sample(found, "xtomp_destination_dropped", **labels) == 0
    assert found["xtomp_admin_requests"].type == "counter"
    assert sample(found, "xtomp_memory_over") == 0 and found["xtomp_memory_held_bytes"].type == "gauge"
    assert sample(found, "xtomp_memory_max_bytes") == admin.broker.broker.stats()["memory"]["max"]
    assert found["xtomp_memory_producer_pauses"].type == "counter"
    # The text itself: every family has HELP and TYPE, every name the prefix, counters _total.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    helps = set(re.findall(r"^# HELP (\S+) .+$", text, re.M))
    assert set(types) == helps and all(name.startswith("xtomp_") for name in types)
    assert all(name.endswith("_total") for name, kind in types.items() if kind == "counter")
    assert text.endswith("\n")


def test_metrics_of_figures_from_other_plugins(admin_factory, raw_client):
    admin = admin_factory(FIGURES_CONFIG, plugins=[("figures", FiguresPlugin())])
    publisher = raw_client(admin.broker)
    publisher.connect()
    for index in range(3):
        publisher.send_frame("SEND", {"destination": "held", "receipt": f"r{index}"}, "x")
        publisher.expect_receipt(f"r{index}")
    stats = admin.json()
    held = next(d for d in stats["destinations"] if d["dest"] == "held")
    assert held["q"] == 3 and held["in_flight"] == 2 and held["weird key Δ"] == 3
    assert stats["fake"]["gauge"] == 1.5 and stats["solo"] == 3
    found = families(admin.metrics())
    labels = {"destination": "held", "type": "holding"}
    # Known figures get their proper names and types...
    assert found["xtomp_destination_in_flight"].type == "gauge"
    assert sample(found, "xtomp_destination_in_flight", **labels) == 2
    assert found["xtomp_destination_redelivered"].type == "counter"
    assert sample(found, "xtomp_destination_messages", **labels) == 3
    # ...unknown ones the generic mapping: gauge, or counter for a key ending in _total.
    assert found["xtomp_destination_weird_key_delta"].type == "gauge"
    assert sample(found, "xtomp_destination_weird_key_delta", **labels) == 3
    assert found["xtomp_destination_acked"].type == "counter"
    assert sample(found, "xtomp_destination_acked", **labels) == 4
    assert sample(found, "xtomp_destination_nested_a", **labels) == 1
    assert sample(found, "xtomp_destination_flag", **labels) == 1
    assert sample(found, "xtomp_destination_ratio", **labels) == 0.25
    assert "xtomp_destination_label" not in found
    assert sample(found, "xtomp_fake_gauge") == 1.5
    assert found["xtomp_fake_deep_count"].type == "counter" and sample(found, "xtomp_fake_deep_count") == 7
    assert sample(found, "xtomp_fake_inf") == math.inf
    assert sample(found, "xtomp_solo") == 3
    assert not [name for name in found if "skip" in name or "list" in name]


def test_label_values_are_escaped(admin, raw_client):
    name = '/topic/q"uo\\te\nline'
    client = raw_client(admin.broker)
    client.connect()  # 1.2: the encoder escapes the backslash and the newline in the header
    client.send_frame("SEND", {"destination": name, "receipt": "r"}, "x")
    client.expect_receipt("r")
    text = admin.metrics()
    assert 'destination="/topic/q\\"uo\\\\te\\nline"' in text
    found = families(text)
    assert sample(found, "xtomp_destination_enqueued", destination=name, type="topic") == 1
