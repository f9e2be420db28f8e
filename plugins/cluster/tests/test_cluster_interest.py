"""Which channels and globs a node asks Redis for, from its topics' local interest (in memory, no Redis)."""

from __future__ import annotations

import xtomp_cluster.plugin
from xtomp_cluster.backplane import BACKPLANE
from xtomp_testing import InMemoryBroker

CONFIG = '[plugins.cluster]\nredis = "redis://127.0.0.1:1/0"\nnode = "a"\n'
RETAINING = '\n[destinations."/topic/kept"]\ntype = "topic"\nretain = "last"\n'
PLUGINS = [("cluster", xtomp_cluster.plugin)]


def test_channels_follow_local_subscribers_and_patterns_share_a_covering_glob():
    with InMemoryBroker(CONFIG + RETAINING, plugins=PLUGINS) as memory:
        backplane = memory.context.stash[BACKPLANE]
        one, two = memory.client(), memory.client()
        assert set(backplane.channels) == {b"xtomp:t:/topic/kept"}  # retention listens from the start
        one.subscribe("/topic/x", id="1")
        two.subscribe("/topic/x", id="1")
        one.subscribe("/topic/a[1].*.c", id="2")  # glob specials in a literal word are escaped
        two.subscribe("/topic/a[1].#", id="2")  # another pattern, the same glob
        one.subscribe("/topic/*.b", id="3")
        assert set(backplane.channels) == {b"xtomp:t:/topic/kept", b"xtomp:t:/topic/x"}
        assert set(backplane.patterns) == {b"xtomp:t:/topic/a\\[1\\]*", b"xtomp:t:/topic/*"}
        one.send("UNSUBSCRIBE", {"id": "1"})
        assert b"xtomp:t:/topic/x" in backplane.channels  # two still listens
        two.disconnect()
        assert set(backplane.channels) == {b"xtomp:t:/topic/kept"}
        assert set(backplane.patterns) == {b"xtomp:t:/topic/a\\[1\\]*", b"xtomp:t:/topic/*"}  # one's pattern
        one.send("UNSUBSCRIBE", {"id": "2"})
        assert set(backplane.patterns) == {b"xtomp:t:/topic/*"}
        one.disconnect()
        assert set(backplane.patterns) == set()


def test_a_durable_subscription_keeps_its_node_listening_while_it_is_away():
    with InMemoryBroker(CONFIG, plugins=PLUGINS) as memory:
        backplane = memory.context.stash[BACKPLANE]
        client = memory.client(version=None)
        assert client.connect(headers={"client-id": "c1"}).command == b"CONNECTED"
        client.subscribe("/topic/d", id="1", durable="true", auto_delete="false")
        assert b"xtomp:t:/topic/d" in backplane.channels
        client.disconnect()  # away: its backlog keeps collecting, from other nodes too
        assert b"xtomp:t:/topic/d" in backplane.channels
