"""Preferences given as tshark's `-o NAME:VALUE` (repeatable): parsed and checked in one place.

Each layer that takes a preference registers its name in KNOWN with a one-line help; the CLI
rejects any other name with one line, as tshark does for an unknown preference.
"""

from __future__ import annotations

# name -> (repeatable, help). Add a line here for each new preference.
KNOWN: dict[str, tuple[bool, str]] = {
    "mqtt.decode": (True, 'decode payloads on matching topics: "TOPIC_FILTER=DECODER" (sniffer/payload/choose.py)'),
    "mqtt.secret": (True, 'a device secret to check cloud credentials: "productKey/deviceName=SECRET" (never printed)'),
    "nameres.mac_name": (
        False,
        "TRUE/FALSE: name MAC addresses from manuf, wka and ethers (default TRUE; -n is FALSE)",
    ),
    "tls.keylog_file": (False, "NSS key log file (SSLKEYLOGFILE) to decrypt TLS with (also --tls-keylog)"),
}


class PrefError(ValueError):
    """A -o argument that is not NAME:VALUE with a known NAME."""


def parse(items: list[str]) -> dict[str, list[str]]:
    """['a.b:1', 'a.b:2', 'c.d:x'] -> {'a.b': ['1', '2'], 'c.d': ['x']} (checked against KNOWN)."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or not name:
            raise PrefError(f"bad -o '{item}': expected NAME:VALUE, e.g. tls.keylog_file:keys.log")
        if name not in KNOWN:
            known = ", ".join(sorted(KNOWN)) or "none yet"
            raise PrefError(f"unknown preference '{name}' in -o (known: {known})")
        values = out.setdefault(name, [])
        if values and not KNOWN[name][0]:
            raise PrefError(f"-o {name} given twice")
        values.append(value)
    return out
