"""The queues plugin over real sockets: competing consumers, acks, redelivery, dead letters,
prefetch, transactions, expiry, flow control, xtomp's min_delivery and the figures."""

from __future__ import annotations

import time

import pytest

from xtomp_core import ConfigError
from xtomp_testing import RawClient, frame_bytes, load_broker, wait_until, write_config


def connected(broker, raw_client, version: str = "1.2") -> RawClient:
    client = raw_client(broker)
    client.connect(version)
    return client


def send_all(client: RawClient, destination: str, bodies, **headers: str) -> None:
    """SEND each body, then wait for a receipt so every one is enqueued."""
    for body in bodies:
        client.send_frame("SEND", {"destination": destination, **headers}, body)
    client.send_frame("SEND", {"destination": "/topic/sync", "receipt": "sent"}, "")
    client.expect_receipt("sent")


def queue_stats(broker, name: str) -> dict:
    return next(d for d in broker.stats()["destinations"] if d["dest"] == name)


def bodies(frames) -> list[bytes]:
    return [frame.body for frame in frames]


# -- delivery ------------------------------------------------------------------------------


def test_each_message_goes_to_exactly_one_consumer_in_turn(broker, raw_client):
    consumers = [connected(broker, raw_client) for _ in range(3)]
    for index, consumer in enumerate(consumers):
        consumer.subscribe("/queue/work", id=f"c{index}")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/work", [f"m{i}" for i in range(9)])
    received = [bodies(consumer.messages(3)) for consumer in consumers]
    assert received == [[b"m0", b"m3", b"m6"], [b"m1", b"m4", b"m7"], [b"m2", b"m5", b"m8"]]
    for consumer in consumers:
        consumer.expect_nothing(0.1)


def test_messages_wait_in_order_and_go_to_a_later_consumer_after_its_receipt(broker, raw_client):
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/later", [f"m{i}" for i in range(5)])
    assert queue_stats(broker, "/queue/later")["q"] == 5
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/later", id="s")  # expects the RECEIPT first
    assert bodies(consumer.messages(5)) == [f"m{i}".encode() for i in range(5)]
    second = connected(broker, raw_client)
    second.subscribe("/queue/later", id="s")
    second.expect_nothing(0.1)  # nothing is replayed to every new subscriber (xtomp did)
    assert queue_stats(broker, "/queue/later")["q"] == 0


def test_a_frame_fed_byte_by_byte_and_with_trailing_data_works_the_same(broker, raw_client):
    consumer = connected(broker, raw_client)
    data = frame_bytes("SUBSCRIBE", {"destination": "/queue/bytes", "id": "b", "ack": "client-individual"})
    consumer.send_in_pieces(data, 1)
    producer = connected(broker, raw_client)
    producer.send(
        frame_bytes("SEND", {"destination": "/queue/bytes"}, "one")
        + frame_bytes("SEND", {"destination": "/queue/bytes"}, "two")
        + b"\n\n"
    )
    first, second = consumer.messages(2)
    acks = frame_bytes("ACK", {"id": first.headers[b"ack"].decode()}) + frame_bytes(
        "ACK", {"id": second.headers[b"ack"].decode(), "receipt": "acked"}
    )
    consumer.send_in_pieces(acks[:-3], 1)
    consumer.send(acks[-3:] + b"\r\n")
    consumer.expect_receipt("acked")
    assert queue_stats(broker, "/queue/bytes")["acked"] == 2


def test_client_individual_nack_settles_one_message_and_client_nack_all_before_it(broker, raw_client):
    """NACK (requeue:false) of the second delivery: client-individual leaves the first in flight
    (an ACK of it then works), client settles both (an ACK of the first is then an ERROR)."""
    for mode, first_still_awaited in (("client-individual", True), ("client", False)):
        consumer = connected(broker, raw_client)
        queue = f"/queue/settle-{mode}"
        consumer.subscribe(queue, id="s", ack=mode)
        send_all(connected(broker, raw_client), queue, ["one", "two"])
        first, second = consumer.messages(2)
        consumer.send_frame("NACK", {"id": second.headers[b"ack"].decode(), "requeue": "false", "receipt": "second"})
        consumer.expect_receipt("second")
        figures = queue_stats(broker, queue)
        assert (figures["nacked"], figures["in_flight"]) == ((1, 1) if first_still_awaited else (2, 0))
        consumer.send_frame("ACK", {"id": first.headers[b"ack"].decode(), "receipt": "first"})
        if first_still_awaited:
            consumer.expect_receipt("first")
        else:
            consumer.expect_error("is not awaiting it")


