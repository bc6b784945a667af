"""Makes text from the wire safe to show: control, format and unassigned characters become visible escapes.

Any client whose traffic is captured chooses its topics, client id, user properties and
payload, so such text must never reach a terminal as the codes it contains (ESC/CSI/OSC/DCS
sequences set the window title or clear the screen; CR and bidi overrides hide text; a
newline or tab in -T fields forges rows). Every output escapes at the moment it writes;
the decoded values stay raw, so display filters match what was on the wire (as in tshark).

`escape()` is tshark 4.0's label escaping (wsutil format_text): \\a \\b \\t \\n \\v \\f \\r,
other C0 controls and DEL as three-digit octal (\\033), other non-printable characters (C1
controls, format characters such as U+202E, unassigned code points, surrogates) as \\uXXXX or
\\UXXXXXXXX. Printable text, spaces of every kind, private-use characters and backslashes are
kept, as tshark keeps them; unlike tshark, U+2028 and U+2029 are escaped too (see below).
`json_string()` and `json_safe()` write JSON in which a terminal finds nothing to act on either.
All cost one C-level `str.isprintable()` scan for ordinary text.

No Textual or Rich here: every layer (headless printers, the UI, error messages) uses it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Final

# C escapes of format_text; other C0 controls and DEL are written in octal
_C_ESCAPES: Final = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
# Not printable to Python's str.isprintable() but printable to GLib (g_unichar_isprint), so
# tshark shows them as they are: spaces and private-use characters; no terminal acts on them.
# The line and paragraph separators U+2028/U+2029, which tshark also keeps, are escaped: Python's
# str.splitlines() breaks lines there, so a value could forge a row for a script reading ours.
_KEEP_CATEGORIES: Final = frozenset({"Zs", "Co"})


def _escape_char(c: str) -> str:
    """One character as `escape()` writes it."""
    o = ord(c)
    if o < 0x20 or o == 0x7F:
        e = _C_ESCAPES.get(o)
        return e if e is not None else f"\\{o:03o}"
    if unicodedata.category(c) in _KEEP_CATEGORIES:
        return c
    return f"\\u{o:04X}" if o <= 0xFFFF else f"\\U{o:08X}"


def escape_slow(s: str) -> str:
    """escape() of a string known to hold a non-printable character."""
    return "".join([c if c.isprintable() else _escape_char(c) for c in s])


def escape(s: str) -> str:
    """`s` with every character a terminal could act on written as a visible escape (tshark's way).

    Hot callers test `s.isprintable()` themselves and call escape_slow() only when it is False."""
    if s.isprintable():
        return s
    return escape_slow(s)


_encode_json: Final = json.encoder.encode_basestring  # C; json.dumps(ensure_ascii=False) for one str
# json.dumps escapes C0 controls, quote and backslash; what it leaves raw that a terminal may act
# on (DEL, C1 controls, format and unassigned characters, surrogates) is found among these
# (a negated set: "[\x7f-\U0010ffff]" matches the same but takes ~5 ms to compile, at every start-up)
_NON_ASCII_OR_DEL: Final = re.compile("[^\x00-\x7e]")


def _json_char(m: re.Match[str]) -> str:
    c = m.group()
    if c.isprintable() or unicodedata.category(c) in _KEEP_CATEGORIES:
        return c
    o = ord(c)
    if o <= 0xFFFF:
        return f"\\u{o:04x}"
    o -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
    return f"\\u{0xD800 | o >> 10:04x}\\u{0xDC00 | o & 0x3FF:04x}"


def json_safe(text: str) -> str:
    """JSON text (from json.dumps(ensure_ascii=False)) with every character that a terminal may act
    on inside its strings also written as \\uXXXX. The JSON value is unchanged: a parser reads the
    same strings. Outside strings JSON text is ASCII, so only string contents are touched."""
    if text.isascii():  # O(1); JSON text is ASCII unless a string holds more: only DEL is left to find
        return text if "\x7f" not in text else _NON_ASCII_OR_DEL.sub(_json_char, text)
    if text.isprintable():
        return text
    return _NON_ASCII_OR_DEL.sub(_json_char, text)


def json_string(s: str) -> str:
    """`s` as a JSON string literal that holds no control, format or unassigned character raw."""
    if s.isprintable():
        return _encode_json(s)
    return _NON_ASCII_OR_DEL.sub(_json_char, _encode_json(s))
