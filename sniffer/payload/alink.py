"""Alibaba Cloud IoT's Alink JSON (requests with method/id/version/params, replies with id/code/data) named as such.

A name only, on a payload the JSON decoder already decoded: the JSON tree stays as it is.
"""

from __future__ import annotations

import json
from typing import Any


def alink_summary(doc: Any) -> str | None:
    """'Alink JSON request: method …, id …, version …' or 'Alink JSON reply: id …, code …'; None otherwise.
    The values are the sender's: callers escape them where they show them (every output does)."""
    if not isinstance(doc, dict):
        return None
    method = doc.get("method")
    if "code" in doc and "id" in doc and ("data" in doc or "message" in doc):  # a reply may echo the method
        return f"Alink JSON reply: id {doc.get('id')}, code {doc.get('code')}"
    if isinstance(method, str) and method.startswith("thing."):
        return f"Alink JSON request: method {method}, id {doc.get('id')}, version {doc.get('version', '?')}"
    return None


def name_of(data: bytes) -> str | None:
    """The Alink summary of a JSON payload's bytes, or None (not JSON, not Alink)."""
    if data[:64].lstrip()[:1] != b"{":
        return None
    try:
        return alink_summary(json.loads(data))
    except (ValueError, RecursionError):
        return None
