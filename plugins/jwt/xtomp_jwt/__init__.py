"""JWT bearer tokens in CONNECT's passcode for xtomp: the ``jwt`` authenticator (PyJWT)."""
