"""What WebSocket framing costs on the broker's hot paths: websockets vs wsproto vs a hand-written header.

    .venv/bin/python plugins/websocket/bench/framing.py

* **out** (fan-out, the hot path): one MESSAGE (a per-subscription prefix + a shared 100-byte
  tail) written to N subscribers as one WebSocket text message each, then joined once per
  connection flush, as the broker does. Library senders need the payload as one object, so
  they concatenate (and copy) prefix + tail per subscriber; the hand-written header
  (xtomp_websocket.framing.HeaderCache, as WebSocketFraming.header uses it) is 2-10
  bytes memoized per payload length, and the shared tail is never copied.
* **in**: masked client frames (a 150-byte SEND each) parsed by each library, in batches
  of 100 frames per ``receive_data`` (a publisher's burst) and one frame per call.

Prints nanoseconds per delivery / per frame. No assertion: figures for the README.
"""

from __future__ import annotations

import sys
import time

from websockets.frames import TEXT, Frame
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as WsprotoConnection
from wsproto.events import BytesMessage, TextMessage
from xtomp_websocket.framing import FIN_TEXT, HeaderCache

PREFIX = b"MESSAGE\nsubscription:sub-7\n"
TAIL = b"destination:/topic/bench\nmessage-id:123456\ncontent-length:100\n\n" + b"x" * 100 + b"\x00"
ROUNDS = 200_000

HEADERS = HeaderCache(FIN_TEXT)  # what WebSocketFraming.header uses


def per_op(function, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        function(rounds)
        best = min(best, (time.perf_counter_ns() - started) / rounds)
    return best


def out_plain_tcp(rounds: int) -> None:
    """The TCP baseline: append prefix and tail, join per 100 deliveries."""
    out: list[bytes] = []
    for index in range(rounds):
        out.append(PREFIX)
        out.append(TAIL)
        if index % 100 == 99:
            b"".join(out)
            out.clear()


def out_hand_written(rounds: int) -> None:
    out: list[bytes] = []
    headers = HEADERS
    for index in range(rounds):
        length = len(PREFIX) + len(TAIL)
        out += (headers.get(length) or headers.miss(length), PREFIX, TAIL)
        if index % 100 == 99:
            b"".join(out)
            out.clear()


def out_websockets(rounds: int) -> None:
    protocol = ServerProtocol(state=OPEN)
    for index in range(rounds):
        protocol.send_text(PREFIX + TAIL)
        if index % 100 == 99:
            b"".join(protocol.data_to_send())


def out_wsproto(rounds: int) -> None:
    connection = WsprotoConnection(ConnectionType.SERVER)
    out: list[bytes] = []
    for index in range(rounds):
        out.append(connection.send(BytesMessage(data=PREFIX + TAIL)))
        if index % 100 == 99:
            b"".join(out)
            out.clear()


def masked(payload: bytes) -> bytes:
    frame = Frame(TEXT, payload)
    return frame.serialize(mask=True)


SEND = b"SEND\ndestination:/topic/bench\ncontent-length:100\nseq:1:2\n\n" + b"y" * 100 + b"\x00"


def in_websockets(frames: int, batch: int) -> None:
    protocol = ServerProtocol(state=OPEN, max_size=1 << 20)
    chunk = masked(SEND) * batch
    for _ in range(frames // batch):
        protocol.receive_data(chunk)
        for event in protocol.events_received():
            event.data  # noqa: B018 - the payload the STOMP parser would get
        protocol.data_to_send()


def in_wsproto(frames: int, batch: int) -> None:
    connection = WsprotoConnection(ConnectionType.SERVER)
    chunk = masked(SEND) * batch
    for _ in range(frames // batch):
        connection.receive_data(chunk)
        for event in connection.events():
            data = event.data
            if isinstance(event, TextMessage):
                data.encode()  # wsproto decodes text to str; the STOMP parser wants bytes


def main() -> int:
    print(f"python {sys.version.split()[0]}; payload out {len(PREFIX) + len(TAIL)} B, in {len(SEND)} B")
    print("fan-out, ns per delivery (queue the WS message + share of the join per 100):")
    for name, function in [
        ("plain TCP (no framing)", out_plain_tcp),
        ("hand-written header", out_hand_written),
        ("websockets send_text", out_websockets),
        ("wsproto send", out_wsproto),
    ]:
        print(f"  {name:26} {per_op(function, ROUNDS):8.0f}")
    print("input, ns per masked client frame:")
    for name, function in [("websockets", in_websockets), ("wsproto", in_wsproto)]:
        for batch in (100, 1):
            cost = per_op(lambda rounds: function(rounds, batch), 50_000)
            print(f"  {name:12} {batch:3} frames per read {cost:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
