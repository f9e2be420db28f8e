"""A stateful property test: random clients send, subscribe, ack, nack, transact and vanish
on one queue, and every MESSAGE the broker writes is checked against a small model.

The broker is the real one (sessions, the queues plugin) driven in-process through
xtomp_testing's InMemoryBroker, with frames fed as bytes, so hypothesis can run many
sequences quickly.
Some sends carry a ``priority`` (and a ``colour`` that some consumers filter on, when the
filters plugin is installed).
Checked at every step: no message lost (each committed message is waiting, in flight to
one consumer, settled, or dropped after too many deliveries, and the queue's figures agree);
never delivered to two consumers at once; ``redelivered`` exactly on redeliveries; no
consumer over its prefetch window; no waiting message matches a consumer with room (the
queue's invariant); the queue's order (priorities, returned messages first within one,
then FIFO); per consumer, messages never delivered before arrive in each producer's
order within a priority; and priority order: a consumer is never given a message while one
of a higher priority that its filter matches waits from before the step until after it.
"""

from __future__ import annotations

import importlib.util
import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from xtomp_testing import FakeClient, InMemoryBroker
from xtomp_queues.priority import DEFAULT_PRIORITY

QUEUE = b"/queue/q"
MAX_REDELIVERIES = 2
CONFIG = (
    "[plugins.queues]\n"
    '[destinations."/queue/*"]\ntype = "queue"\n'
    f"max_messages = 100000\nmax_redeliveries = {MAX_REDELIVERIES}\n"
)
#: Consumers filter on a colour with the filters plugin's header engine (``filter:colour=red``).
FILTERS = importlib.util.find_spec("xtomp_filters") is not None
if FILTERS:
    CONFIG += "[plugins.filters]\n"
COLOURS = ["red", "blue"] if FILTERS else []


