"""Security: authenticators, password hashes, access rules, login rate limits, connection caps.

Everything here runs at the edges (start-up, accept, CONNECT, first use of a destination),
never per message: access decisions are memoized per session by the caller.
"""
