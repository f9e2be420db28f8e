"""The broker's figures in the Prometheus text exposition format (version 0.0.4).

Theory of operation
-------------------
:func:`render` walks the dict ``Broker.stats()`` returns and writes one metric family per
figure: ``# HELP``, ``# TYPE``, then its samples, every name prefixed ``xtomp_``, counters
ending in ``_total``, label values escaped (backslash, double quote, newline).

* Figures this module knows (the core's, the likely queue figures, its own) get a proper
  name, type and help text: :data:`BROKER`, :data:`DESTINATION`, :data:`PLUGIN`.
* Any other numeric figure still appears, by a generic, documented mapping, so figures
  that plugins add arrive without a change here:

  - a destination figure ``KEY`` (a key of ``Destination.stats()``) becomes
    ``xtomp_destination_KEY{destination="...",type="..."}``;
  - a broker figure ``KEY`` (under ``broker``) becomes ``xtomp_broker_KEY``;
  - a plugin's figure (``stats[NAME][KEY]...``, added by ``xtomp_collect_stats``) becomes
    ``xtomp_NAME_KEY`` (nested dicts join their keys with ``_``; a number directly under
    ``stats[NAME]`` becomes ``xtomp_NAME``);
  - the type is ``counter`` when ``KEY`` ends in ``_total``, else ``gauge``; booleans are 0
    or 1; strings and lists are left out; characters outside ``[a-zA-Z0-9_]`` become ``_``
    (``Δ``, ``Σ`` and ``µ`` are spelt ``delta``, ``sum`` and ``u``); a name already taken
    keeps its first family.

xtomp's ``cc`` block repeats ``broker`` figures under xtomp's names, so it is not rendered.
The prometheus_client library would do the writing, but importing it costs about 3 MB of
resident memory and 68 modules (README.md, "Memory"), for a few dozen lines of text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["render", "metric_name", "escape_label", "CONTENT_TYPE", "BROKER", "DESTINATION", "PLUGIN"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: broker figure -> (metric name, type, help); cpu_* share one family with a ``mode`` label.
BROKER: dict[str, tuple[str, str, str]] = {
    "started": ("xtomp_start_time_seconds", "gauge", "Start time of the broker since the Unix epoch, in seconds."),
    "uptime": ("xtomp_uptime_seconds", "gauge", "Seconds since the broker started."),
    "transports": ("xtomp_connections", "gauge", "Open client connections, by transport."),
    "sessions": ("xtomp_sessions", "gauge", "Connections that completed CONNECT."),
    "connections_accepted": (
        "xtomp_connections_accepted_total", "counter", "Client connections accepted since the start (xtomp's cc.Σ)."
    ),
    "destinations": ("xtomp_destinations", "gauge", "Destinations that exist now (declared and created on first use)."),
    "messages": ("xtomp_messages_total", "counter", "Messages accepted by all destinations (xtomp's cc.Σµ)."),
    "frames_in": ("xtomp_frames_received_total", "counter", "STOMP frames received from clients."),
    "frames_out": ("xtomp_frames_sent_total", "counter", "STOMP frames queued to clients (heart-beats excluded)."),
    "rss": ("xtomp_resident_memory_bytes", "gauge", "Resident memory of the broker process, in bytes."),
    "cpu_user": ("xtomp_cpu_seconds_total", "counter", "CPU time used by the broker process, by mode, in seconds."),
    "cpu_system": ("xtomp_cpu_seconds_total", "counter", "CPU time used by the broker process, by mode, in seconds."),
    "version": ("xtomp_info", "gauge", "Always 1; the labels say which xtomp is running."),
}
#: Broker figures that only make sense in JSON (the total of ``transports``).
_BROKER_SKIPPED = {"connections"}

#: ``Destination.stats()`` key -> (metric name, type, help). The first five are the core's;
#: the others are what queue-like types are expected to report.
DESTINATION: dict[str, tuple[str, str, str]] = {
    "sz": ("xtomp_destination_subscriptions", "gauge", "Subscriptions on the destination (xtomp's sz)."),
    "q": ("xtomp_destination_messages", "gauge", "Messages held for later delivery: the queue depth (xtomp's q)."),
    "Σ": ("xtomp_destination_enqueued_total", "counter", "Messages accepted by the destination (xtomp's Σ)."),
    "delivered": ("xtomp_destination_delivered_total", "counter", "MESSAGE frames handed to subscribers."),
    "dropped": (
        "xtomp_destination_dropped_total", "counter", "Messages a subscriber missed because it was a slow consumer."
    ),
    "in_flight": ("xtomp_destination_in_flight", "gauge", "Messages delivered and awaiting an acknowledgement."),
    "redelivered": ("xtomp_destination_redelivered_total", "counter", "Messages delivered again after a NACK or a lost subscriber."),
    "expired": ("xtomp_destination_expired_total", "counter", "Messages discarded because they expired."),
    "acked": ("xtomp_destination_acked_total", "counter", "Deliveries acknowledged with ACK."),
    "nacked": ("xtomp_destination_nacked_total", "counter", "Deliveries refused with NACK."),
}
#: The core's own destination figures: their families exist even with no destination.
_CORE_DESTINATION_KEYS = ("sz", "q", "Σ", "delivered", "dropped")
#: Keys of ``Destination.stats()`` used as labels, not values.
_LABEL_KEYS = ("dest", "type")

#: ``(plugin key, figure)`` -> (metric name, type, help) for figures plugins are known to add.
PLUGIN: dict[tuple[str, str], tuple[str, str, str]] = {
    ("admin", "requests"): ("xtomp_admin_requests_total", "counter", "HTTP requests answered by the admin plugin."),
    ("admin", "connections"): ("xtomp_admin_connections", "gauge", "Open HTTP connections to the admin plugin."),
    ("memory", "held"): ("xtomp_memory_held_bytes", "gauge", "Message bytes held in queues and write buffers."),
    ("memory", "max"): ("xtomp_memory_max_bytes", "gauge", "max_memory: above it every producer is paused."),
    ("memory", "peak"): ("xtomp_memory_peak_bytes", "gauge", "The most message bytes held at once since the start."),
    ("memory", "over"): ("xtomp_memory_over", "gauge", "1 while over max_memory (producers are paused)."),
    ("memory", "paused_producers"): ("xtomp_memory_paused_producers", "gauge", "Producers paused by max_memory now."),
    ("memory", "producer_pauses"): (
        "xtomp_memory_producer_pauses_total", "counter", "Times a producer was paused by max_memory."
    ),
}

_SPELLING = str.maketrans({"Δ": "delta", "Σ": "sum", "µ": "u", "μ": "u"})
_INVALID = re.compile(r"[^a-zA-Z0-9_]+")


def metric_name(*parts: str) -> str:
    """``xtomp_`` + the parts, sanitized: ``metric_name("queues", "in-flight")`` = ``xtomp_queues_in_flight``."""
    words = [_INVALID.sub("_", part.translate(_SPELLING)).strip("_") for part in parts]
    return "_".join(["xtomp", *(word for word in words if word)])


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: Any) -> str | None:
    """The sample value as text, or None when ``value`` is not a number."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return None