class Client:
    """One client of the model: the broker's in-memory client plus what the model expects of it."""

    def __init__(self, memory: InMemoryBroker, name: int) -> None:
        self.name = name
        self.fake: FakeClient = memory.client(version=None)
        self.session = self.fake.session
        self.subscriptions: dict[str, tuple[str, int, str | None]] = {}  # id -> (ack mode, prefetch or 0, colour)
        self.transaction: str | None = None
        self.buffered: list[tuple[str, object]] = []  # what the open transaction holds
        self.claimed: set[str] = set()  # bodies an ACK/NACK in the open transaction covers

    def send(self, command: str, headers: dict[str, str], body: str = "") -> None:
        self.fake.send(command, headers, body)


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.memory = InMemoryBroker(CONFIG)
        self.broker = self.memory.broker
        self.clients: dict[int, Client] = {}
        self.names = itertools.count()
        self.bodies = itertools.count()
        self.sub_ids = itertools.count()
        #: body -> ("waiting",) | ("flight", client, subscription) | ("done",) | ("dropped",)
        self.status: dict[str, tuple] = {}
        self.deliveries: dict[str, int] = {}
        self.producer: dict[str, tuple[int, int]] = {}  # body -> (producer, sequence at enqueue)
        self.priority: dict[str, int] = {}  # body -> its priority (4 without the header)
        self.colour: dict[str, str | None] = {}  # body -> its colour header
        #: bodies waiting when the last step ended (so, when this one began)
        self.waiting_before: set[str] = set()
        self.sequence = itertools.count()
        #: (client, subscription) -> bodies in flight there, in delivery order
        self.unacked: dict[tuple[int, str], list[str]] = {}
        self.last_fresh: dict[tuple[int, str, int, int], int] = {}

    # -- observing the broker -----------------------------------------------------------------

    def observe(self) -> None:
        given = []
        for client in list(self.clients.values()):
            for frame in client.fake.frames():
                assert frame.command != b"ERROR", frame
                if frame.command == b"MESSAGE":
                    fresh = self.deliveries[frame.body.decode()] == 0
                    self.delivered(client, frame)
                    given.append((client, frame.headers[b"subscription"].decode(), frame.body.decode(), fresh))
        waiting = {body for body, state in self.status.items() if state == ("waiting",)}
        # Priority order: whatever a consumer got in this step, nothing it matches of a higher
        # priority waited all along (from before the step to after it); nor, for a message
        # never delivered before, a returned one of its priority (they go back to the head).
        stayed = waiting & self.waiting_before
        for client, subscription, body, fresh in given:
            colour = client.subscriptions[subscription][2] if subscription in client.subscriptions else None
            for other in stayed:
                if colour is None or self.colour[other] == colour:
                    assert self.priority[other] <= self.priority[body], (
                        f"{body} (priority {self.priority[body]}) given to {client.name}/{subscription} "
                        f"while {other} (priority {self.priority[other]}) waited"
                    )
                    assert not (fresh and self.priority[other] == self.priority[body] and self.deliveries[other]), (
                        f"fresh {body} given to {client.name}/{subscription} while {other}, returned, waited "
                        f"(priority {self.priority[body]})"
                    )
        self.waiting_before = waiting

    def delivered(self, client: Client, frame) -> None:
        body = frame.body.decode()
        subscription = frame.headers[b"subscription"].decode()
        assert self.status.get(body) == ("waiting",), f"{body} delivered while {self.status.get(body)}"
        redelivered = frame.headers.get(b"redelivered") == b"true"
        assert redelivered == (self.deliveries[body] > 0), (body, self.deliveries[body], frame.headers)
        if not redelivered:
            producer, sequence = self.producer[body]
            key = (client.name, subscription, producer, self.priority[body])
            assert sequence > self.last_fresh.get(key, -1), f"{body} out of order for {key}"
            self.last_fresh[key] = sequence
        self.deliveries[body] += 1
        mode, window, colour = client.subscriptions[subscription]
        assert colour is None or self.colour[body] == colour, f"{body} ({self.colour[body]}) given to a {colour} filter"
        if mode == "auto":
            self.status[body] = ("done",)
            return
        self.status[body] = ("flight", client.name, subscription)
        unacked = self.unacked.setdefault((client.name, subscription), [])
        unacked.append(body)
        assert not window or len(unacked) <= window, f"{len(unacked)} unacked over prefetch {window}"

    def returned(self, bodies) -> None:
        for body in bodies:
            self.status[body] = ("dropped",) if self.deliveries[body] > MAX_REDELIVERIES else ("waiting",)

    def forget_subscription(self, client: Client, subscription: str) -> None:
        self.returned(self.unacked.pop((client.name, subscription), []))

    # -- rules ------------------------------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        if len(self.clients) >= 5:
            return
        client = Client(self.memory, next(self.names))
        self.clients[client.name] = client
        assert client.fake.connect().command == b"CONNECTED"

    def pick(self, data, clients):
        return data.draw(st.sampled_from(sorted(clients, key=lambda c: c.name)))

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), mode=st.sampled_from(["auto", "client", "client-individual"]),
          window=st.sampled_from([0, 1, 2, 5]), colour=st.sampled_from([None, None, *COLOURS]))
    def subscribe(self, data, mode, window, colour) -> None:
        client = self.pick(data, self.clients.values())
        if len(client.subscriptions) >= 2:
            return
        subscription = f"s{next(self.sub_ids)}"
        client.subscriptions[subscription] = (mode, window if mode != "auto" else 0, colour)
        headers = {"destination": QUEUE.decode(), "id": subscription, "ack": mode}
        if window and mode != "auto":
            headers["prefetch-count"] = str(window)
        if colour is not None:
            headers["filter"] = f"colour={colour}"
        client.send("SUBSCRIBE", headers)
        self.observe()

    @precondition(lambda self: any(c.subscriptions and c.transaction is None for c in self.clients.values()))
    @rule(data=st.data())
    def unsubscribe(self, data) -> None:
        client = self.pick(data, [c for c in self.clients.values() if c.subscriptions and c.transaction is None])
        subscription = data.draw(st.sampled_from(sorted(client.subscriptions)))
        del client.subscriptions[subscription]
        client.send("UNSUBSCRIBE", {"id": subscription})
        self.forget_subscription(client, subscription)
        self.observe()

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), in_transaction=st.booleans(),
          priority=st.sampled_from([None, None, None, 0, 1, 4, 5, 9]),
          colour=st.sampled_from([None, *COLOURS]))
    def send(self, data, in_transaction, priority, colour) -> None:
        client = self.pick(data, self.clients.values())
        body = f"m{next(self.bodies)}"
        headers = {"destination": QUEUE.decode()}
        self.priority[body] = DEFAULT_PRIORITY if priority is None else priority
        self.colour[body] = colour
        if priority is not None:
            headers["priority"] = str(priority)
        if colour is not None:
            headers["colour"] = colour
        if in_transaction and client.transaction is not None:
            headers["transaction"] = client.transaction
            client.buffered.append(("send", body))
            client.send("SEND", headers, body)
            return
        self.enqueued(client, body)
        client.send("SEND", headers, body)
        self.observe()

    def enqueued(self, client: Client, body: str) -> None:
        self.status[body] = ("waiting",)
        self.deliveries[body] = 0
        self.producer[body] = (client.name, next(self.sequence))

    def settle_choices(self):
        return [
            (client, subscription)
            for client in self.clients.values()
            for (name, subscription), bodies in self.unacked.items()
            if name == client.name and [b for b in bodies if b not in client.claimed]
        ]

    @precondition(lambda self: self.settle_choices())
    @rule(data=st.data(), nack=st.booleans())
    def settle(self, data, nack) -> None:
        client, subscription = data.draw(st.sampled_from(
            sorted(self.settle_choices(), key=lambda pair: (pair[0].name, pair[1]))))
        bodies = [b for b in self.unacked[(client.name, subscription)] if b not in client.claimed]
        body = data.draw(st.sampled_from(bodies))
        mode = client.subscriptions[subscription][0]
        every = self.unacked[(client.name, subscription)]
        covered = every[: every.index(body) + 1] if mode == "client" else [body]
        covered = [b for b in covered if b not in client.claimed]  # an earlier one in this transaction took those
        ack_id = f"{subscription}.{self.message_id(client, subscription, body)}"
        headers = {"id": ack_id}
        command = "NACK" if nack else "ACK"
        if client.transaction is not None:
            headers["transaction"] = client.transaction
            client.buffered.append((command.lower(), (subscription, covered)))
            client.claimed.update(covered)
            client.send(command, headers)
            return
        client.send(command, headers)
        self.apply_settle(client, subscription, covered, nack)
        self.observe()

    def message_id(self, client: Client, subscription: str, body: str) -> int:
        queue = self.broker.destinations[QUEUE]
        consumer = client.session.subscriptions[subscription.encode()].state
        for message_id, held in consumer.unacked.items():
            if held.message.body == body.encode():
                return message_id
        raise AssertionError(f"{body} is not unacked at {subscription} in the broker ({queue!r})")

    def apply_settle(self, client: Client, subscription: str, covered, nack: bool) -> None:
        unacked = self.unacked[(client.name, subscription)]
        for body in covered:
            unacked.remove(body)
            if nack:
                self.returned([body])
            else:
                self.status[body] = ("done",)

    @precondition(lambda self: any(c.transaction is None for c in self.clients.values()))
    @rule(data=st.data())
    def begin(self, data) -> None:
        client = self.pick(data, [c for c in self.clients.values() if c.transaction is None])
        client.transaction = f"t{next(self.bodies)}"
        client.send("BEGIN", {"transaction": client.transaction})

    @precondition(lambda self: any(c.transaction is not None for c in self.clients.values()))
    @rule(data=st.data(), commit=st.booleans())
    def end_transaction(self, data, commit) -> None:
        client = self.pick(data, [c for c in self.clients.values() if c.transaction is not None])
        transaction, client.transaction = client.transaction, None
        buffered, client.buffered = client.buffered, []
        client.claimed = set()
        if commit:
            for kind, item in buffered:  # the model first: COMMIT delivers as it replays
                if kind == "send":
                    self.enqueued(client, item)
        client.send("COMMIT" if commit else "ABORT", {"transaction": transaction})
        if commit:
            for kind, item in buffered:
                if kind != "send":
                    subscription, covered = item
                    self.apply_settle(client, subscription, covered, kind == "nack")
        self.observe()

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), abrupt=st.booleans())
    def leave(self, data, abrupt) -> None:
        client = self.pick(data, self.clients.values())
        if abrupt:
            client.fake.disconnect("EOF")
        else:
            client.send("DISCONNECT", {})
        del self.clients[client.name]
        for subscription in list(client.subscriptions):
            self.forget_subscription(client, subscription)
        self.observe()

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def nothing_lost_and_figures_agree(self) -> None:
        queue = self.broker.destinations.get(QUEUE)
        if queue is None:
            return
        kinds = [state[0] for state in self.status.values()]
        assert kinds.count("waiting") == queue.depth
        assert kinds.count("flight") == queue.in_flight
        assert kinds.count("dropped") == queue.dropped
        assert sum(len(bodies) for bodies in self.unacked.values()) == queue.in_flight
        # max_memory's count: exactly the bodies waiting (no drift, or producers could pause for ever)
        assert queue.ready_bytes == sum(len(held.message.body) for held in queue.ready)
        assert self.memory.context.memory.held == queue.ready_bytes

    @invariant()
    def waiting_messages_are_in_delivery_order(self) -> None:
        """The broker's queue, as it would deliver: higher priorities first; within one, the
        messages returned (NACK, departure) before those never delivered, and these in the
        order they were enqueued."""
        queue = self.broker.destinations.get(QUEUE)
        if queue is None:
            return
        keys = []
        for held in queue.ready:
            body = held.message.body.decode()
            returned = held.deliveries > 0
            keys.append((-self.priority[body], not returned, 0 if returned else self.producer[body][1]))
        assert keys == sorted(keys), [held.message.body for held in queue.ready]

    @invariant()
    def no_waiting_message_matches_a_consumer_with_room(self) -> None:
        waiting = [body for body, state in self.status.items() if state == ("waiting",)]
        if not waiting:
            return
        for client in self.clients.values():
            for subscription, (mode, window, colour) in client.subscriptions.items():
                held = len(self.unacked.get((client.name, subscription), []))
                if mode == "auto" or not window or held < window:
                    matched = [body for body in waiting if colour is None or self.colour[body] == colour]
                    assert not matched, f"{matched} wait while {client.name}/{subscription} has room"

    def teardown(self) -> None:
        """Everyone leaves; one auto consumer then receives every message not dropped."""
        for client in list(self.clients.values()):
            client.fake.disconnect("teardown")
            for subscription in list(client.subscriptions):
                self.forget_subscription(client, subscription)
            del self.clients[client.name]
            self.observe()  # what the others were given meanwhile (auto: settled on delivery)
        last = Client(self.memory, next(self.names))
        self.clients[last.name] = last
        last.fake.connect()
        last.subscriptions["final"] = ("auto", 0, None)
        last.send("SUBSCRIBE", {"destination": QUEUE.decode(), "id": "final"})
        self.observe()
        left = {body for body, state in self.status.items() if state[0] not in ("done", "dropped")}
        self.memory.close()
        assert not left, f"never delivered: {sorted(left)}"


QueueModel.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestQueueModel = QueueModel.TestCase

