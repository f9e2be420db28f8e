"""Hook implementations of the cluster plugin (entry point ``cluster`` in group ``xtomp.plugins``).

Enabling it (``[plugins.cluster] redis = "redis://..."``) makes the broker one node of a
cluster: it wraps the ``topic`` type (and ``queue``, when the queues plugin is enabled) so
that the destinations the existing rules make (``/topic/*``, ``/queue/*``) are clustered,
with no other change to the configuration.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from xtomp_core import (
    BrokerView, Config, ConfigError, Destination, DestinationContext, DirectiveSet, Registrar, Session, hookimpl,
    plugin_scope,
)

from .backplane import BACKPLANE, Backplane
from .topics import TOPICS

log = logging.getLogger("xtomp.cluster")

PLUGIN = "cluster"

#: The destination types are the topics plugin's (and the queues plugin's, when enabled).
xtomp_requires = ["topics"]
#: This plugin shares state between broker processes: ``workers > 1`` may use it.
xtomp_backplane = True


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    own = plugin_scope(PLUGIN)
    directives.declare(
        "redis", "str", None, own,
        "Cluster: the Redis server every node of the cluster shares, as a URL "
        "(redis://[[user]:password@]host[:port][/db], rediss:// for TLS, unix:///path/to/socket). Required.",
    )
    directives.declare(
        "node", "str", None, own,
        "Cluster: this broker's node id, unique and stable across restarts (it names the node in Redis and "
        "in the statistics, and is how a node recognises its own messages). Default: the host name and the "
        "port of the first STOMP listener (\"host:61613\").",
    )
    directives.declare(
        "channel_prefix", "str", "xtomp:", own,
        "Cluster: the prefix of every Redis key and channel the cluster uses, so that several clusters "
        "(or other applications) can share one Redis server.",
    )
    directives.declare(
        "topic_delivery", "choice", "local-first", own,
        "Cluster: how a node delivers a topic SEND to its own subscribers. \"local-first\": at once, as "
        "without a cluster, skipping the copy Redis echoes back (lowest latency; messages of one publisher "
        "keep their order everywhere, messages of publishers on different nodes may interleave differently "
        "on different nodes). \"backplane\": from Redis's echo, like every other node (one order of all "
        "messages on every node, one more round trip of latency); while Redis is down, at once.",
        choices=("local-first", "backplane"),
    )
    directives.declare(
        "reconnect_min", "duration", 0.05, own,
        "Cluster: the first wait before reconnecting to Redis after a failed attempt; doubled after each "
        "failure up to reconnect_max. (A connection that breaks is retried at once.)",
        minimum=0.001,
    )
    directives.declare(
        "reconnect_max", "duration", 2.0, own,
        "Cluster: the longest wait between two attempts to reconnect to Redis.",
        minimum=0.01,
    )
    directives.declare(
        "redis_timeout", "duration", 5.0, own,
        "Cluster: how long connecting to Redis, or a reply to a command, may take before the connection "
        "counts as broken (then the node reconnects, local-only meanwhile).",
        minimum=0.01,
    )
    directives.declare(
        "claim_after", "duration", 30.0, own,
        "Cluster queues: a message a node read and has not settled for this long (its node died, or lost "
        "Redis) is taken over by another node and redelivered with redelivered:true. Live nodes refresh "
        "what they hold every claim_after / 3, so keep it well above a node's longest pause.",
        minimum=0.01,
    )
    directives.declare(
        "when_unavailable", "choice", "error", own,
        "Cluster queues: while Redis is unreachable a queue SEND gets an ERROR saying so (\"error\"), or is "
        "kept in the node's memory and its producer's next frames wait until Redis is back (\"hold\"; "
        "what a node keeps is lost if it dies meanwhile).",
        choices=("error", "hold"),
    )


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    own = config.plugins[PLUGIN]
    url: str | None = own["redis"]
    if not url:
        raise ConfigError(
            f"{own.where('redis')}: plugins.cluster.redis: the cluster needs a Redis server: set "
            "redis = \"redis://127.0.0.1:6379/0\""
        )
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"{own.where('redis')}: plugins.cluster.redis: {url!r} is not a Redis URL "
            "(redis://host:port/db, rediss://... or unix:///path)"
        )
    if own["reconnect_min"] > own["reconnect_max"]:
        raise ConfigError(
            f"{own.where('reconnect_min')}: plugins.cluster.reconnect_min ({own['reconnect_min']}s) is above "
            f"reconnect_max ({own['reconnect_max']}s)"
        )
    from redis.asyncio.connection import parse_url  # only when the plugin is enabled

    try:
        parse_url(url)
    except ValueError as error:
        raise ConfigError(f"{own.where('redis')}: plugins.cluster.redis: {error}") from None
    from .redis_backend import RedisBackplane

    from .topics import ClusterTopics

    backplane = broker.stash[BACKPLANE] = RedisBackplane(
        url,
        own["node"] or default_node(broker),
        reconnect_min=own["reconnect_min"],
        reconnect_max=own["reconnect_max"],
        timeout=own["redis_timeout"],
    )
    broker.stash[TOPICS] = ClusterTopics(backplane, own["channel_prefix"], own["topic_delivery"])
    from .queues import configure_queues

    configure_queues(broker, backplane, url, own)


def default_node(broker: BrokerView) -> str:
    """The host name and the port of the first STOMP listener (its pid too, for a port the
    system picks: no two nodes of one host can share it)."""
    port = next((address.port for address in broker.listen_addresses), 0)
    host = socket.gethostname()
    return f"{host}:{port}" if port else f"{host}:pid{os.getpid()}"


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    from .queues import wrap_queue
    from .topics import wrap_topic

    registry.wrap("topic", wrap_topic)
    registry.wrap("queue", wrap_queue, required=False)  # a topics-only cluster without the queues plugin


def _backplane(broker: BrokerView) -> Backplane | None:
    return broker.stash.get(BACKPLANE)


@hookimpl
def xtomp_register_session_destinations(registry: Registrar[Any]) -> None:
    from .queues import TEMP_PREFIX, wrap_temporary_queue

    registry.wrap(TEMP_PREFIX.decode(), wrap_temporary_queue, required=False)


@hookimpl
def xtomp_register_send_headers(registry: Registrar[Any]) -> None:
    from .queues import wrap_reply_to

    registry.wrap("reply-to", wrap_reply_to, required=False)


@hookimpl(tryfirst=True)
def xtomp_resolve_destination(name: bytes, context: DestinationContext) -> Destination | None:
    from .queues import resolve_reply_queue  # before the queues plugin's "gone reply queue"

    return resolve_reply_queue(name, context)


@hookimpl
def xtomp_session_closed(session: Session, broker: BrokerView) -> None:
    from .queues import session_closed

    session_closed(session, broker.context)


@hookimpl
async def xtomp_startup(broker: BrokerView) -> None:
    backplane = _backplane(broker)
    if backplane is not None:
        index, count = broker.worker
        if count > 1:  # each worker process is a node of its own: "host:61613/2"
            backplane.rename(f"{backplane.node}/{index + 1}")
        topics = broker.stash.get(TOPICS)
        if topics is not None:
            topics.started()
        await backplane.start()
        from .queues import start_queues

        start_queues(broker)


@hookimpl
async def xtomp_shutdown(broker: BrokerView) -> None:
    backplane = _backplane(broker)
    if backplane is not None:
        from .queues import stop_queues

        await stop_queues(broker, backplane)
        await backplane.close()


@hookimpl
def xtomp_collect_stats(broker: BrokerView, stats: dict[str, Any]) -> None:
    backplane = _backplane(broker)
    if backplane is None:
        return
    figures = backplane.stats()
    figures["node"] = backplane.node
    topics = broker.stash.get(TOPICS)
    if topics is not None:
        figures["topics"] = topics.stats()
    from .queues import queue_stats

    figures["queues"] = queue_stats(broker.context)
    stats[PLUGIN] = figures
