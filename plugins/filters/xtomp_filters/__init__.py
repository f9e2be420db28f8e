"""Subscription filters for xtomp: xtomp's ``filter:NAME=VALUE`` and JMS/SQL-92 ``selector`` headers.

Importing this package (or its ``plugin`` module, the entry point) does not import the
selector compiler in :mod:`xtomp_filters.selector`; the first selector compiled does.
"""

from .engines import FilterRefused, FilterSettings, HeaderEngine, HeaderFilter, InvalidSelector, SelectorEngine

__all__ = ["FilterRefused", "FilterSettings", "HeaderEngine", "HeaderFilter", "InvalidSelector", "SelectorEngine"]
