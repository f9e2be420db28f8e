"""Start-up checks of the security settings as a whole (run by ``xtomp -t`` too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..interfaces import BrokerView

__all__ = ["check_security"]


def check_security(broker: BrokerView) -> None:
    """Raise ConfigError (naming file and key) for settings that contradict each other."""
    server = broker.config.server
    problems = []
    if server["write_buffer_max"] <= server["write_buffer_high"]:
        problems.append(
            f"{server.origin('write_buffer_max')}: server.write_buffer_max: must be larger than "
            f"write_buffer_high ({server['write_buffer_high']} bytes)"
        )
    if "tls_client_auth" in server["authenticators"] and server["tls_verify_client"] == "none":
        problems.append(
            f"{server.origin('authenticators')}: server.authenticators: \"tls_client_auth\" needs "
            "tls_verify_client = \"optional\" or \"required\" (and tls_client_ca)"
        )
    if problems:
        raise ConfigError("\n".join(problems))
