"""Rendering config for people: ``--show-config`` output and the generated directive reference."""

from __future__ import annotations

from .directives import DESTINATION, SERVER, USER, Directive, DirectiveSet
from .loader import key_path
from .model import Config, Section

__all__ = ["show_config", "directive_reference", "worst_case_memory"]


def _render_section(header: str, section: Section, declared: dict[str, Directive]) -> list[str]:
    lines = [header]
    width = 0
    rows = []
    for name, directive in declared.items():
        value = section[name]
        text = f"{name} = {directive.render(value)}"
        if value is None:
            text = f"# {name} (unset)"
        rows.append((text, section.origin(name)))
        width = max(width, len(text))
    lines += [f"{text:<{width}}  # {origin}" for text, origin in rows]
    return lines + [""]


def show_config(config: Config) -> str:
    """The effective configuration as TOML, each value commented with where it came from."""
    directives = config.directives
    out = [f"# effective configuration from: {', '.join(config.files)}", ""]
    out += _render_section("[server]", config.server, directives.scope(SERVER))
    out += _render_section("[destination_defaults]", config.destination_defaults, directives.scope(DESTINATION))
    for name, section in config.destinations.items():
        out += _render_section(f"[{key_path(('destinations', name))}]", section, directives.scope(DESTINATION))
    for prefix, section in config.prefixes:
        out += _render_section(f"[{key_path(('destinations', prefix + '*'))}]", section, directives.scope(DESTINATION))
    for user, section in config.users.items():
        out += _render_section(f"[{key_path(('users', user))}]", section, directives.scope(USER))
    for plugin, section in config.plugins.items():
        declared = directives.scope(f"plugins.{plugin}")
        out += _render_section(f"[{key_path(('plugins', plugin))}]", section, declared)
    return "\n".join(out).rstrip() + "\n"


def _size(value: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= factor:
            return f"{value / factor:,.1f} {unit}"
    return f"{value} bytes"


def worst_case_memory(config: Config, connection_limit: int, max_memory: int) -> str:
    """What the limits allow at worst, multiplied out, as TOML comments for ``--show-config``."""
    server = config.server
    per_connection = server["write_buffer_max"] + server["max_frame_size"]
    lines = [
        "",
        "# worst case the limits allow (what max_memory is there to stop):",
        f"#   connections: {connection_limit:,} (connection_limit) x {_size(per_connection)} "
        f"(write_buffer_max + max_frame_size of a partial frame) = {_size(connection_limit * per_connection)}",
    ]
    for name, section in config.destinations.items():
        if section["type"] == "queue" or section["min_delivery"]:
            size = section["max_messages"] * section["max_message_size"]
            lines.append(f"#   queue {name}: {section['max_messages']:,} x {_size(section['max_message_size'])} = {_size(size)}")
    for prefix, section in config.prefixes:
        if section["type"] == "queue" or section["min_delivery"]:
            size = section["max_messages"] * section["max_message_size"]
            lines.append(
                f"#   each queue {prefix}*: {section['max_messages']:,} x {_size(section['max_message_size'])} = "
                f"{_size(size)}, up to max_destinations ({server['max_destinations']:,}) of them"
            )
    lines.append(
        f"#   max_memory: {_size(max_memory)} of message data (queues and write buffers): above it every "
        "producer is paused until it falls below 80 %"
    )
    return "\n".join(lines) + "\n"


_SCOPE_TITLES = {
    SERVER: "`[server]`",
    DESTINATION: '`[destination_defaults]` and `[destinations."NAME"]`',
    USER: '`[users."NAME"]`',
}


def directive_reference(directives: DirectiveSet) -> str:
    """A Markdown table per scope listing every declared directive (used by README.md)."""
    out: list[str] = []
    order = sorted(directives.scopes(), key=lambda scope: (scope != SERVER, scope != DESTINATION, scope != USER, scope))
    for scope in order:
        title = _SCOPE_TITLES.get(scope, f"`[{scope}]`")
        out += [f"#### {title}", "", "| directive | kind | default | provided by | meaning |", "| --- | --- | --- | --- | --- |"]
        for directive in directives.scope(scope).values():
            kind = directive.kind
            if directive.choices:
                named = " \\| ".join(f"`{choice}`" for choice in directive.choices)
                kind = f"int \\| {named}" if kind == "int" else named
            help_text = directive.help.replace("|", "\\|")
            default = directive.render(directive.default).replace("|", "\\|")
            out.append(f"| `{directive.name}` | {kind} | `{default}` | {directive.plugin} | {help_text} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