# -- when full -----------------------------------------------------------------------------


def test_a_send_to_a_full_queue_gets_q_flup_and_nothing_is_lost(queues, raw_client):
    broker = queues(queue_settings="max_messages = 3\n")
    producer = connected(broker, raw_client)
    for index in range(3):
        producer.send_frame("SEND", {"destination": "/queue/full"}, f"m{index}")
    producer.send_frame("SEND", {"destination": "/queue/full", "receipt": "fourth"}, "m3")
    error = producer.expect_error("q flup")
    assert error.headers[b"receipt-id"] == b"fourth"
    assert "max_messages (3)" in error.headers[b"message"].decode()
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/full")
    assert bodies(consumer.messages(3)) == [b"m0", b"m1", b"m2"]
    consumer.expect_nothing(0.1)


def test_when_full_pause_stops_reading_the_producer_until_there_is_room(queues, raw_client):
    broker = queues(queue_settings='max_messages = 2\nwhen_full = "pause"\n')
    producer = connected(broker, raw_client)
    for index in range(6):
        producer.send_frame("SEND", {"destination": "/queue/paced"}, f"m{index}")
    producer.send_frame("SEND", {"destination": "/topic/x", "receipt": "done"}, "")
    producer.expect_nothing(0.3)  # paused: the receipt waits with the unread frames
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/paced", id="c", ack="client-individual", prefetch_count="1")
    for index in range(6):
        message = consumer.expect("MESSAGE")
        assert message.body == f"m{index}".encode()
        consumer.send_frame("ACK", {"id": message.headers[b"ack"].decode()})
    producer.expect_receipt("done")
    consumer.expect_nothing(0.1)


def test_a_producer_holding_unacked_messages_gets_q_flup_instead_of_a_pause(queues, raw_client):
    broker = queues(queue_settings='max_messages = 1\nwhen_full = "pause"\n')
    worker = connected(broker, raw_client)
    worker.subscribe("/queue/in", id="in", ack="client")
    feeder = connected(broker, raw_client)
    send_all(feeder, "/queue/in", ["job"])
    worker.expect("MESSAGE")  # unacked: pausing the worker would block its own ACK
    send_all(worker, "/queue/out", ["r1"])
    worker.send_frame("SEND", {"destination": "/queue/out", "receipt": "r2"}, "r2")
    worker.expect_error("q flup")


# -- xtomp's min_delivery --------------------------------------------------------------------


def test_min_delivery_declares_an_xtomp_queue_with_competing_consumers(queues, raw_client):
    broker = queues('[destinations."memq"]\nmin_delivery = 1\n')
    first, second = connected(broker, raw_client), connected(broker, raw_client)
    first.subscribe("memq", id="1")
    second.subscribe("memq", id="2")
    producer = connected(broker, raw_client)
    send_all(producer, "memq", ["a", "b"])
    assert bodies(first.messages(1)) == [b"a"] and bodies(second.messages(1)) == [b"b"]
    assert queue_stats(broker, "memq")["type"] == "queue"


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('[destinations."memq"]\ntype = "topic"\nmin_delivery = 1\n', 'destinations."memq".min_delivery: 1 makes'),
        ('[destinations."memq"]\nmin_delivery = 2\n', "min_delivery"),
        ('[destinations."/queue/a"]\ntype = "queue"\ndead_letter = "/queue/a"\n', "is the destination itself"),
        ('[destinations."/queue/b"]\ntype = "queue"\ndead_letter = "/temp-queue/x"\n', "is temporary"),
        ('[destinations."/queue/c"]\ntype = "queue"\nwhen_full = "block"\n', "when_full"),
    ],
)
def test_bad_queue_settings_are_config_errors_naming_file_and_key(tmp_path, table, complaint):
    directory = write_config(tmp_path, "[plugins.queues]\n" + table)
    with pytest.raises(ConfigError) as refused:
        load_broker(directory)
    assert "50-test.toml" in str(refused.value)
    assert complaint in str(refused.value)


# -- acknowledgements -------------------------------------------------------------------------


