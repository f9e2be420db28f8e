"""The merged configuration tables before validation, and where each key came from.

Both readers produce it: the TOML loader (:mod:`.loader`) and the translator of xtomp's
nginx-style files (:mod:`.nginx`).
"""

from __future__ import annotations

from typing import Any

from .._record import record

__all__ = ["RawConfig", "KeyPath", "MAX_INCLUDE_DEPTH"]

MAX_INCLUDE_DEPTH = 8
KeyPath = tuple[str, ...]


@record()
class RawConfig:
    """The merged TOML tables, before validation, and which file set each key."""

    __slots__ = ("data", "origins", "files")
    data: dict[str, Any]
    origins: dict[KeyPath, str]
    files: list[str]

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        origins: dict[KeyPath, str] | None = None,
        files: list[str] | None = None,
    ) -> None:
        self.data = {} if data is None else data
        self.origins = {} if origins is None else origins
        self.files = [] if files is None else files

    def origin(self, path: KeyPath) -> str:
        return self.origins.get(path, "?")
