"""Value domains of the filter and the conversion of literals into them.

Every field type maps to one comparable Python domain ("kind"):
int (UINT/INT), bool (as 0/1), str, bytes (BYTES, ETHER, protocols, slices),
ipv4/ipv6 (as int), float (DOUBLE), time (ABSTIME, epoch seconds).
A literal is converted with the kind of the field on the other side, as
Wireshark does; failures are FilterErrors pointing at the literal.
Tree values are normalised into the same domains by `normalizer()`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Final

from sniffer.fields import FT, FieldDef
from sniffer.filter.errors import FilterError
from sniffer.filter.parser import Char, Str, Word

KIND_OF = {
    FT.UINT: "int",
    FT.INT: "int",
    FT.BOOLEAN: "bool",
    FT.STRING: "str",
    FT.BYTES: "bytes",
    FT.ETHER: "bytes",
    FT.PROTOCOL: "bytes",
    FT.IPV4: "ipv4",
    FT.IPV6: "ipv6",
    FT.DOUBLE: "float",
    FT.FLOAT: "float",
    FT.ABSTIME: "time",
    FT.NONE: "none",
}
ORDERED = frozenset({"int", "bool", "str", "bytes", "ipv4", "ipv6", "float", "time"})
KIND_NAMES = {
    "int": "an integer",
    "bool": "a boolean",
    "str": "a string",
    "bytes": "a byte string",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "float": "a number",
    "time": "a date and time",
    "none": "a label without a value",
}

_INT_RE = re.compile(r"-?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_BYTES_RE = re.compile(r"[0-9a-fA-F]{1,2}([:.\-][0-9a-fA-F]{1,2})*\Z")


def parse_int(text: str) -> int | None:
    """Wireshark's integer syntax: decimal, 0x hex, 0b binary, leading-0 octal."""
    if not _INT_RE.match(text):
        return None
    neg = text.startswith("-")
    t = text[1:] if neg else text
    if t[:2] in ("0x", "0X"):
        v = int(t[2:], 16)
    elif t[:2] in ("0b", "0B"):
        v = int(t[2:], 2)
    elif len(t) > 1 and t[0] == "0":
        v = int(t[1:], 8)
    else:
        v = int(t)
    return -v if neg else v


def parse_bytes(text: str) -> bytes | None:
    """Byte strings aa:bb:cc, aa.bb.cc, aa-bb-cc, or one byte aa; 0xNN up to one byte."""
    if text[:2] in ("0x", "0X"):
        v = parse_int(text)
        return bytes([v]) if v is not None and 0 <= v <= 0xFF else None
    if not _BYTES_RE.match(text):
        return None
    parts = re.split(r"[:.\-]", text)
    if len(parts) == 1 and len(text) != 2:
        return None  # a lone "7" is ambiguous; Wireshark wants two digits
    return bytes(int(p, 16) for p in parts)


def _value_name(fd: FieldDef, name: str) -> int | None:
    if not fd.values:
        return None
    low = name.lower()
    for k, v in fd.values.items():
        if v.lower() == low:
            return k
    return None


# the seconds' fraction apart (a datetime holds microseconds; a frame's time is exact to the nanosecond)
_FRACTION: Final = re.compile(r"^(.*\d:\d\d:\d\d)\.(\d+)(.*)$")


def _time(text: str) -> Decimal | None:
    """A date and time literal as exact seconds since 1970: ISO ("2024-05-01 12:00:00.123456789", "…Z",
    "…+02:00") or as Wireshark prints frame.time ("May  1, 2024 12:00:00.123456789"), UTC with " UTC" or
    "Z", else local time, every fraction digit kept."""
    s = text.strip()
    utc = s.endswith("UTC") or s.endswith("Z")
    if s.endswith("UTC"):
        s = s[:-3].strip()
    frac = Decimal(0)
    m = _FRACTION.match(s)
    if m:
        s = m[1] + m[3]
        frac = Decimal("0." + m[2])
    s = " ".join(s.split())  # (Wireshark pads a one-digit day: "May  1, 2024")
    for parse in (
        lambda x: datetime.fromisoformat(x.replace(" ", "T", 1) if "T" not in x else x),
        lambda x: datetime.strptime(x, "%b %d, %Y %H:%M:%S"),
    ):
        try:
            dt = parse(s)
        except ValueError:
            continue
        if dt.tzinfo is None and utc:
            dt = dt.replace(tzinfo=timezone.utc)
        try:
            return Decimal(round(dt.timestamp())) + frac
        except (OverflowError, ValueError, OSError):
            return None
    return None


def _to_time(v: Any) -> Decimal:
    """A time field's value, exactly: a frame's times are Decimals to the ns; a float is taken as written."""
    return v if isinstance(v, Decimal) else Decimal(repr(float(v)))


