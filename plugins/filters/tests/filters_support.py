"""Constants shared by the filters plugin's test modules (a plain module: conftest is not importable)."""

from __future__ import annotations

from xtomp_testing import BASE_CONFIG

#: The test broker's config: topics under /topic/ and the filters plugin with both engines.
FILTERS_BASE = BASE_CONFIG + "\n[plugins.filters]\n"
