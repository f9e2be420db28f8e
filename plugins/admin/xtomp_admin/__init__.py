"""Observability for xtomp: /health, /stats (JSON), /metrics (Prometheus), a live web console, ``xtomp status``.

The broker imports :mod:`xtomp_admin.plugin` (the entry point) only when ``[plugins.admin]``
is in its configuration; ``xtomp status`` imports :mod:`xtomp_admin.status` alone, which
needs no event loop. This package module imports nothing, so neither pays for the other.
"""
