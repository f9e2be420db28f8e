"""Session.defer_receipt: a RECEIPT that waits for what a destination started, in order."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from xtomp_core import (
    DeferredReceipt,
    Destination,
    FrameRejected,
    LimitExceeded,
    Message,
    Session,
    StashKey,
    Subscription,
    hookimpl,
)
from xtomp_testing import FakeClient, InMemoryBroker

#: The deferrals the test destination took, in order (None: the frame asked for no receipt).
TAKEN = StashKey[list[DeferredReceipt | None]]("deferred receipts taken")


class Confirming(Destination):
    """Delivers at once, but defers the receipt of every SEND and SUBSCRIBE."""

    type_name = "confirming"

    def publish(self, message: Message, sender: Session | None) -> None:
        self.fan_out(message)
        if sender is not None:
            self.context.stash.setdefault(TAKEN, list).append(sender.defer_receipt())

    def subscribe(self, subscription: Subscription, headers: Mapping[bytes, bytes]) -> None:
        super().subscribe(subscription, headers)
        self.context.stash.setdefault(TAKEN, list).append(subscription.session.defer_receipt())

    def started(self, subscription: Subscription) -> None:
        subscription.deliver(Message(self.context.next_message_id(), self.name, {}, b"welcome"))


def _plugin() -> types.ModuleType:
    module = types.ModuleType("confirming")

    @hookimpl
    def xtomp_register_destination_types(registry: Any) -> None:
        registry.register("confirming", Confirming)

    module.xtomp_register_destination_types = xtomp_register_destination_types  # type: ignore[attr-defined]
    return module


CONFIG = """
[destinations."/c/*"]
type = "confirming"
"""


def _broker() -> InMemoryBroker:
    return InMemoryBroker(CONFIG, plugins=[("confirming", _plugin())])


def _taken(memory: InMemoryBroker) -> list[DeferredReceipt | None]:
    return memory.context.stash.setdefault(TAKEN, list)


def _seen(client: FakeClient) -> list[tuple[bytes, bytes]]:
    """(command, receipt-id or body) of what the client got since the last call."""
    return [
        (frame.command, frame.headers.get(b"receipt-id", frame.body)) for frame in client.frames()
    ]


def test_a_deferred_receipt_waits_and_so_do_the_clients_later_frames():
    with _broker() as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/c/a", "receipt": "r1"}, "one")
        client.send("SEND", {"destination": "/topic/x", "receipt": "r2"}, "two")
        client.send("DISCONNECT", {"receipt": "bye"})
        assert _seen(client) == []
        assert not client.link.reading  # held like a paused producer
        (first,) = _taken(memory)
        assert first is not None
        first()
        assert _seen(client) == [(b"RECEIPT", b"r1"), (b"RECEIPT", b"r2"), (b"RECEIPT", b"bye")]
        assert client.link.closed is True


def test_a_send_without_receipt_defers_nothing():
    with _broker() as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/c/a"}, "one")
        client.send("SEND", {"destination": "/c/a", "receipt": "r"}, "two")
        assert _taken(memory)[0] is None
        assert _seen(client) == []
        _taken(memory)[1]()
        assert _seen(client) == [(b"RECEIPT", b"r")]


def test_a_commit_receipt_waits_for_every_send_it_publishes():
    with _broker() as memory:
        client = memory.client()
        client.send("BEGIN", {"transaction": "t", "receipt": "b"})
        client.send("SEND", {"destination": "/c/a", "transaction": "t", "receipt": "s1"}, "one")
        client.send("SEND", {"destination": "/c/b", "transaction": "t"}, "two")
        client.send("COMMIT", {"transaction": "t", "receipt": "c"})
        client.send("SEND", {"destination": "/topic/x", "receipt": "after"}, "three")
        # BEGIN and the buffered SEND are receipted at once (nothing published yet).
        assert _seen(client) == [(b"RECEIPT", b"b"), (b"RECEIPT", b"s1")]
        first, second = _taken(memory)
        assert first is not None and second is not None
        second()
        second()  # called twice: harmless, counts once
        assert _seen(client) == []
        first()
        assert _seen(client) == [(b"RECEIPT", b"c"), (b"RECEIPT", b"after")]


def test_a_subscribe_receipt_comes_before_what_started_delivers():
    with _broker() as memory:
        client = memory.client()
        client.subscribe("/c/a", id="s", receipt="sub")
        assert _seen(client) == []
        (done,) = _taken(memory)
        assert done is not None
        done()
        assert _seen(client) == [(b"RECEIPT", b"sub"), (b"MESSAGE", b"welcome")]


def test_a_deferral_failing_sends_an_error_echoing_the_receipt_and_no_receipt():
    with _broker() as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/c/a", "receipt": "r1"}, "one")
        client.send("SEND", {"destination": "/topic/x", "receipt": "r2"}, "two")
        (done,) = _taken(memory)
        assert done is not None
        done(FrameRejected("the store refused it"))
        frames = client.frames()
        assert [frame.command for frame in frames] == [b"ERROR"]
        assert frames[0].headers[b"receipt-id"] == b"r1"
        assert frames[0].headers[b"message"] == b"the store refused it"
        assert client.link.closed is True
        done()  # after the end: nothing
        assert client.frames() == []


def test_a_connection_closed_while_a_receipt_is_pending_gets_nothing_written():
    with _broker() as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/c/a", "receipt": "r1"}, "one")
        client.disconnect()
        (done,) = _taken(memory)
        assert done is not None
        done()
        assert client.frames() == []
        assert not client.session.connected


def test_an_error_while_a_receipt_is_pending_ends_it_without_a_receipt():
    with _broker() as memory:
        client = memory.client()
        client.send("SEND", {"destination": "/c/a", "receipt": "r1"}, "one")
        client.session.fail(LimitExceeded("slow consumer", "too slow"))
        (done,) = _taken(memory)
        assert done is not None
        done()
        assert [frame.command for frame in client.frames()] == [b"ERROR"]


def test_a_deferral_confirmed_while_the_frame_is_handled_writes_the_receipt_at_once():
    class AtOnce(Confirming):
        def publish(self, message: Message, sender: Session | None) -> None:
            assert sender is not None
            done = sender.defer_receipt()
            assert done is not None
            done()

    with _broker() as memory:
        client = memory.client()
        destination = memory.destination("/c/now")
        destination.__class__ = AtOnce
        client.send("SEND", {"destination": "/c/now", "receipt": "r"}, "one")
        assert _seen(client) == [(b"RECEIPT", b"r")]
        assert client.link.reading and not client.session.held


def test_outside_a_frame_there_is_nothing_to_defer():
    with _broker() as memory:
        client = memory.client()
        assert client.session.defer_receipt() is None
