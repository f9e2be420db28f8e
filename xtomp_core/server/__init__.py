"""The asyncio side: event loop choice, connections, listeners, lifecycle, logging."""
