"""The merged configuration tables before validation, and where each key came from.

Both readers produce it: the TOML loader (:mod:`.loader`) and the translator of xtomp's
nginx-style files (:mod:`.nginx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RawConfig", "KeyPath", "MAX_INCLUDE_DEPTH"]

MAX_INCLUDE_DEPTH = 8
KeyPath = tuple[str, ...]


@dataclass
class RawConfig:
    """The merged TOML tables, before validation, and which file set each key."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[KeyPath, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def origin(self, path: KeyPath) -> str:
        return self.origins.get(path, "?")
