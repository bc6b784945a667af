"""The list a JSON object gets where one key occurs twice (kept apart from values that are lists).

A plain Python class in a module of its own: sniffer/output/json_out.py is compiled by mypyc, whose
native classes cannot derive from list.
"""

from __future__ import annotations

from typing import Any


class DupList(list[Any]):
    """A list made of repeated keys."""
