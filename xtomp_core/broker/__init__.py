"""Broker logic independent of any transport: sessions, destinations, subscriptions, routing, auth."""

from .broker import Broker, Limits
from .destination import Destination
from .message import Message
from .routing import SubscriberIndex
from .session import Session
from .subscription import Subscription

__all__ = ["Broker", "Destination", "Limits", "Message", "Session", "SubscriberIndex", "Subscription"]
