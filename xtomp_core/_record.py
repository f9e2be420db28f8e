"""``@record``: what ``@dataclass`` gives a value class (eq, hash, repr, frozen), without importing it (public: ``xtomp_core.record``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["record", "FrozenInstanceError"]

# Why not dataclasses: the module and the code it compiles for each class cost an idle broker
# 0.3 MB (bench/RESULTS.md, "Where the idle memory goes"). Each class writes its own __init__
# (the signature the public API snapshot and mypy read); these generic methods do the rest as
# dataclasses does: compare and hash the fields as a tuple, show them as Name(field=value, ...).

C = TypeVar("C", bound=type)


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


def _frozen_setattr(self: object, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def record(*, frozen: bool = False, fields: tuple[str, ...] = (), hidden: tuple[str, ...] = ()) -> Callable[[C], C]:
    """Give the class ``__eq__`` over its fields (its ``__slots__``, else ``fields``), a
    ``__repr__`` of them (without ``hidden``), and when ``frozen``, ``__hash__`` over them and
    no assignment (its ``__init__`` sets fields with ``object.__setattr__``); not frozen, it
    is unhashable, as a dataclass is."""

    def decorate(cls: C) -> C:
        names: tuple[str, ...] = fields or tuple(cls.__dict__["__slots__"])
        shown = tuple(name for name in names if name not in hidden)

        def values(self: object) -> tuple[Any, ...]:
            return tuple([getattr(self, name) for name in names])

        def __eq__(self: object, other: object) -> bool:
            if other.__class__ is self.__class__:
                return values(self) == values(other)
            return NotImplemented

        def __repr__(self: object) -> str:
            parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{self.__class__.__qualname__}({parts})"

        def __hash__(self: object) -> int:
            return hash(values(self))

        # The __init__'s return annotation as dataclasses gives it (None, not the string
        # 'None' of postponed annotations): inspect.signature shows the same signature.
        if "__init__" in cls.__dict__:
            cls.__dict__["__init__"].__annotations__["return"] = None
        for method in (__eq__, __repr__, __hash__):
            method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        cls.__eq__ = __eq__  # type: ignore[assignment]
        cls.__repr__ = __repr__  # type: ignore[assignment]
        if frozen:
            cls.__hash__ = __hash__  # type: ignore[assignment]
            cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
            cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
        return cls

    return decorate
