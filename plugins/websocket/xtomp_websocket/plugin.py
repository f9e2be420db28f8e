"""Hook implementations of the websocket plugin (entry point ``websocket`` in group ``xtomp.plugins``).

Nothing here imports websockets or ssl: the transports' module is imported when the
transports are registered (the plugin is enabled), the websockets library at the first
WebSocket connection, and ssl only when a wss listener exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xtomp_core import ConfigError, DirectiveSet, Registrar, hookimpl, parse_listen, plugin_scope

if TYPE_CHECKING:
    from xtomp_core import BrokerView, Config

PLUGIN = "websocket"
SCOPE = plugin_scope(PLUGIN)


@hookimpl
def xtomp_add_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    d("listen", "list", (), SCOPE,
      "WebSocket listeners of this plugin, \"ws://HOST:PORT[/PATH]\" or \"wss://...\", started with the "
      "server's own: the same as adding them to [server] listen, but they go away with the plugin's file.")
    d("paths", "list", ("/ws", "/stomp", "/xtomp"), SCOPE,
      "URL paths on which ws/wss listeners accept the WebSocket handshake, besides the path of the "
      "listen URL itself (RabbitMQ uses /ws, ActiveMQ and Spring examples /stomp, xtomp-console /xtomp); "
      "\"*\" accepts any path.")
    d("websockets_origin", "list", (), SCOPE,
      "Origins (\"https://app.example.com\") whose pages may connect; compared case-insensitively. "
      "Empty: any origin. Requests without an Origin header (non-browser clients) are always accepted. "
      "Others get 403.")
    d("max_message_size", "size", None, SCOPE,
      "Largest WebSocket message a client may send; a larger one closes the connection with code 1009. "
      "Unset: the server's max_frame_size.", minimum=1)
    d("frame_type", "choice", "auto", SCOPE,
      "WebSocket frame type of the frames the broker sends: \"auto\" sends a text frame for each STOMP "
      "frame whose bytes are valid UTF-8 and a binary frame for any other (decided once per message, "
      "not per subscriber); \"text\" or \"binary\" forces one type for every frame (RabbitMQ's "
      "ws_frame; forced text breaks browser clients on a non-UTF-8 body). Clients may send either.",
      choices=("auto", "text", "binary"))
    d("plain_stomp", "bool", False, SCOPE,
      "ws/wss listeners also accept plain STOMP on the same port, told apart by the first bytes "
      "(\"GET \" starts a WebSocket handshake), as xtomp did.")
    d("certificate", "str", None, SCOPE, "PEM certificate (chain) file for wss:// listeners.")
    d("private_key", "str", None, SCOPE, "PEM private key file for wss:// listeners.")


@hookimpl
def xtomp_register_transports(registry: Registrar[Any]) -> None:
    from .transport import WebSocketTransport

    registry.register("ws", WebSocketTransport(secure=False))
    registry.register("wss", WebSocketTransport(secure=True))


@hookimpl
def xtomp_configure(config: Config, broker: BrokerView) -> None:
    section = config.plugins[PLUGIN]
    for text in section["listen"]:
        try:
            address = parse_listen(text)
        except ValueError as problem:
            raise ConfigError(f"{section.where('listen')}: {SCOPE}.listen: {problem}") from None
        if address.scheme not in ("ws", "wss"):
            raise ConfigError(
                f"{section.where('listen')}: {SCOPE}.listen: {text!r}: only ws:// and wss:// listeners belong "
                "here; put other listeners in [server] listen"
            )
        broker.add_listener(address)  # its transport checks it with the others (prepare)