def convert(atom: Any, kind: str, fd: FieldDef | None, what: str) -> Any:
    """The literal `atom` (Word/Str/Char) as a value of `kind`; `what` names the other side.

    ipv4/ipv6 literals become (low, high) inclusive ranges, so CIDR works with ==.
    """
    start, end = atom.start, atom.end
    if isinstance(atom, Char):
        if kind in ("int", "bool", "float"):
            return ord(atom.value) if kind != "bool" else int(bool(ord(atom.value)))
        if kind == "str":
            return atom.value
        if kind == "bytes":
            return atom.value.encode("latin-1", "replace")
        raise FilterError(f"{what} is {KIND_NAMES[kind]}; a character constant cannot be compared with it", start, end)
    if isinstance(atom, Str):
        s = atom.value
        if kind == "str":
            return s
        if kind == "bytes":
            return s.encode("utf-8", "surrogateescape")
        if kind == "int" and fd is not None and fd.values:
            v = _value_name(fd, s)
            if v is not None:
                return v
            names = ", ".join(f'"{n}"' for n in list(fd.values.values())[:6])
            raise FilterError(f'"{s}" is not a value name of {fd.abbrev} (names: {names}, ...)', start, end)
        if kind == "time":
            t = _time(s)
            if t is None:
                raise FilterError(f'"{s}" is not a date and time (write "2024-05-01 12:00:00")', start, end)
            return t
        if kind in ("ipv4", "ipv6"):
            raise FilterError(f"{what} is {KIND_NAMES[kind]}; write the address without quotes", start, end)
        raise FilterError(f'{what} is {KIND_NAMES[kind]}, not a string: remove the quotes from "{s}"', start, end)
    assert isinstance(atom, Word)
    t = atom.text
    if kind == "int":
        v = parse_int(t)
        if v is None and fd is not None:
            v = _value_name(fd, t)
        if v is None:
            raise FilterError(f'"{t}" is not an integer ({what} is {KIND_NAMES[kind]})', start, end)
        return v
    if kind == "bool":
        if t in ("True", "TRUE", "true"):
            return 1
        if t in ("False", "FALSE", "false"):
            return 0
        v = parse_int(t)
        if v is None:
            raise FilterError(f'"{t}" is not a boolean ({what} is a boolean: True, False, 1 or 0)', start, end)
        return int(bool(v))
    if kind == "float":
        try:
            return float(t) if parse_int(t) is None else float(parse_int(t))
        except ValueError:
            raise FilterError(f'"{t}" is not a number ({what} is a number)', start, end) from None
    if kind in ("ipv4", "ipv6"):
        try:
            net = ipaddress.ip_network(t, strict=False)
        except ValueError:
            net = None
        if net is None or (net.version == 4) != (kind == "ipv4"):
            if net is not None:
                other = "IPv6" if kind == "ipv4" else "IPv4"
                raise FilterError(f'"{t}" is an {other} address but {what} is {KIND_NAMES[kind]}', start, end)
            raise FilterError(f'"{t}" is not {KIND_NAMES[kind]} ({what}; host names are not resolved)', start, end)
        return int(net.network_address), int(net.broadcast_address)
    if kind == "bytes":
        b = parse_bytes(t)
        if b is None:
            raise FilterError(f'"{t}" is not a byte string like aa:bb:cc ({what}); quote text: "{t}"', start, end)
        return b
    if kind == "str":
        raise FilterError(f'{what} is a string: quote the value, "{t}"', start, end)
    if kind == "time":
        raise FilterError(f'{what} is a date and time: quote it, like "2024-05-01 12:00:00"', start, end)
    raise FilterError(f"{what} has no value to compare with", start, end)


def _to_ip(v: Any, size: int) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(v), "big")
    return int(ipaddress.ip_address(str(v)))


def _to_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        b = parse_bytes(v)
        return b if b is not None else v.encode("utf-8", "surrogateescape")
    if isinstance(v, int):
        return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    return b""


def _to_str(v: Any) -> str:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    return str(v)


def normalizer(kind: str) -> Callable[[Any], Any]:
    """Turns a Node.value of a field of `kind` into the filter's domain."""
    if kind == "int":
        return lambda v: int(v) if v is not None else 0
    if kind == "bool":
        return lambda v: 1 if v else 0
    if kind == "str":
        return _to_str
    if kind == "bytes":
        return _to_bytes
    if kind == "ipv4":
        return lambda v: _to_ip(v, 4)
    if kind == "ipv6":
        return lambda v: _to_ip(v, 16)
    if kind == "float":
        return lambda v: float(v)
    if kind == "time":
        return _to_time
    return lambda v: v


def to_text(kind: str, fd: FieldDef | None) -> Callable[[Any], str]:
    """string(field): a value as Wireshark's string() shows it (ints in decimal)."""
    if kind == "ipv4":
        return lambda v: str(ipaddress.IPv4Address(v))
    if kind == "ipv6":
        return lambda v: str(ipaddress.IPv6Address(v))
    if kind == "bytes":
        return lambda v: ":".join(f"{b:02x}" for b in v)
    if kind == "bool":
        return lambda v: "TRUE" if v else "FALSE"
    return str
