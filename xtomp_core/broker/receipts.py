"""Deferred RECEIPTs: a frame's RECEIPT waits until what a destination started for it is confirmed.

Theory of operation
-------------------
While a frame with a ``receipt`` header is handled, :meth:`Session.defer_receipt` may be
called (by a destination, usually from ``publish`` or ``subscribe``): the first call turns
the frame's receipt into a :class:`PendingReceipt`, and each call returns one
:class:`Confirmation`. When the handler returns with confirmations outstanding, the pending
receipt *holds* the session exactly as flow control does (``Session.hold``): the client's
later frames wait, read or unread, so its receipts stay in order (a DISCONNECT's RECEIPT
comes after those of the SENDs before it). The last confirmation writes the RECEIPT, runs
what had to follow it (a SUBSCRIBE's ``started``) and releases the session; a confirmation
given an error instead sends one ERROR echoing the receipt and closes the session. A
confirmation called again, or after the session ended, does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..errors import XtompError

__all__ = ["PendingReceipt", "Confirmation"]


class Owner(Protocol):
    """What a pending receipt uses of its session (session.py's Session)."""

    def hold(self, holder: object) -> None: ...

    def release(self, holder: object) -> None: ...

    def receipt_confirmed(self, receipt: bytes, after: Callable[[], None] | None) -> None: ...

    def receipt_failed(self, receipt: bytes, error: XtompError) -> None: ...


class PendingReceipt:
    """The RECEIPT of one frame, waiting for its confirmations (a holder of the session)."""

    __slots__ = ("session", "receipt", "waiting", "handled", "settled", "after")

    def __init__(self, session: Owner, receipt: bytes) -> None:
        self.session = session
        self.receipt = receipt
        #: Confirmations handed out and not called yet.
        self.waiting = 0
        #: The frame's handler has returned (no more confirmations can be asked for).
        self.handled = False
        #: Written, failed or abandoned: nothing more happens.
        self.settled = False
        #: What follows the RECEIPT (SUBSCRIBE: the destination's ``started``).
        self.after: Callable[[], None] | None = None

    def confirmation(self) -> Confirmation:
        self.waiting += 1
        return Confirmation(self)

    def handler_returned(self, after: Callable[[], None] | None) -> None:
        """The frame was handled: write the RECEIPT now if everything was confirmed meanwhile,
        else hold the session until it is."""
        self.handled = True
        self.after = after
        if self.settled:
            return
        if self.waiting == 0:
            self._write()
        else:
            self.session.hold(self)

    def abandon(self) -> None:
        """The handler failed: its ERROR (echoing the receipt) says it all."""
        self.settled = True

    def confirmed(self) -> None:
        self.waiting -= 1
        if self.waiting == 0 and self.handled and not self.settled:
            self._write()

    def failed(self, error: XtompError) -> None:
        if not self.settled:
            self.settled = True
            self.session.receipt_failed(self.receipt, error)

    def _write(self) -> None:
        self.settled = True
        after, self.after = self.after, None
        self.session.receipt_confirmed(self.receipt, after)
        self.session.release(self)


class Confirmation:
    """One confirmation a frame's RECEIPT waits for (see :meth:`Session.defer_receipt`)."""

    __slots__ = ("pending",)

    def __init__(self, pending: PendingReceipt) -> None:
        self.pending: PendingReceipt | None = pending

    def __call__(self, error: XtompError | None = None) -> None:
        pending = self.pending
        if pending is None:
            return  # called before: harmless
        self.pending = None
        if error is None:
            pending.confirmed()
        else:
            pending.failed(error)
