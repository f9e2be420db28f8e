"""asyncio and uvloop without OpenSSL: ``ssl`` is imported only when something needs it.

Why: CPython's asyncio (``base_events``, ``selector_events``, ``sslproto``) and uvloop import
``ssl`` when they are imported, and ``ssl`` maps OpenSSL: about 5 MB of resident memory (4.7
of them OpenSSL, counting the ``hashlib`` the core no longer imports either) in a broker that
has no TLS listener. Only the ``xtomp`` command does this (:func:`import_asyncio_without_ssl`,
before it reads the configuration); a program that embeds xtomp keeps its own imports.

asyncio: it is imported while ``sys.modules["ssl"]`` is ``None``, so those three modules take
the branch they have for a Python built without ssl (``ssl = None``; nothing else differs). A
finder at the head of ``sys.meta_path`` then waits for the first ``import ssl``, whoever makes
it (the ``tls`` transport, the ``wss`` one, a plugin, a library): it lets the normal import
run, then gives those three modules the real module and sets ``sslproto.SSLAgainErrors``,
which is exactly the state a normal ``import asyncio`` leaves, and removes itself.

uvloop (Cython) copies ``ssl.SSLContext``, ``MemoryBIO``, the SSL exceptions and three error
numbers into C globals when it is imported; nothing can change them later. So
:func:`import_uvloop` gives it the real ``ssl`` whenever ``ssl`` is already imported, which is
the case whenever a ``tls://`` or ``wss://`` listener is configured (preparing the listeners
loads their certificates before the event loop exists) or a plugin imported ssl while it was
configured. Otherwise uvloop gets :class:`_NoSslForUvloop`, whose every way into TLS (the
``SSLContext`` check of ``create_server``/``start_tls``, the ``MemoryBIO`` every TLS
connection starts with, the default client context) raises :class:`SslNotLoaded` saying
why, rather than leaving a loop whose TLS half works. A reload cannot add a listener (that
needs a restart), so the broker's own listeners never meet it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

# The finder and loader below are duck-typed: importlib.abc imports importlib.resources,
# tempfile and random, 1 MB of resident memory for two base classes.
if TYPE_CHECKING:
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

__all__ = ["SslNotLoaded", "import_asyncio_without_ssl", "import_uvloop"]

#: The asyncio modules that bind ``ssl`` when imported (CPython 3.9 to 3.13).
ASYNCIO_SSL_MODULES = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


class SslNotLoaded(RuntimeError):
    """TLS asked of a uvloop loop that was imported without ssl."""

    def __init__(self) -> None:
        super().__init__(
            "uvloop was imported without ssl because nothing needed TLS when the event loop was "
            "created (no tls:// or wss:// listener): a plugin that opens TLS connections must import "
            "ssl while it is configured, or run xtomp with XTOMP_NO_UVLOOP=1"
        )


def import_asyncio_without_ssl() -> bool:
    """Import asyncio with ``ssl`` out of reach and arm the finder that hands it over on the
    first ``import ssl``. True when done; False (nothing changed) when asyncio or ssl was
    already imported."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # "import ssl" raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    sys.meta_path.insert(0, _SslArrival())
    return True


def import_uvloop() -> ModuleType:
    """``import uvloop`` (ImportError when it is not installed); with the real ssl if it is
    imported already, with :class:`_NoSslForUvloop` otherwise (see the module docstring)."""
    if "uvloop" in sys.modules or "ssl" in sys.modules or not _armed():
        import uvloop

        return uvloop
    sys.modules["ssl"] = _NoSslForUvloop("ssl")
    try:
        import uvloop
    finally:
        del sys.modules["ssl"]
    return uvloop


def _armed() -> bool:
    return any(isinstance(finder, _SslArrival) for finder in sys.meta_path)


def give_asyncio_ssl(ssl: ModuleType) -> None:
    """Put asyncio in the state ``import asyncio`` leaves when ssl is importable."""
    for name in ASYNCIO_SSL_MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", None) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]


class _SslArrival:
    """Finds nothing itself: on the first ``import ssl`` it wraps the real loader so that
    asyncio gets the module once it is executed, and then leaves ``sys.meta_path`` (not
    before: an import that failed leaves it waiting for the next one)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "ssl":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec: ModuleSpec | None = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenGiveAsyncio(spec.loader, self)  # type: ignore[assignment]  # duck-typed
                return spec
        return None  # a Python without ssl: asyncio stays as it is


class _ThenGiveAsyncio:
    def __init__(self, loader: Loader, finder: _SslArrival) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader (tracebacks and inspect read its source through it).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        give_asyncio_ssl(module)
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)


class _Refuses(type):
    """The metaclass of the stand-in ``SSLContext``: uvloop's ``isinstance`` checks raise."""

    def __instancecheck__(cls, instance: Any) -> bool:
        raise SslNotLoaded()


class _NoSslContext(metaclass=_Refuses):
    pass


class _NoSslError(OSError):
    """Never raised: uvloop only names these in ``except`` clauses of its TLS protocol, which
    cannot start without a MemoryBIO."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise SslNotLoaded()


class _NoSslForUvloop(ModuleType):
    """What uvloop reads from ``ssl`` at import (uvloop/includes/stdlib.pxi), none of it OpenSSL."""

    SSLContext = _NoSslContext
    MemoryBIO = staticmethod(_refuse)
    create_default_context = staticmethod(_refuse)
    SSLError = _NoSslError
    SSLWantReadError = _NoSslError
    SSLSyscallError = _NoSslError
    SSLZeroReturnError = _NoSslError
    CertificateError = _NoSslError
    # OpenSSL's SSL_ERROR_* numbers, the same in every version (ssl.h).
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_WANT_WRITE = 3
    SSL_ERROR_SYSCALL = 5
