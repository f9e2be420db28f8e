"""The security directives: authentication, TLS, hostile-client limits, users, access rules."""

from __future__ import annotations

from ..config.directives import DESTINATION, SERVER, USER, DirectiveSet

KIB = 1024
MIB = 1024 * 1024

#: Who an access list lets in: ``"*"`` (everyone), a login, or ``"@group"``.
ACCESS_HELP = (
    'Entries: "*" (everyone), a login ("alice") or a group ("@ops"); [] lets nobody. '
    "Rules follow the destination tables: an exact name, else the longest prefix rule, else "
    "[destination_defaults]."
)


def declare_security_directives(directives: DirectiveSet) -> None:
    d = directives.declare
    # -- authentication ------------------------------------------------------------------
    d("secret", "str", None, SERVER,
      "Shared secret of xtomp's token scheme: login \"USER TIMESTAMP [RANDOM]\", passcode "
      "base64(HMAC-SHA256(secret, login)). At least 16 characters; setting it adds \"token\" to the chain.")
    d("secret_timeout", "duration", 60.0, SERVER,
      "A token whose timestamp is older than this is refused.", minimum=1.0)
    d("secret_clock_skew", "duration", 5.0, SERVER,
      "How far in the future a token's timestamp may be (the issuer's clock may run ahead); "
      "later timestamps are refused.", minimum=0.0)
    d("secret_algorithm", "choice", "hmac-sha256", SERVER,
      "Token passcode: \"hmac-sha256\", or \"sha1\" = xtomp's original base64(sha1(login + secret)) "
      "for issuers not yet updated (weaker: a bare SHA-1 hash, not an HMAC).",
      choices=("hmac-sha256", "sha1"))
    d("tls_login_field", "str", "commonName", SERVER,
      "The certificate subject field the \"tls_client_auth\" authenticator uses as the login.")
    d("auth_failure_delay", "duration", 1.0, SERVER,
      "A refused CONNECT gets its ERROR \"auth err\" after this delay (the connection waits; the "
      "broker does not).", minimum=0.0)
    d("auth_max_failures", "int", 10, SERVER,
      "Failed logins from one client address within auth_failure_window after which every login "
      "from it is refused until the window ends. 0: no limit.", minimum=0)
    d("auth_failure_window", "duration", 60.0, SERVER,
      "Period over which failed logins are counted per address.", minimum=0.001)
    d("auth_failure_table_size", "int", 10000, SERVER,
      "Most client addresses whose failed logins are remembered (the least recently failed are "
      "forgotten first).", minimum=1)
    # -- TLS (the tls:// listeners) --------------------------------------------------------
    d("tls_certificate", "str", None, SERVER,
      "PEM file with the broker's certificate (and its chain) for tls:// listeners.")
    d("tls_key", "str", None, SERVER, "PEM file with the private key of tls_certificate.")
    d("tls_min_version", "choice", "1.2", SERVER, "Oldest TLS version accepted.", choices=("1.2", "1.3"))
    d("tls_ciphers", "str", None, SERVER,
      "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not configurable). Unset: Python's defaults.")
    d("tls_verify_client", "choice", "none", SERVER,
      "Client certificates: \"none\" (not asked for), \"optional\" (verified when sent), \"required\" "
      "(the handshake fails without a valid one).", choices=("none", "optional", "required"))
    d("tls_client_ca", "str", None, SERVER,
      "PEM file of the certificate authorities that sign client certificates (needed unless "
      "tls_verify_client is \"none\").")
    # -- hostile clients -------------------------------------------------------------------
    d("max_frame_size_unauthenticated", "size", 64 * KIB, SERVER,
      "Largest frame before CONNECT has succeeded (as RabbitMQ's limit for unauthenticated "
      "connections); max_frame_size applies afterwards.", minimum=1024)
    d("frame_timeout", "duration", 60.0, SERVER,
      "A frame must arrive completely within this time from its first byte, or the connection is "
      "closed (slowloris). A timer exists only while part of a frame is held. 0 disables.", minimum=0.0)
    d("write_buffer_max", "size", 8 * MIB, SERVER,
      "Outgoing bytes buffered for one connection beyond which it is closed at once (a client that "
      "stops reading but keeps asking for receipts). Keep it well above write_buffer_high: what one "
      "event-loop pass fans out to a subscriber is buffered before it counts as slow.", minimum=4 * KIB)
    d("connection_limit", "int", None, SERVER,
      "Most client connections at once; more are closed as soon as they are accepted. Unset: the "
      "process's open-file limit (ulimit -n) less 64.", minimum=1)
    d("protected_mode", "bool", True, SERVER,
      "With no authenticator configured (no login, [users] passwords, secret or authenticators), only "
      "loopback clients may CONNECT; others get ERROR \"auth err\" saying why (as Redis's protected mode). "
      "false: anyone who can reach a listener may connect as anonymous.")
    d("connection_limit_per_address", "int", 1000, SERVER,
      "Most connections at once from one client IP address. 0: no limit.", minimum=0)
    # -- users ([users."NAME"]) -------------------------------------------------------------
    d("password", "str", None, USER,
      "The password hash printed by `xtomp passwd` (scrypt or PBKDF2, salted); plain text is refused. "
      "Unset: no password login, but certificates, tokens and JWTs naming the user get its groups.")
    d("groups", "list", (), USER, "Groups of the user, for access rules (\"@ops\").")
    # -- access rules (per destination) ----------------------------------------------------
    d("allow_send", "list", ("*",), DESTINATION, "Who may SEND to the destination. " + ACCESS_HELP)
    d("allow_subscribe", "list", ("*",), DESTINATION, "Who may SUBSCRIBE to the destination. " + ACCESS_HELP)
    d("allow_create", "list", ("*",), DESTINATION,
      "Who may create a destination by using a name a prefix rule (or a plugin) would create. "
      + ACCESS_HELP)
