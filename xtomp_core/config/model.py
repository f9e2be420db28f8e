"""The frozen, validated configuration: sections of converted values that remember their origin."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .._record import record
from .directives import DirectiveSet

__all__ = ["Section", "Config", "DEFAULT_ORIGIN"]

DEFAULT_ORIGIN = "default"


class Section(Mapping[str, Any]):
    """The converted values of one table (``server``, a destination, a plugin's table).

    Every declared directive of the scope has a value (its default when unset), and
    ``origin(key)`` tells which file set it, or ``"default"``.
    """

    __slots__ = ("path", "file", "_values", "_origins")

    def __init__(self, path: str, values: dict[str, Any], origins: dict[str, str], file: str = DEFAULT_ORIGIN) -> None:
        self.path = path
        #: The file that declared this table ("default" when no file did).
        self.file = file
        self._values = values
        self._origins = origins

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, key: str) -> str:
        return self._origins.get(key, DEFAULT_ORIGIN)

    def where(self, key: str) -> str:
        """The file to cite for ``key``: where it was set, else where the table was declared."""
        origin = self.origin(key)
        return self.file if origin == DEFAULT_ORIGIN else origin

    def __repr__(self) -> str:
        return f"Section({self.path!r}, {self._values!r})"


class _Factory(dict):  # type: ignore[type-arg]
    """The default of ``Config.users``: a new dict per Config (shown as dataclasses showed it)."""

    def __repr__(self) -> str:
        return "<factory>"


_NO_USERS: Mapping[str, Section] = _Factory()


@record(frozen=True, hidden=("directives",))
class Config:
    """Everything the broker needs from the config files, validated and converted."""

    __slots__ = (
        "server",
        "destination_defaults",
        "destinations",
        "prefixes",
        "plugins",
        "files",
        "directives",
        "users",
    )
    server: Section
    destination_defaults: Section
    #: Destinations declared by exact name (xtomp style), already merged with the defaults.
    destinations: Mapping[str, Section]
    #: Prefix rules (``"/topic/*"`` in the file; stored without the star), longest first.
    prefixes: tuple[tuple[str, Section], ...]
    #: Enabled plugins (in file order) and their own settings.
    plugins: Mapping[str, Section]
    files: tuple[str, ...]
    directives: DirectiveSet
    #: ``[users."NAME"]`` tables: the users the authenticators know (password hash, groups).
    users: Mapping[str, Section]

    def __init__(
        self,
        server: Section,
        destination_defaults: Section,
        destinations: Mapping[str, Section],
        prefixes: tuple[tuple[str, Section], ...],
        plugins: Mapping[str, Section],
        files: tuple[str, ...],
        directives: DirectiveSet,
        users: Mapping[str, Section] = _NO_USERS,
    ) -> None:
        object.__setattr__(self, "server", server)
        object.__setattr__(self, "destination_defaults", destination_defaults)
        object.__setattr__(self, "destinations", destinations)
        object.__setattr__(self, "prefixes", prefixes)
        object.__setattr__(self, "plugins", plugins)
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "directives", directives)
        object.__setattr__(self, "users", {} if users is _NO_USERS else users)

    def destination_section(self, name: str) -> Section | None:
        """The settings for a destination name: exact match first, then the longest prefix."""
        section = self.destinations.get(name)
        if section is not None:
            return section
        for prefix, rule in self.prefixes:
            if name.startswith(prefix):
                return rule
        return None