class _Families:
    """Metric families in the order first seen, each with its samples."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, value: Any, labels: Iterable[tuple[str, str]] = ()) -> None:
        text = _number(value)
        if text is None:
            return
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = (kind, help_text, [])
        elif family[0] != kind or family[1] != help_text:
            return  # a generic name that collides with another family: the first keeps it
        pairs = ",".join(f'{key}="{escape_label(str(label))}"' for key, label in labels)
        family[2].append(f"{name}{{{pairs}}} {text}" if pairs else f"{name} {text}")

    def declare(self, name: str, kind: str, help_text: str) -> None:
        """A family that exists even without samples (HELP and TYPE lines only)."""
        self.families.setdefault(name, (kind, help_text, []))

    def text(self) -> str:
        out: list[str] = []
        for name, (kind, help_text, samples) in self.families.items():
            out.append(f"# HELP {name} {_escape_help(help_text)}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(samples)
        return "\n".join(out) + "\n"


def _generic(key: str) -> str:
    return "counter" if key.endswith("_total") else "gauge"


def _generic_help(what: str) -> str:
    return f"{what} (no description known to xtomp-admin; see xtomp_admin/metrics.py for the mapping)."


def render(stats: Mapping[str, Any], transports: Iterable[str] = ()) -> str:
    """The exposition text of ``stats`` (a ``Broker.stats()`` dict).

    ``transports`` are the transport names to report even with no connection open (0).
    """
    families = _Families()
    broker = stats.get("broker", {})
    for key, value in broker.items():
        known = BROKER.get(key)
        if key in _BROKER_SKIPPED:
            continue
        if known is None:
            if isinstance(value, Mapping):
                for sub, number in value.items():
                    name = metric_name("broker", key, sub)
                    families.add(name, _generic(sub), _generic_help(f"Broker figure {key}.{sub}"), number)
            else:
                name = metric_name("broker", key)
                families.add(name, _generic(key), _generic_help(f"Broker figure {key!r}"), value)
            continue
        name, kind, help_text = known
        if key == "transports":
            counts = {transport: 0 for transport in transports}
            counts.update(value)
            families.declare(name, kind, help_text)
            for transport, count in sorted(counts.items()):
                families.add(name, kind, help_text, count, [("transport", transport)])
        elif key.startswith("cpu_"):
            families.add(name, kind, help_text, value, [("mode", key[4:])])
        elif key == "version":
            families.add(name, kind, help_text, 1, [("version", str(value))])
        else:
            families.add(name, kind, help_text, value)

    for key in _CORE_DESTINATION_KEYS:
        families.declare(*DESTINATION[key])
    for destination in stats.get("destinations", ()):
        labels = [("destination", str(destination.get("dest", ""))), ("type", str(destination.get("type", "")))]
        for key, value in destination.items():
            if key in _LABEL_KEYS:
                continue
            known = DESTINATION.get(key)
            if known is not None:
                families.add(known[0], known[1], known[2], value, labels)
            elif isinstance(value, Mapping):
                for sub, number in value.items():
                    name = metric_name("destination", key, sub)
                    families.add(name, _generic(sub), _generic_help(f"Destination figure {key}.{sub}"), number, labels)
            else:
                name = metric_name("destination", key)
                families.add(name, _generic(key), _generic_help(f"Destination figure {key!r}"), value, labels)

    for plugin, figures in stats.items():
        if plugin in ("cc", "broker", "destinations"):
            continue
        _plugin_figures(families, plugin, (), figures)
    return families.text()


def _plugin_figures(families: _Families, plugin: str, path: tuple[str, ...], value: Any) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _plugin_figures(families, plugin, (*path, str(key)), sub)
        return
    known = PLUGIN.get((plugin, path[0])) if len(path) == 1 else None
    if known is not None:
        families.add(known[0], known[1], known[2], value)
        return
    key = path[-1] if path else plugin
    dotted = ".".join((plugin, *path))
    families.add(metric_name(plugin, *path), _generic(key), _generic_help(f"Figure {dotted} added by a plugin"), value)
