"""The cluster plugin's foundation: configuration, the Redis backplane's connection and its supervision."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import xtomp_cluster.plugin
from xtomp_core import ConfigError
from xtomp_testing import RedisServer, check_config, wait_until
from xtomp_cluster.redis_backend import RedisBackplane

PLUGINS = [("cluster", xtomp_cluster.plugin)]


def test_the_redis_url_is_required_and_checked():
    with pytest.raises(ConfigError, match=r"plugins.cluster.redis: the cluster needs a Redis server"):
        check_config("[plugins.cluster]\n", plugins=PLUGINS)
    with pytest.raises(ConfigError, match=r"plugins.cluster.redis: 'http://x' is not a Redis URL"):
        check_config('[plugins.cluster]\nredis = "http://x"\n', plugins=PLUGINS)
    with pytest.raises(ConfigError, match=r"reconnect_min \(3.0s\) is above reconnect_max"):
        check_config('[plugins.cluster]\nredis = "redis://h"\nreconnect_min = "3s"\n', plugins=PLUGINS)
    check_config('[plugins.cluster]\nredis = "redis://127.0.0.1:6379/0"\n', plugins=PLUGINS)


def test_the_cluster_needs_the_topics_plugin():
    with pytest.raises(ConfigError, match=r"requires plugin 'topics'"):
        check_config('[plugins.cluster]\nredis = "redis://h"\n', base='[server]\nlisten = ["127.0.0.1:0"]\n',
                     plugins=PLUGINS)


def _run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 120))


async def _until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` on the loop; the deadline bounds a failing test only."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached")
        await asyncio.sleep(0.005)


def test_publish_subscribe_pipelines_and_survives_an_outage_and_a_killed_subscriber(redis_server: RedisServer):
    async def scenario() -> None:
        one = RedisBackplane(redis_server.url, "one", reconnect_min=0.01, reconnect_max=0.1)
        two = RedisBackplane(redis_server.url, "two", reconnect_min=0.01, reconnect_max=0.1)
        heard: list[tuple[bytes, bytes]] = []
        states: list[bool] = []
        two.add_state_listener(states.append)
        two.subscribe(b"t:a", lambda channel, payload: heard.append((channel, payload)))
        two.psubscribe(b"t:p.*", lambda channel, payload: heard.append((channel, payload)))
        await one.start()
        await two.start()
        await _until(lambda: one.up and two.up, "both up")
        # Everything one loop pass publishes leaves as one pipeline, in order.
        await _until(lambda: redis_server.subscribers("t:a") == 1, "channel subscribed")
        for number in range(100):
            one.publish(b"t:a", b"%d" % number)
        one.publish(b"t:p.x", b"pattern")
        await _until(lambda: len(heard) == 101, "101 messages")
        assert heard[:100] == [(b"t:a", b"%d" % number) for number in range(100)]
        assert heard[100] == (b"t:p.x", b"pattern")
        assert one.stats()["pipeline_max"] == 101 and one.stats()["round_trips_total"] == 1
        # A command's reply comes back through its future, in the same pipeline as publishes.
        assert await one.command("SET", "xtomp:test", "1") == b"OK"
        assert await one.command("INCR", "xtomp:test") == 2

        # The pub/sub connection killed (as Redis does to a subscriber over its output buffer).
        assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        await _until(lambda: two.stats()["reconnects_total"] == 1 and two.up, "two reconnected")
        await _until(lambda: redis_server.subscribers("t:a") == 1, "channel subscribed again")
        one.publish(b"t:a", b"after kill")
        await _until(lambda: heard[-1:] == [(b"t:a", b"after kill")], "message after the kill")

        # Redis cuts a subscriber whose output buffer passes its limit (a slow or flooded node).
        assert redis_server.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32kb 0 0") == b"OK"
        one.publish(b"t:a", b"x" * 100_000)
        await _until(lambda: two.stats()["reconnects_total"] == 2 and two.up, "two reconnected after the cut")
        assert redis_server.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60") == b"OK"
        await _until(lambda: redis_server.subscribers("t:a") == 1, "channel subscribed after the cut")
        one.publish(b"t:a", b"after the cut")
        await _until(lambda: heard[-1:] == [(b"t:a", b"after the cut")], "message after the cut")

        # Redis gone: down (publishes dropped and counted), then back: everything restored.
        redis_server.stop()
        await _until(lambda: not one.up and not two.up, "both down")
        one.publish(b"t:a", b"lost")
        assert one.stats()["publish_dropped_total"] >= 1 and one.stats()["up"] == 0
        with pytest.raises(ConnectionError):
            await one.command("PING")
        redis_server.start()
        await _until(lambda: one.up and two.up, "both up again")
        await _until(lambda: redis_server.subscribers("t:a") == 1, "channel subscribed after the outage")
        one.publish(b"t:p.y", b"back")
        await _until(lambda: heard[-1:] == [(b"t:p.y", b"back")], "message after the outage")
        assert (b"t:a", b"lost") not in heard
        assert states[0] is True and states.count(False) == 3 and states[-1] is True
        # A reply later than the timeout counts as a broken connection too (CLIENT PAUSE holds the replies).
        three = RedisBackplane(redis_server.url, "three", reconnect_min=0.01, reconnect_max=0.1, timeout=0.3)
        await three.start()
        await _until(lambda: three.up, "three up")
        assert redis_server.command("CLIENT", "PAUSE", "1000", "ALL") == b"OK"
        three.publish(b"t:a", b"paused")
        await _until(lambda: not three.up, "three down for a late reply")
        await _until(lambda: three.up, "three up after the pause")
        assert three.stats()["down_total"] == 1 and three.stats()["reconnects_total"] == 1
        await three.close()
        # Unsubscribing is told to Redis.
        two.unsubscribe(b"t:a")
        await _until(lambda: redis_server.subscribers("t:a") == 0, "channel unsubscribed")
        await one.close()
        await two.close()
        assert one.stats()["state"] == 3

    _run(scenario())


def test_a_node_connects_at_startup_and_reports_its_state(cluster_nodes: Any, redis_server: RedisServer):
    (node,) = cluster_nodes(1)
    wait_until(lambda: node.cluster()["up"] == 1, 30, what="node a up")
    assert "xtomp_cluster_up 1" in node.metrics()
    redis_server.stop()
    wait_until(lambda: node.cluster()["up"] == 0, 30, what="node a down")
    assert node.cluster()["down_total"] == 1
    redis_server.start()
    wait_until(lambda: node.cluster()["up"] == 1, 30, what="node a up again")
    assert node.cluster()["reconnects_total"] >= 1
    assert node.log().count("lost Redis") == 1


@pytest.mark.parametrize("allowed", [True, False], ids=["client-reply-allowed", "client-reply-refused"])
def test_runs_of_publishes_are_answered_once_and_commands_between_them_get_their_replies(
    redis_server: RedisServer, allowed: bool
):
    """A run of PUBLISHes goes between CLIENT REPLY OFF and ON (one +OK instead of a reply per
    PUBLISH), commands between runs still get their own replies, in order; a server refusing
    CLIENT REPLY (an ACL here, a proxy elsewhere) gets plain pipelines."""
    url = redis_server.url
    if not allowed:
        assert redis_server.command("ACL", "SETUSER", "node", "on", ">pw", "~*", "&*", "+@all", "-client|reply") == b"OK"
        url = url.replace("redis://", "redis://node:pw@")

    async def scenario() -> None:
        one = RedisBackplane(url, "one")
        two = RedisBackplane(redis_server.url, "two")
        heard: list[bytes] = []
        two.subscribe(b"t:q", lambda channel, payload: heard.append(payload))
        await one.start()
        await two.start()
        await _until(lambda: one.up and two.up and redis_server.subscribers("t:q") == 1, "up and subscribed")
        replies = []
        for round_ in range(3):  # one loop pass: runs of 5, 1 and 4 PUBLISHes around commands
            for number in range(5):
                one.publish(b"t:q", b"%d.a%d" % (round_, number))
            replies.append(one.command("INCR", "xtomp:n"))
            one.publish(b"t:q", b"%d.b" % round_)
            replies.append(one.command("INCR", "xtomp:n"))
            for number in range(4):
                one.publish(b"t:q", b"%d.c%d" % (round_, number))
        assert [await reply for reply in replies] == [1, 2, 3, 4, 5, 6]
        expected = [b"%d.%s" % (r, x) for r in range(3) for x in (b"a0", b"a1", b"a2", b"a3", b"a4", b"b",
                                                                     b"c0", b"c1", b"c2", b"c3")]
        await _until(lambda: len(heard) == len(expected), "every message")
        assert heard == expected
        assert one.stats()["round_trips_total"] == 1 and one.stats()["commands_total"] == 36
        stats = redis_server.command("INFO", "commandstats").decode()
        calls = int(stats.split("cmdstat_client|reply:calls=")[1].split(",")[0])
        # Each connection asks once at connect (two's succeeds either way); with it allowed, the
        # four runs of 3 or more (5, 4+5 merged across rounds twice, 4) are silenced: 8 calls.
        assert calls == (2 + 8 if allowed else 1)
        one.publish(b"t:q", b"after")  # the connection is in its normal reply mode again
        assert await one.command("PING") == b"PONG"
        await one.close()
        await two.close()

    _run(scenario())
