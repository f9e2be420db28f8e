"""max_memory: message bytes held (queues, write buffers) are counted; above the ceiling producers pause,
consumers keep draining, new connections are still served, and the figures say so."""

from __future__ import annotations


import pytest

from xtomp_core import ConfigError
from xtomp_testing import InMemoryBroker, RawClient, check_config, unread_subscriber, wait_until

QUEUE = '[plugins.queues]\n[destinations."/queue/*"]\ntype = "queue"\nmax_messages = 100000\nmax_message_size = "1m"\n'
KIB = 1024


def test_a_queue_over_the_ceiling_pauses_its_producers_and_consumers_drain_it():
    server = '[server]\nmax_memory = "1m"\nwrite_buffer_max = "1m"\nwrite_buffer_high = "256k"\n'
    with InMemoryBroker(server + QUEUE) as memory:
        producer, other = memory.client(), memory.client()
        body = "x" * (100 * KIB)
        for index in range(10):
            producer.send("SEND", {"destination": "/queue/q"}, body)
        assert producer.link.reading and not memory.stats()["memory"]["over"]
        producer.send("SEND", {"destination": "/queue/q", "receipt": "eleventh"}, body)  # 1.1 MB held
        figures = memory.stats()["memory"]
        assert figures["over"] and figures["held"] == 11 * 100 * KIB and figures["paused_producers"] == 1
        assert producer.frames()[0].headers[b"receipt-id"] == b"eleventh"  # accepted, then held
        assert not producer.link.reading and producer.session.held
        producer.send("SEND", {"destination": "/queue/q"}, "waits")  # read already: handled after the release
        other.send("SEND", {"destination": "/queue/elsewhere"}, "a producer elsewhere is paused too")
        assert other.session.held
        newcomer = memory.client()  # new connections are still served
        newcomer.subscribe("/queue/q", ack="client-individual", prefetch_count="2")
        delivered = newcomer.frames()
        assert len(delivered) == 2
        for _ in range(2):  # ACKs flow while producers are held: a consumer drains below 80 %
            for message in delivered:
                newcomer.send("ACK", {"id": message.headers[b"ack"].decode()})
            delivered = newcomer.frames()
        assert memory.stats()["memory"]["held"] < 0.8 * (1 << 20)
        assert not producer.session.held and not other.session.held and producer.link.reading
        assert memory.destination("/queue/q").stats()["Σ"] == 12  # the waiting SEND went in after release


def test_write_buffers_count_too_over_real_sockets(xtomp_factory):
    """Readers that stop reading (drop policy: they never slow the topic) fill their write buffers
    until the total crosses max_memory; then the producer pauses, a new client is still served,
    and when the dead readers go, their buffers are uncounted and the producer resumes."""
    broker = xtomp_factory(
        '[server]\nmax_memory = "1m"\nwrite_buffer_high = "128k"\nwrite_buffer_low = "32k"\nwrite_buffer_max = "1m"\n'
        '[destinations."/topic/wide"]\ntype = "topic"\nslow_consumer = "drop"\n'
    )
    readers = [unread_subscriber(broker.host, broker.port, "/topic/wide") for _ in range(12)]
    publisher = RawClient(broker.host, broker.port, timeout=20)
    publisher.connect()
    wait_until(lambda: broker.call(lambda: broker.broker.destinations[b"/topic/wide"].subscriber_count) == 12,
               what="twelve subscribers")
    body = b"y" * (64 * KIB)
    sent = 0

    def memory():
        return broker.call(lambda: broker.broker.stats()["memory"])

    while not memory()["over"] and sent < 200:
        publisher.send(b"SEND\ndestination:/topic/wide\ncontent-length:%d\nreceipt:%d\n\n%s\x00" % (len(body), sent, body))
        publisher.expect_receipt(str(sent))
        sent += 1
    assert memory()["over"] and memory()["held"] > 1 << 20
    # the next SEND is accepted, and its producer held: what follows is not read
    publisher.send_frame("SEND", {"destination": "/topic/elsewhere", "receipt": "accepted"}, "z")
    publisher.expect_receipt("accepted")
    assert memory()["paused_producers"] == 1
    with RawClient(broker.host, broker.port) as newcomer:  # still served
        assert newcomer.connect().command == b"CONNECTED"
    publisher.send_frame("SEND", {"destination": "/topic/elsewhere", "receipt": "held"}, "z")
    publisher.expect_nothing(0.3)  # not read while over
    for reader in readers:
        reader.close()
    publisher.expect_receipt("held")  # the dead readers' buffers went: below the ceiling again
    after = memory()
    assert not after["over"] and after["held"] < (1 << 20) * 0.8 and after["producer_pauses"] == 1


def test_limits_that_contradict_each_other_are_config_errors():
    with pytest.raises(ConfigError, match=r'destination_defaults\.max_message_size: "8m" is larger than '
                                          r'server\.max_frame_size \("4m"\): a SEND that large is refused'):
        check_config('[destination_defaults]\nmax_message_size = "8m"\n[server]\nwrite_buffer_max = "16m"\n')
    with pytest.raises(ConfigError, match=r'destinations\."big"\.max_message_size: "2m" is larger than '
                                          r'server\.write_buffer_max \("1m"\): one such message would close'):
        check_config('[server]\nwrite_buffer_max = "1m"\nwrite_buffer_high = "512k"\n'
                     '[destination_defaults]\nmax_message_size = "512k"\n[destinations."big"]\nmax_message_size = "2m"\n')
    with pytest.raises(ConfigError, match=r"server\.max_memory: write_buffer_max = .* is larger than max_memory"):
        check_config('[server]\nmax_memory = "4m"\n')


def test_show_config_states_the_worst_case(tmp_path):
    import subprocess
    import sys

    from xtomp_testing import write_config

    directory = write_config(tmp_path, '[server]\nconnection_limit = 100\nmax_memory = "64m"\n' + QUEUE)
    result = subprocess.run([sys.executable, "-m", "xtomp_core", "--show-config", "-c", str(directory)],
                            capture_output=True, text=True, check=True)
    assert "# worst case the limits allow" in result.stdout
    assert "#   connections: 100 (connection_limit) x 12.0 MiB" in result.stdout
    assert "#   each queue /queue/*: 100,000 x 1.0 MiB" in result.stdout
    assert "#   max_memory: 64.0 MiB of message data" in result.stdout


def test_protected_mode_refuses_remote_clients_without_an_authenticator():
    from xtomp_testing import FakeLink

    with InMemoryBroker() as memory:
        local = memory.client()  # 127.0.0.1
        assert local.session.connected
        remote = memory.client(version=None, link=FakeLink(peer_host="192.0.2.7"))
        answer = remote.connect()
        assert answer.command == b"ERROR"
        assert answer.headers[b"message"].startswith(b"auth err - protected mode: this broker has no authenticator")
        mapped = memory.client(version=None, link=FakeLink(peer_host="::ffff:127.0.0.1"))
        assert mapped.connect().command == b"CONNECTED"
    with InMemoryBroker("[server]\nprotected_mode = false\n") as memory:
        remote = memory.client(version=None, link=FakeLink(peer_host="192.0.2.7"))
        assert remote.connect().command == b"CONNECTED"
    with InMemoryBroker('[server]\nlogin = "a"\npasscode = "b"\n') as memory:  # an authenticator: it decides
        remote = memory.client(version=None, link=FakeLink(peer_host="192.0.2.7"))
        assert remote.connect(headers={"login": "a", "passcode": "b"}).command == b"CONNECTED"
