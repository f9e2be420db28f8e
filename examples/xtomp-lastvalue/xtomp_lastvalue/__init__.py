"""Example xtomp plugin: ``lastvalue``, a topic that keeps its newest message for late subscribers.

A last-value topic (MQTT's "retained message", a last-value cache) fans every message out
exactly like a topic and keeps the newest one, so that a subscriber arriving later gets the
current value right after its SUBSCRIBE instead of waiting for the next publish. It suits
state that changes now and then: a price, a feature flag, a service's status.

Enable it beside the topics plugin, whose ``Topic`` it extends::

    [plugins.topics]
    [plugins.lastvalue]

    [destinations."/status/*"]
    type = "lastvalue"
    lastvalue_max_size = "4k"     # bodies above this are delivered, but not kept

It shows:

* building on another plugin's public class (``xtomp_topics.Topic``) and saying so with
  ``xtomp_requires``, so that enabling this plugin without ``[plugins.topics]`` is a
  config error telling which table to add, not an obscure failure later;
* :meth:`Destination.started`, where a destination hands a new subscriber what it holds
  (after the SUBSCRIBE's RECEIPT), and :meth:`Subscription.deliver`, which sends one
  message to one subscriber;
* a per-destination directive and per-destination figures in ``stats()``.
"""

from __future__ import annotations

from typing import Any

from xtomp_core import (
    DESTINATION,
    DestinationContext,
    DirectiveSet,
    Message,
    Registrar,
    Section,
    Session,
    Subscription,
    hookimpl,
)
from xtomp_topics import Topic

__all__ = ["LastValueTopic"]

#: Checked when the configuration is loaded: LastValueTopic is a Topic, and the topics
#: plugin declares the ``slow_consumer`` directive Topic reads.
xtomp_requires = ["topics"]


class LastValueTopic(Topic):
    """A topic that retains its last message and delivers it to each new subscriber.

    Only the newest message is kept: publishing replaces it. Keeping the
    :class:`~xtomp_core.Message` object keeps its encoded tail as well, so handing it to a
    late subscriber encodes nothing again.
    """

    __slots__ = ("retained", "max_size", "oversize")

    type_name = "lastvalue"

    def __init__(self, name: bytes, settings: Section, context: DestinationContext) -> None:
        super().__init__(name, settings, context)
        self.retained: Message | None = None
        # Read once here: settings are frozen, and publish must not look them up per message.
        self.max_size: int = settings["lastvalue_max_size"]
        #: Messages delivered but not retained because of lastvalue_max_size.
        self.oversize = 0

    def publish(self, message: Message, sender: Session | None) -> None:
        # Everything a topic does (fan-out, the slow-consumer policy, the counters)...
        super().publish(message, sender)
        # ...then keep the message for whoever subscribes next.
        if self.max_size and len(message.body) > self.max_size:
            # Forget the older value too: a late subscriber must never be handed a value
            # that is known to be out of date.
            self.retained = None
            self.oversize += 1
        else:
            self.retained = message

    def started(self, subscription: Subscription) -> None:
        # Called once per SUBSCRIBE, after its RECEIPT is written and before the session
        # handles another frame: the retained message is the first MESSAGE the subscriber
        # sees, and no newer message can overtake it.
        retained = self.retained
        if retained is None:
            return
        # fan_out selects subscribers by their filters; one delivery by hand must ask the
        # filter itself, or a subscriber that asked for a subset would get anything.
        wanted = subscription.filter
        if wanted is not None and not wanted(retained.headers):
            return
        subscription.deliver(retained)  # adds the subscription and ack headers, per version
        self.delivered += 1

    @property
    def depth(self) -> int:
        # The retained message is held for later delivery: it shows as "q" in the figures,
        # and it keeps the destination from being "idle", so that a destination made by a
        # prefix rule is not removed (with its value) when max_destinations is reached.
        return 0 if self.retained is None else 1

    def stats(self) -> dict[str, Any]:
        figures = super().stats()
        figures["retained"] = self.depth
        # "_total": the admin plugin exports the key as a Prometheus counter.
        figures["oversize_total"] = self.oversize
        return figures


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    directives.declare(
        "lastvalue_max_size", "size", 0, DESTINATION,
        "Last-value topics: the largest body kept for late subscribers; a larger message is delivered to the "
        "current subscribers but not kept (and the older value is forgotten). 0: no limit beyond "
        "max_message_size.",
        minimum=0,
    )


@hookimpl
def xtomp_register_destination_types(registry: Registrar[Any]) -> None:
    registry.register("lastvalue", LastValueTopic)