def test_client_mode_ack_is_cumulative(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/cumulative", id="c", ack="client")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/cumulative", ["1", "2", "3", "4"])
    frames = consumer.messages(4)
    assert all(frame.headers[b"ack"].startswith(b"c.") for frame in frames)
    consumer.send_frame("ACK", {"id": frames[2].headers[b"ack"].decode(), "receipt": "a"})
    consumer.expect_receipt("a")
    figures = queue_stats(broker, "/queue/cumulative")
    assert (figures["acked"], figures["in_flight"]) == (3, 1)


def test_client_individual_ack_settles_only_that_message(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/individual", id="i", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/individual", ["1", "2", "3"])
    frames = consumer.messages(3)
    consumer.send_frame("ACK", {"id": frames[1].headers[b"ack"].decode(), "receipt": "a"})
    consumer.expect_receipt("a")
    consumer.close()  # the two unacked ones go back
    again = connected(broker, raw_client)
    again.subscribe("/queue/individual", id="j", ack="auto")
    assert bodies(again.messages(2)) == [b"1", b"3"]
    again.expect_nothing(0.1)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_older_versions_ack_by_message_id(broker, raw_client, version):
    consumer = connected(broker, raw_client, version)
    consumer.subscribe("/queue/old", id="o", ack="client")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/old", ["x"])
    message = consumer.expect("MESSAGE")
    headers = {"message-id": message.headers[b"message-id"].decode(), "receipt": "a"}
    if version == "1.1":
        headers["subscription"] = "o"
    consumer.send_frame("ACK", headers)
    consumer.expect_receipt("a")
    assert queue_stats(broker, "/queue/old")["acked"] == 1


def test_an_ack_of_a_message_not_awaiting_one_is_an_error_naming_it(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/twice", id="t", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/twice", ["x"])
    ack = consumer.expect("MESSAGE").headers[b"ack"].decode()
    consumer.send_frame("ACK", {"id": ack})
    consumer.send_frame("ACK", {"id": ack, "receipt": "again"})
    error = consumer.expect_error("is not awaiting it")
    assert error.headers[b"receipt-id"] == b"again"
    assert ack.split(".")[1] in error.headers[b"message"].decode()


def test_nack_puts_the_message_back_at_the_head_with_redelivery_headers(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/nack", id="n", ack="client-individual", prefetch_count="1")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/nack", ["first", "second"])
    first = consumer.expect("MESSAGE")
    assert first.headers[b"redelivered"] == b"false" and b"x-delivery-count" not in first.headers
    consumer.send_frame("NACK", {"id": first.headers[b"ack"].decode()})
    again = consumer.expect("MESSAGE")
    assert again.body == b"first"  # at the head, before "second"
    assert again.headers[b"redelivered"] == b"true" and again.headers[b"x-delivery-count"] == b"1"
    assert again.headers[b"message-id"] == first.headers[b"message-id"]
    consumer.send_frame("NACK", {"id": again.headers[b"ack"].decode()})
    assert consumer.expect("MESSAGE").headers[b"x-delivery-count"] == b"2"
    figures = queue_stats(broker, "/queue/nack")
    assert (figures["nacked"], figures["redelivered"]) == (2, 2)


def test_client_mode_nack_is_cumulative_and_keeps_the_order(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/cnack", id="c", ack="client")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/cnack", ["1", "2", "3"])
    frames = consumer.messages(3)
    consumer.send_frame("NACK", {"id": frames[1].headers[b"ack"].decode()})
    redelivered = consumer.messages(2)
    assert bodies(redelivered) == [b"1", b"2"]
    assert all(frame.headers[b"redelivered"] == b"true" for frame in redelivered)


def test_nack_with_requeue_false_dead_letters_at_once(queues, raw_client):
    broker = queues(queue_settings='dead_letter = "/queue/DLQ"\n')
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/reject", id="r", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/reject", ["poison"])
    message = consumer.expect("MESSAGE")
    consumer.send_frame("NACK", {"id": message.headers[b"ack"].decode(), "requeue": "false", "receipt": "n"})
    consumer.expect_receipt("n")
    consumer.expect_nothing(0.1)
    dead = connected(broker, raw_client)
    dead.subscribe("/queue/DLQ")
    letter = dead.expect("MESSAGE")
    assert letter.body == b"poison"
    assert letter.headers[b"x-original-destination"] == b"/queue/reject"
    assert letter.headers[b"x-dead-letter-reason"] == b"rejected"
    # The dead-letter queue is under the same rule: its own dead letters are dropped, not looped.
    dead.send_frame("SUBSCRIBE", {"destination": "/queue/DLQ", "id": "again", "ack": "client-individual"})
    send_all(producer, "/queue/DLQ", ["poison 2"])
    refused = dead.expect("MESSAGE")
    dead.send_frame("NACK", {"id": refused.headers[b"ack"].decode(), "requeue": "false", "receipt": "n2"})
    dead.expect_receipt("n2")
    dead.expect_nothing(0.1)
    assert queue_stats(broker, "/queue/DLQ")["dropped"] == 1


