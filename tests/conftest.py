"""Core test configuration: the xtomp fixtures come from the xtomp_core.testing pytest plugin."""
