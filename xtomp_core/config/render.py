"""Rendering config for people: ``--show-config`` output and the generated directive reference."""

from __future__ import annotations

from .directives import DESTINATION, SERVER, USER, Directive, DirectiveSet
from .loader import key_path
from .model import Config, Section

__all__ = ["show_config", "directive_reference"]


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
                kind = " \\| ".join(f"`{choice}`" for choice in directive.choices)
            help_text = directive.help.replace("|", "\\|")
            default = directive.render(directive.default).replace("|", "\\|")
            out.append(f"| `{directive.name}` | {kind} | `{default}` | {directive.plugin} | {help_text} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