def test_unacked_messages_of_a_lost_consumer_reach_another_none_lost_none_duplicated(broker, raw_client):
    doomed = connected(broker, raw_client)
    doomed.subscribe("/queue/lost", id="d", ack="client-individual", prefetch_count="5")
    survivor = connected(broker, raw_client)
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/lost", [f"m{i}" for i in range(8)])
    held = doomed.messages(5)
    doomed.send_frame("ACK", {"id": held[0].headers[b"ack"].decode(), "receipt": "a"})
    assert doomed.expect("MESSAGE").body == b"m5"  # the window moved on
    doomed.expect_receipt("a")
    survivor.subscribe("/queue/lost", id="s")
    early = survivor.messages(2)  # the two nobody held
    doomed.close()  # abruptly: no DISCONNECT, five unacked
    late = survivor.messages(5)
    assert all(frame.headers[b"redelivered"] == b"true" for frame in late)
    got = bodies(early) + bodies(late)
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(1, 8))  # m0 was acked
    assert len(set(got)) == len(got)
    survivor.expect_nothing(0.1)


def test_unsubscribe_returns_unacked_messages_in_order(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/unsub", id="u", ack="client")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/unsub", ["1", "2", "3"])
    consumer.messages(3)
    consumer.send_frame("UNSUBSCRIBE", {"id": "u", "receipt": "gone"})
    consumer.expect_receipt("gone")
    other = connected(broker, raw_client)
    other.subscribe("/queue/unsub", id="o")
    assert bodies(other.messages(3)) == [b"1", b"2", b"3"]


def test_after_max_redeliveries_a_message_goes_to_the_dead_letter_queue(queues, raw_client):
    broker = queues(queue_settings='max_redeliveries = 2\ndead_letter = "/queue/DLQ"\n')
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/retry", id="r", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/retry", ["bad"])
    for _ in range(3):  # the first delivery and two redeliveries
        message = consumer.expect("MESSAGE")
        consumer.send_frame("NACK", {"id": message.headers[b"ack"].decode()})
    consumer.expect_nothing(0.1)
    dead = connected(broker, raw_client)
    dead.subscribe("/queue/DLQ")
    letter = dead.expect("MESSAGE")
    assert (letter.body, letter.headers[b"x-dead-letter-reason"]) == (b"bad", b"rejected")
    assert queue_stats(broker, "/queue/retry")["dead_lettered"] == 1


def test_without_a_dead_letter_queue_the_message_is_dropped_and_counted(queues, raw_client):
    broker = queues(queue_settings="max_redeliveries = 0\n")
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/once", id="o", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/once", ["x"])
    consumer.send_frame("NACK", {"id": consumer.expect("MESSAGE").headers[b"ack"].decode(), "receipt": "n"})
    consumer.expect_receipt("n")
    consumer.expect_nothing(0.1)
    figures = queue_stats(broker, "/queue/once")
    assert (figures["dropped"], figures["q"], figures["in_flight"]) == (1, 0, 0)


# -- prefetch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["prefetch-count", "activemq.prefetchSize", None])
def test_a_consumer_never_holds_more_unacked_than_its_prefetch(queues, raw_client, header):
    broker = queues(queue_settings="prefetch = 2\n")
    consumer = connected(broker, raw_client)
    extra = {header: "3"} if header else {}
    window = 3 if header else 2
    consumer.send_frame("SUBSCRIBE", {"destination": "/queue/window", "id": "w", "ack": "client-individual",
                                      "receipt": "s", **extra})
    consumer.expect_receipt("s")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/window", [str(i) for i in range(6)])
    frames = consumer.messages(window)
    consumer.expect_nothing(0.1)
    consumer.send_frame("ACK", {"id": frames[0].headers[b"ack"].decode()})
    assert consumer.expect("MESSAGE").body == str(window).encode()
    consumer.expect_nothing(0.1)


