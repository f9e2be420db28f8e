"""xtomp-cluster: several xtomp brokers behave as one through a shared backplane (Redis)."""

from .backplane import Backplane, Callback, backplane_of

__all__ = ["Backplane", "Callback", "backplane_of"]
