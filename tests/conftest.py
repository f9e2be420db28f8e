"""Core test configuration: the xtomp fixtures come from the xtomp_testing pytest plugin."""