def test_a_bad_prefetch_value_is_refused(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.send_frame("SUBSCRIBE", {"destination": "/queue/p", "id": "p", "prefetch-count": "abc"})
    consumer.expect_error("prefetch-count must be a whole number")


# -- transactions -----------------------------------------------------------------------------


def test_acks_in_a_transaction_take_effect_on_commit_and_abort_leaves_them_unacked(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/tx", id="t", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/tx", ["1", "2"])
    first, second = consumer.messages(2)
    consumer.send_frame("BEGIN", {"transaction": "k"})
    consumer.send_frame("ACK", {"id": first.headers[b"ack"].decode(), "transaction": "k", "receipt": "a"})
    consumer.expect_receipt("a")
    assert queue_stats(broker, "/queue/tx")["acked"] == 0
    consumer.send_frame("COMMIT", {"transaction": "k", "receipt": "c"})
    consumer.expect_receipt("c")
    assert queue_stats(broker, "/queue/tx")["acked"] == 1
    consumer.send_frame("BEGIN", {"transaction": "x"})
    consumer.send_frame("ACK", {"id": second.headers[b"ack"].decode(), "transaction": "x"})
    consumer.send_frame("ABORT", {"transaction": "x", "receipt": "ab"})
    consumer.expect_receipt("ab")
    figures = queue_stats(broker, "/queue/tx")
    assert (figures["acked"], figures["in_flight"]) == (1, 1)
    consumer.close()
    other = connected(broker, raw_client)
    other.subscribe("/queue/tx", id="o")
    redelivered = other.expect("MESSAGE")
    assert (redelivered.body, redelivered.headers[b"redelivered"]) == (b"2", b"true")


def test_sends_in_a_transaction_are_enqueued_on_commit_only(broker, raw_client):
    producer = connected(broker, raw_client)
    producer.send_frame("BEGIN", {"transaction": "t"})
    send_all(producer, "/queue/txsend", ["a", "b"], transaction="t")
    # The queue exists (checked and created at SEND, as ActiveMQ does) but holds nothing yet.
    assert queue_stats(broker, "/queue/txsend")["q"] == 0
    producer.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
    producer.expect_receipt("c")
    assert queue_stats(broker, "/queue/txsend")["q"] == 2


def commit(producer: RawClient, destination: str, bodies_sent, **headers: str) -> None:
    producer.send_frame("BEGIN", {"transaction": "t"})
    for body in bodies_sent:
        producer.send_frame("SEND", {"destination": destination, "transaction": "t", **headers}, body)
    producer.send_frame("COMMIT", {"transaction": "t", "receipt": "commit"})


def test_a_commit_a_queue_cannot_take_whole_delivers_nothing(queues, raw_client):
    """All of a transaction's SENDs or none: q flup before the first is enqueued."""
    broker = queues(queue_settings="max_messages = 3\n")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/atomic", ["before"])
    commit(producer, "/queue/atomic", ["t1", "t2", "t3"])  # 1 + 3 > 3
    error = producer.expect_error("q flup")
    assert error.headers[b"receipt-id"] == b"commit"
    assert "has room for 2 more messages and the transaction sends it 3" in error.headers[b"message"].decode()
    assert queue_stats(broker, "/queue/atomic")["q"] == 1  # only what was sent outside it
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/atomic")
    assert bodies(consumer.messages(1)) == [b"before"]
    consumer.expect_nothing(0.1)


def test_a_commit_that_fits_is_delivered_whole(queues, raw_client):
    broker = queues(queue_settings="max_messages = 3\n")
    producer = connected(broker, raw_client)
    commit(producer, "/queue/fits", ["t1", "t2", "t3"])
    producer.expect_receipt("commit")
    assert queue_stats(broker, "/queue/fits")["q"] == 3


@pytest.mark.parametrize(("ack", "prefetch", "fits"), [("auto", None, 10), ("client", "4", 7)])
def test_consumers_with_room_count_towards_what_a_commit_may_send(queues, raw_client, ack, prefetch, fits):
    """Messages a consumer takes at once never wait in the queue: an auto consumer takes all,
    a client one as many as its window has room for, on top of max_messages."""
    broker = queues(queue_settings="max_messages = 3\n")
    consumer = connected(broker, raw_client)
    headers = {"ack": ack} | ({"prefetch-count": prefetch} if prefetch else {})
    consumer.subscribe("/queue/taken", **headers)
    producer = connected(broker, raw_client)
    commit(producer, "/queue/taken", [f"m{index}" for index in range(fits)])
    producer.expect_receipt("commit")
    taken = consumer.messages(fits if ack == "auto" else 4)
    assert bodies(taken) == [f"m{index}".encode() for index in range(len(taken))]
    if ack == "client":
        producer.send_frame("BEGIN", {"transaction": "u"})
        producer.send_frame("SEND", {"destination": "/queue/taken", "transaction": "u"}, "over")
        producer.send_frame("COMMIT", {"transaction": "u", "receipt": "full"})
        producer.expect_error("has room for 0 more messages")


def test_a_commit_to_a_queue_that_pauses_producers_is_never_refused(queues, raw_client):
    broker = queues(queue_settings='max_messages = 2\nwhen_full = "pause"\n')
    producer = connected(broker, raw_client)
    commit(producer, "/queue/paused", ["t1", "t2", "t3"])
    producer.expect_receipt("commit")
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/paused")
    assert bodies(consumer.messages(3)) == [b"t1", b"t2", b"t3"]


# -- expiry -----------------------------------------------------------------------------------


def test_expired_messages_are_never_delivered_and_go_to_the_dead_letter_queue(queues, raw_client):
    broker = queues(queue_settings='dead_letter = "/queue/DLQ"\n')
    producer = connected(broker, raw_client)
    now_ms = int(time.time() * 1000)
    send_all(producer, "/queue/ttl", ["past"], expires=str(now_ms - 1000))
    send_all(producer, "/queue/ttl", ["soon"], expires=str(now_ms + 150))
    send_all(producer, "/queue/ttl", ["rabbit"], expiration="150")
    send_all(producer, "/queue/ttl", ["never"], expires="0")
    send_all(producer, "/queue/ttl", ["later"], expires=str(now_ms + 60_000))
    # the queue's timer removes the waiting ones when due
    wait_until(lambda: queue_stats(broker, "/queue/ttl")["expired"] == 3, what="three expired")
    figures = queue_stats(broker, "/queue/ttl")
    assert (figures["expired"], figures["q"]) == (3, 2)
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/ttl")
    assert bodies(consumer.messages(2)) == [b"never", b"later"]
    dead = connected(broker, raw_client)
    dead.subscribe("/queue/DLQ")
    letters = dead.messages(3)
    assert bodies(letters) == [b"past", b"soon", b"rabbit"]
    assert all(letter.headers[b"x-dead-letter-reason"] == b"expired" for letter in letters)
    assert all(b"expires" not in letter.headers and b"expiration" not in letter.headers for letter in letters)


def test_the_expiry_directive_discards_waiting_messages(queues, raw_client):
    broker = queues(queue_settings='expiry = "150ms"\n')
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/short", ["a", "b"])
    wait_until(lambda: queue_stats(broker, "/queue/short")["expired"] == 2, what="two expired")
    figures = queue_stats(broker, "/queue/short")
    assert (figures["expired"], figures["dropped"], figures["q"]) == (2, 0, 0)
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/short")
    consumer.expect_nothing(0.1)


def test_no_timer_runs_while_nothing_can_expire(broker, raw_client):
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/calm", ["a", "b"])
    queue = broker.call(broker.broker.context.destination, b"/queue/calm")
    assert broker.call(lambda: queue._timer) is None  # not even a timer object before the first deadline
    send_all(producer, "/queue/calm", ["c"], expiration="60000")
    assert broker.call(lambda: queue._timer.armed)
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/calm")
    consumer.messages(3)
    assert not broker.call(lambda: queue._timer.armed)  # delivered: nothing left to expire


@pytest.mark.parametrize(("header", "value"), [("expires", "soon"), ("expiration", "-5"), ("expires", "1.5")])
def test_a_bad_expiry_header_is_refused(broker, raw_client, header, value):
    producer = connected(broker, raw_client)
    producer.send_frame("SEND", {"destination": "/queue/bad", header: value})
    producer.expect_error(f"{header} must be a whole number of milliseconds")


# -- temporary queues ---------------------------------------------------------------------------


def test_reply_to_a_temp_queue_works_rabbitmq_style(broker, raw_client):
    worker = connected(broker, raw_client)
    worker.subscribe("/queue/requests", id="w")
    requester = connected(broker, raw_client)
    requester.send_frame("SEND", {"destination": "/queue/requests", "reply-to": "/temp-queue/answers"}, "ping")
    request = worker.expect("MESSAGE")
    reply_to = request.headers[b"reply-to"]
    assert reply_to.startswith(b"/reply-queue/") and reply_to.endswith(b".answers")
    worker.send_frame("SEND", {"destination": reply_to.decode()}, "pong")
    reply = requester.expect("MESSAGE")
    assert (reply.body, reply.headers[b"subscription"]) == (b"pong", b"/temp-queue/answers")


def test_reply_to_a_temp_queue_works_activemq_style_and_is_private(broker, raw_client):
    requester = connected(broker, raw_client)
    requester.subscribe("/temp-queue/mine", id="replies")
    worker = connected(broker, raw_client)
    worker.subscribe("/queue/jobs", id="w")
    requester.send_frame("SEND", {"destination": "/queue/jobs", "reply-to": "/temp-queue/mine"}, "job")
    reply_to = worker.expect("MESSAGE").headers[b"reply-to"].decode()
    worker.send_frame("SEND", {"destination": reply_to}, "done")
    reply = requester.expect("MESSAGE")
    assert (reply.body, reply.headers[b"subscription"]) == (b"done", b"replies")
    requester.expect_nothing(0.1)  # no second, automatic subscription
    thief = connected(broker, raw_client)
    thief.send_frame("SUBSCRIBE", {"destination": reply_to, "id": "t"})
    thief.expect_error("temporary queue of another connection")


def test_a_reply_after_the_requester_left_is_dropped_without_an_error(broker, raw_client):
    requester = connected(broker, raw_client)
    worker = connected(broker, raw_client)
    worker.subscribe("/queue/slow", id="w")
    requester.send_frame("SEND", {"destination": "/queue/slow", "reply-to": "/temp-queue/r", "receipt": "s"}, "q")
    requester.expect_receipt("s")
    reply_to = worker.expect("MESSAGE").headers[b"reply-to"].decode()
    requester.send_frame("DISCONNECT", {"receipt": "bye"})
    requester.expect_receipt("bye")
    deadline = time.monotonic() + 5
    while reply_to.encode() in broker.call(lambda: set(broker.broker.destinations)) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.send_frame("SEND", {"destination": reply_to, "receipt": "late"}, "too late")
    worker.expect_receipt("late")
    assert broker.stats()["queues"]["temporary"] == 0


def test_a_bad_temp_queue_name_is_refused(broker, raw_client):
    client = connected(broker, raw_client)
    client.send_frame("SUBSCRIBE", {"destination": "/temp-queue/a/b", "id": "x"})
    client.expect_error("invalid temporary queue")


# -- figures ------------------------------------------------------------------------------------


def test_queue_figures_in_the_stats_and_the_plugin_totals(broker, raw_client):
    consumer = connected(broker, raw_client)
    consumer.subscribe("/queue/fig", id="f", ack="client-individual")
    producer = connected(broker, raw_client)
    send_all(producer, "/queue/fig", ["1", "2", "3"])
    frames = consumer.messages(3)
    consumer.send_frame("ACK", {"id": frames[0].headers[b"ack"].decode()})
    consumer.send_frame("NACK", {"id": frames[1].headers[b"ack"].decode(), "receipt": "n"})
    consumer.expect("MESSAGE")  # the redelivery, before the NACK's receipt
    consumer.expect_receipt("n")
    send_all(producer, "/queue/idle", ["waiting"])
    stats = broker.stats()
    figures = next(d for d in stats["destinations"] if d["dest"] == "/queue/fig")
    assert {key: figures[key] for key in ("type", "sz", "q", "Σ", "delivered", "in_flight", "acked", "nacked",
                                          "redelivered", "expired", "dead_lettered", "consumers")} == {
        "type": "queue", "sz": 1, "q": 0, "Σ": 3, "delivered": 4, "in_flight": 2, "acked": 1, "nacked": 1,
        "redelivered": 1, "expired": 0, "dead_lettered": 0, "consumers": 1,
    }
    totals = stats["queues"]
    assert (totals["queues"], totals["depth"], totals["in_flight"], totals["enqueued"]) == (2, 1, 2, 4)
