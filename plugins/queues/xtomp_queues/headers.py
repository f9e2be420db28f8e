"""The SEND headers a queue looks at for every message: ``priority``, ``expires`` and ``expiration``.

They live apart from :mod:`.priority` and :mod:`.expiry` so that a queue can check for them
without importing either: those are imported by the first message that uses one.
"""

__all__ = ["PRIORITY", "DEFAULT_VALUE", "EXPIRES", "EXPIRATION"]

#: The SEND header (JMSPriority; RabbitMQ's STOMP adapter maps it to the AMQP priority property).
PRIORITY = b"priority"
#: JMS's default priority as the header writes it.
DEFAULT_VALUE = b"4"
#: ActiveMQ's header: the absolute expiry time in milliseconds since the epoch (0 = never).
EXPIRES = b"expires"
#: RabbitMQ's header: a time to live in milliseconds from now.
EXPIRATION = b"expiration"
