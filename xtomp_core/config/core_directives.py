"""The core's own directives: listeners, timeouts, heart-beats, limits, logging, destinations."""

from __future__ import annotations

from .directives import DESTINATION, SERVER, DirectiveSet

KIB = 1024
MIB = 1024 * 1024


def declare_core_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    # -- listeners and process -----------------------------------------------------------
    d("listen", "list", ("127.0.0.1:61613",), SERVER,
      "Addresses to accept connections on: \"HOST:PORT\", \"[IPV6]:PORT\", or \"SCHEME://HOST:PORT[/PATH]\" "
      "where SCHEME is a registered transport (\"tcp\" and \"tls\" in the core; \"ws\" comes with a plugin).")
    d("workers", "int", 1, SERVER,
      "Broker processes sharing the listeners (nginx's worker_processes): each binds every listen "
      "address with SO_REUSEPORT and the kernel spreads connections over them, so one machine uses all "
      "its cores and workers x the open-file limit connections. 0 or \"auto\": one per CPU. Above 1 a "
      "backplane plugin must be enabled ([plugins.cluster]) so that destinations span the processes; "
      "a master process then starts, restarts and signals the workers. 1: one process, no master.",
      minimum=0, choices=("auto",))
    d("pid_file", "str", None, SERVER,
      "Write the process id here at start-up (the master's, with several workers) and remove it at exit. "
      "Unset: no file is written.")
    d("log_level", "choice", "info", SERVER, "Least severe level logged.",
      choices=("debug", "info", "warning", "error"))
    d("log_target", "choice", "stderr", SERVER, "Where logs go: standard error or the local syslog.",
      choices=("stderr", "syslog"))
    d("syslog_address", "str", "/dev/log", SERVER, "Unix socket path (or HOST:PORT for UDP) of the syslog daemon.")
    d("syslog_facility", "choice", "daemon", SERVER, "Syslog facility.",
      choices=("daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"))
    d("stats_interval", "duration", 60.0, SERVER,
      "How often the broker publishes its figures to the destination \"/xtomp/stat\" (xtomp's JSON), "
      "when that destination is declared; without it no timer runs.", minimum=0.05)
    # -- timeouts and heart-beats --------------------------------------------------------
    d("timeout", "duration", 30.0, SERVER,
      "Time a new connection has to complete CONNECT before it is closed (xtomp's default was 120s; "
      "an unauthenticated socket holds a file descriptor, so the default is shorter).", minimum=0.001)
    d("linger", "duration", 2.0, SERVER,
      "After an ERROR (or the RECEIPT of a DISCONNECT) the broker half-closes and waits this long for the "
      "client to close, so the last frame is not lost to a TCP reset.", minimum=0.0)
    d("heart_beat_read", "duration", 1.0, SERVER,
      "Shortest interval the broker accepts heart-beats from a client at: a client offering to send "
      "every N ms is asked for the larger of N and this (the second value of CONNECTED's heart-beat "
      "header), and is closed after heart_beat_grace such intervals of silence. 0 disables checking "
      "clients. xtomp's 120s suits low-power deployments that would rather not wake up for clients "
      "asking for fast beats.", minimum=0.0)
    d("heart_beat_write_min", "duration", 1.0, SERVER,
      "Shortest interval the broker sends heart-beats at; clients asking for more frequent beats get this. "
      "The default honours what clients such as stompjs ask for (it needs beats as often as it asked to "
      "notice a dead connection in time); xtomp's 60s suits low-power deployments.", minimum=0.0)
    d("heart_beat_write_max", "duration", 180.0, SERVER,
      "Longest interval the broker sends heart-beats at. 0 disables broker heart-beats.", minimum=0.0)
    d("heart_beat_grace", "float", 1.5, SERVER,
      "A heart-beating client is closed after this many read intervals without any byte from it.",
      minimum=1.0, maximum=10.0)
    # -- authentication and hosts --------------------------------------------------------
    d("authenticators", "list", (), SERVER,
      "The authentication chain, in order; the first to accept a CONNECT wins. The core registers "
      "\"static\" (login/passcode below), \"users\" ([users.\"NAME\"] tables), \"token\" (secret) and "
      "\"tls_client_auth\" (client certificates); plugins add more (\"jwt\"). Whatever is configured but "
      "not listed is appended: login adds static, a user with a password adds users, secret adds token. "
      "Nothing configured: anyone may connect.")
    d("login", "str", None, SERVER,
      "When set, CONNECT must carry this login and the passcode below (xtomp's plain credential check).")
    d("passcode", "str", None, SERVER,
      "The passcode that goes with login: plain text as in xtomp or, better, a hash from `xtomp passwd`.")
    d("virtual_hosts", "list", (), SERVER,
      "Accepted values of CONNECT's host header. Empty: any host is accepted (clients send \"localhost\", "
      "\"/\", a host name or nothing). Virtual hosts do not partition destinations.")
    # -- limits ---------------------------------------------------------------------------
    d("max_frame_size", "size", 4 * MIB, SERVER,
      "Largest frame (command, headers and body) a client may send, as RabbitMQ's stomp.max_frame_size.",
      minimum=1024)
    d("max_headers", "int", 1000, SERVER, "Most headers in one client frame.", minimum=1)
    d("max_header_length", "size", 64 * KIB, SERVER,
      "Longest command or header line in a client frame, in bytes.", minimum=64)
    d("max_subscriptions", "int", 10000, SERVER,
      "Most subscriptions one connection may hold (\"subs flup\" beyond it).", minimum=1)
    d("max_transactions", "int", 100, SERVER, "Most open transactions per connection.", minimum=1)
    d("max_transaction_frames", "int", 10000, SERVER,
      "Most SEND/ACK/NACK frames buffered in one transaction.", minimum=1)
    d("max_destinations", "int", 100000, SERVER,
      "Most destinations alive at once, including those created on first use by a prefix rule.", minimum=1)
    d("max_memory", "size", None, SERVER,
      "Most bytes of messages the broker holds at once (waiting in queues and in connections' write buffers: "
      "what grows under overload). Above it every producer is paused until it falls below 80 %; consumers "
      "keep draining. Unset: 40 % of the machine's memory or of the cgroup's limit, whichever is smaller.",
      minimum=1 * MIB)
    d("write_buffer_high", "size", 1 * MIB, SERVER,
      "Outgoing bytes buffered for one connection above which it counts as a slow consumer: topics drop "
      "or disconnect per their slow_consumer policy, queues stop dispatching to it.", minimum=4 * KIB)
    d("write_buffer_low", "size", None, SERVER,
      "Outgoing bytes below which a slow consumer counts as caught up again. Unset: a quarter of "
      "write_buffer_high.", minimum=0)
    # -- destinations (valid in [destination_defaults] and [destinations."NAME"]) ---------
    d("type", "str", None, DESTINATION,
      "Destination type, registered by a plugin: \"topic\" (xtomp-topics), \"queue\" (xtomp-queues). "
      "Unset: \"topic\", or \"queue\" when min_delivery is 1.")
    d("min_delivery", "int", 0, DESTINATION,
      "xtomp's way to declare a queue: 1 makes a destination without a type a queue (each message kept "
      "until one consumer has taken it); 0 a topic. xtomp's values above 1 re-sent a message to several "
      "consumers (duplicates) and are refused.", minimum=0, maximum=1)
    d("max_connections", "int", 1000, DESTINATION,
      "Most subscriptions on this destination (xtomp's name; \"dest flup\" beyond it).", minimum=1)
    d("max_messages", "int", 100, DESTINATION,
      "Most messages the destination holds for later delivery (queues; a topic holds none).", minimum=1)
    d("max_message_size", "size", 1 * MIB, DESTINATION,
      "Largest message body accepted (\"msg flup\" beyond it).", minimum=0)
    d("web_read_block", "bool", False, DESTINATION,
      "Refuse SUBSCRIBE from web sessions (WebSocket) with \"blocked\".")
    d("web_write_block", "bool", False, DESTINATION,
      "Refuse SEND from web sessions (WebSocket) with \"blocked\".")
    d("stats", "bool", False, DESTINATION,
      "Publish this destination's figures to \"/xtomp/stat\" every stats_interval (xtomp's stats flag).")
