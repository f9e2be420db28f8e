"""The Prometheus text writer on its own: edge cases of the generic mapping."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from xtomp_admin.metrics import escape_label, metric_name, render


def parse(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_empty_stats_still_valid():
    found = parse(render({}, transports=["tcp", "ws"]))
    # The core's destination families exist (with no sample) even without destinations.
    assert found["xtomp_destination_subscriptions"].samples == []


def test_transports_with_no_connection_report_zero():
    found = parse(render({"broker": {"transports": {"ws": 2}}}, transports=["tcp", "ws"]))
    assert {s.labels["transport"]: s.value for s in found["xtomp_connections"].samples} == {"tcp": 0, "ws": 2}


def test_names_are_sanitized():
    assert metric_name("queues", "in-flight") == "xtomp_queues_in_flight"
    assert metric_name("destination", "Σµ / Δ") == "xtomp_destination_sumu_delta"
    assert metric_name("x", "") == "xtomp_x"


def test_collisions_keep_the_first_family_and_values_are_written_exactly():
    stats = {
        "broker": {"messages": 3, "odd": float("nan"), "neg": -math.inf},
        "destination": {"subscriptions": 99},  # a plugin named "destination" clashing with a known family
        "big": 2**70,
    }
    text = render(stats)
    found = parse(text)
    assert [s.value for s in found["xtomp_destination_subscriptions"].samples] == []
    assert math.isnan(found["xtomp_broker_odd"].samples[0].value)
    assert found["xtomp_broker_neg"].samples[0].value == -math.inf
    assert found["xtomp_big"].samples[0].value == 2**70
    assert text.count("# TYPE xtomp_destination_subscriptions ") == 1


def test_escaping():
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    text = render({"destinations": [{"dest": 'x"\n', "type": "t", "sz": 1}]})
    [sample] = parse(text)["xtomp_destination_subscriptions"].samples
    assert sample.labels == {"destination": 'x"\n', "type": "t"}
