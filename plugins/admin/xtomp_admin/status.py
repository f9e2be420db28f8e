"""``xtomp status``: the admin endpoint's /stats as a table on the terminal.

An entry point of group ``xtomp.commands``: ``xtomp status`` finds the admin address in
the configuration (``[plugins.admin] listen``), fetches ``/stats`` and prints the figures the
console shows. It talks HTTP to the running broker rather than loading it, so it needs
no event loop and works against a broker started with any configuration tool.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "format_status", "admin_url"]

DEFAULT_LISTEN = "127.0.0.1:15680"  # as xtomp_admin.admin.DEFAULT_LISTEN, without importing asyncio

_COLUMNS = [
    ("dest", "destination"),
    ("type", "type"),
    ("sz", "subs"),
    ("q", "depth"),
    ("rate_in", "in/s"),
    ("rate_out", "out/s"),
    ("Σ", "accepted"),
    ("delivered", "delivered"),
    ("dropped", "dropped"),
]
_KNOWN = {key for key, _ in _COLUMNS}
_SKIPPED_TOP = {"cc", "broker", "destinations", "rates"}


class StatusError(Exception):
    """What to print instead of the table."""


def admin_url(config_path: str) -> str:
    """``http://HOST:PORT`` of the admin endpoint the configuration at ``config_path`` declares."""
    from xtomp_core import ConfigError, parse_listen, read_config

    try:
        raw = read_config(config_path)
    except ConfigError as error:
        raise StatusError(f"configuration error:\n{error}") from None
    plugins = raw.data.get("plugins", {})
    table = plugins.get("admin") if isinstance(plugins, dict) else None
    if not isinstance(table, dict):
        raise StatusError(
            f"the admin plugin is not enabled in {config_path}: add a [plugins.admin] table "
            "(conf.d/50-admin.toml), restart the broker, or give --url"
        )
    listen = table.get("listen", DEFAULT_LISTEN)
    try:
        address = parse_listen(str(listen))
    except ValueError as problem:
        raise StatusError(f"plugins.admin.listen: {problem}") from None
    host = address.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{address.port}"


def fetch(url: str, timeout: float) -> dict[str, Any]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise StatusError(f"{url}: expected http://HOST:PORT")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path.rstrip("/") + "/stats", headers={"Host": "localhost"})
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise StatusError(f"cannot reach the admin endpoint at {url}: {reason} (is the broker running?)") from None
    finally:
        connection.close()
    if response.status != 200:
        raise StatusError(f"{url}/stats answered {response.status} {response.reason}")
    figures = json.loads(body)
    if not isinstance(figures, dict):
        raise StatusError(f"{url}/stats did not answer with a JSON object")
    return figures


# -- formatting -------------------------------------------------------------------------------


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "-"


def _rate(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _bytes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return "-"  # pragma: no cover


def _duration(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    seconds = int(value)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def _cell(key: str, value: Any) -> str:
    if key in ("dest", "type"):
        return str(value) if value is not None else "-"
    if key.startswith("rate_"):
        return _rate(value)
    if isinstance(value, float):
        return _rate(value)
    return _int(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, (int, float)):
        out.append((prefix, value))


def format_status(stats: dict[str, Any], url: str = "") -> str:
    """The figures as lines of text: a summary, the destinations table, plugin figures."""
    broker = stats.get("broker", {})
    destinations = list(stats.get("destinations", []))
    transports = ", ".join(f"{name} {count}" for name, count in sorted(broker.get("transports", {}).items()))
    cpu_user, cpu_system = broker.get("cpu_user", 0.0), broker.get("cpu_system", 0.0)
    window = stats.get("rates", {}).get("window")
    lines = [
        f"xtomp {broker.get('version', '?')}  up {_duration(broker.get('uptime'))}  {url}".rstrip(),
        f"connections  {_int(broker.get('connections'))}" + (f" ({transports})" if transports else "")
        + f"   sessions {_int(broker.get('sessions'))}   accepted {_int(broker.get('connections_accepted'))}",
        f"messages     {_int(broker.get('messages'))} accepted   in {_rate(broker.get('rate_in'))}/s"
        f"   out {_rate(broker.get('rate_out'))}/s" + (f"   (over {window:g}s)" if window else ""),
        f"memory       {_bytes(broker.get('rss'))} resident   cpu {cpu_user + cpu_system:.2f}s"
        f" (user {cpu_user:.2f}s, system {cpu_system:.2f}s)",
        "",
    ]
    extra = sorted({
        key for d in destinations for key, value in d.items()
        if key not in _KNOWN and isinstance(value, (int, float)) and not isinstance(value, bool)
    })
    columns = _COLUMNS + [(key, key) for key in extra]
    if destinations:
        destinations.sort(key=lambda d: str(d.get("dest", "")))
        rows = [[heading for _, heading in columns]]
        rows += [[_cell(key, d.get(key)) for key, _ in columns] for d in destinations]
        widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
        for row in rows:
            cells = [
                text.ljust(width) if index < 2 else text.rjust(width)
                for index, (text, width) in enumerate(zip(row, widths))
            ]
            lines.append("  ".join(cells).rstrip())
    else:
        lines.append("no destinations")
    figures: list[tuple[str, Any]] = []
    for key, value in stats.items():
        if key not in _SKIPPED_TOP:
            _flatten(key, value, figures)
    if figures:
        width = max(len(name) for name, _ in figures)
        lines += ["", "plugin figures"]
        lines += [f"  {name.ljust(width)}  {_rate(value) if isinstance(value, float) else _int(value)}"
                  for name, value in figures]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from xtomp_core import default_config_path

    parser = argparse.ArgumentParser(
        prog="xtomp status",
        description="Print a running broker's figures (from the admin plugin's /stats) as a table.",
    )
    parser.add_argument(
        "-c", "--config", default=default_config_path(), metavar="PATH",
        help="the broker's configuration, to find [plugins.admin] listen (default: %(default)s)",
    )
    parser.add_argument("--url", help="the admin endpoint, e.g. http://127.0.0.1:15680 (instead of the config)")
    parser.add_argument("--json", action="store_true", help="print /stats as JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the broker (default: 5)")
    args = parser.parse_args(argv)
    try:
        url = args.url.rstrip("/") if args.url else admin_url(args.config)
        stats = fetch(url, args.timeout)
        if stats.get("rates", {}).get("window") is None:
            # Nobody asked within the last second: ask again to have rates to show.
            time.sleep(1.0)
            stats = fetch(url, args.timeout)
    except StatusError as error:
        print(f"xtomp status: {error}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(stats, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(format_status(stats, url))
    return 0
