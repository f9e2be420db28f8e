"""Encoding of server frames: CONNECTED, RECEIPT, ERROR, and MESSAGE as prefix + shared tail.

A MESSAGE is built in two parts so that fan-out encodes once: the *prefix* (command and
``subscription``, plus ``ack`` or redelivery headers when a delivery needs them) is made
per subscription, and the *tail* (``destination``, ``message-id``, user headers,
``content-length``, blank line, body, NUL) once per message and shared by every
subscriber with the same escaping rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from .constants import (
    CONNECTED,
    ERROR,
    H_CONTENT_LENGTH,
    H_CONTENT_TYPE,
    H_HEART_BEAT,
    H_MESSAGE,
    H_RECEIPT_ID,
    H_SERVER,
    H_SESSION,
    H_VERSION,
    RECEIPT,
    VERSION_TEXT,
)
from .escape import escape

Headers = Iterable[tuple[bytes, bytes]]


def encode_frame(command: bytes, headers: Headers, body: bytes = b"", version: int = 12) -> bytes:
    """Encode any frame; header names and values are escaped per ``version``.

    ``content-length`` is added whenever there is a body.
    """
    parts = [command, b"\n"]
    for name, value in headers:
        parts += (escape(name, version), b":", escape(value, version), b"\n")
    if body:
        parts += (H_CONTENT_LENGTH, b":", str(len(body)).encode(), b"\n")
    parts += (b"\n", body, b"\x00")
    return b"".join(parts)


def connected_frame(version: int, server: bytes, session: bytes, heart_beat: tuple[int, int]) -> bytes:
    """CONNECTED is never escaped (STOMP 1.2 "Value Encoding")."""
    send, receive = heart_beat
    return b"".join(
        (
            CONNECTED,
            b"\n",
            H_VERSION, b":", VERSION_TEXT[version], b"\n",
            H_SERVER, b":", server, b"\n",
            H_SESSION, b":", session, b"\n",
            H_HEART_BEAT, b":", b"%d,%d" % (send, receive), b"\n",
            b"\n\x00",
        )
    )


def receipt_frame(receipt_id: bytes, version: int) -> bytes:
    return b"".join((RECEIPT, b"\n", H_RECEIPT_ID, b":", escape(receipt_id, version), b"\n\n\x00"))


def error_frame(
    message: str,
    version: int,
    receipt_id: bytes | None = None,
    extra: Headers = (),
    body: bytes = b"",
) -> bytes:
    headers: list[tuple[bytes, bytes]] = [(H_MESSAGE, message.encode("utf-8", "replace"))]
    if receipt_id is not None:
        headers.append((H_RECEIPT_ID, receipt_id))
    headers.extend(extra)
    if body:
        headers.append((H_CONTENT_TYPE, b"text/plain"))
    return encode_frame(ERROR, headers, body, version)


def message_prefix(subscription_id: bytes, version: int) -> bytes:
    """The per-subscription start of every MESSAGE frame."""
    return b"MESSAGE\nsubscription:" + escape(subscription_id, version) + b"\n"


def message_tail(
    destination: bytes,
    message_id: bytes,
    headers: Headers,
    body: bytes,
    version: int,
) -> bytes:
    """The shared rest of a MESSAGE frame after the prefix."""
    parts = [b"destination:", escape(destination, version), b"\nmessage-id:", message_id, b"\n"]
    for name, value in headers:
        parts += (escape(name, version), b":", escape(value, version), b"\n")
    parts += (b"content-length:", str(len(body)).encode(), b"\n\n", body, b"\x00")
    return b"".join(parts)
