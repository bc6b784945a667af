"""Network interfaces: what exists, its state, its addresses, and its link type (for `-D` and `-i`).

Read from the kernel directly (``/sys/class/net``, ``getifaddrs`` through ctypes) so that `-D` costs
no scapy import and needs no privileges.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
from dataclasses import dataclass, field

SYS_NET = "/sys/class/net"
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
ARPHRD_IPGRE = 778
ARPHRD_TUNNEL = 768
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_PROMISC = 0x100


class InterfaceError(Exception):
    """No such interface, or it cannot be captured on; the message is for the user."""


@dataclass
class Interface:
    name: str
    index: int
    arphrd: int
    flags: int
    operstate: str
    running: bool = False  # carrier present (IFF_RUNNING is not in /sys flags)
    addresses: list[str] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    def describe(self) -> str:
        """tcpdump -D style: state words, then the addresses."""
        words = ["Up" if self.up else "Down"]
        if self.running:
            words.append("Running")
        if self.flags & IFF_LOOPBACK:
            words.append("Loopback")
        elif self.operstate == "up":
            words.append("Connected")
        elif self.operstate == "down":
            words.append("Disconnected")
        text = f"{self.name} [{', '.join(words)}]"
        if self.addresses:
            text += " " + " ".join(self.addresses)
        return text


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _interface(name: str) -> Interface:
    base = os.path.join(SYS_NET, name)
    return Interface(
        name=name,
        index=int(_read(f"{base}/ifindex", "0") or 0),
        arphrd=int(_read(f"{base}/type", "1") or 1),
        flags=int(_read(f"{base}/flags", "0x0") or "0", 16),
        operstate=_read(f"{base}/operstate", "unknown"),
        running=_read(f"{base}/carrier", "0") == "1",
    )


def names() -> list[str]:
    try:
        found = [name for _, name in socket.if_nameindex()]
    except OSError:
        found = sorted(os.listdir(SYS_NET)) if os.path.isdir(SYS_NET) else []
    return found


def lookup(name: str) -> Interface:
    """The interface called ``name`` (``any`` included); InterfaceError naming the real ones."""
    if name == "any":
        return Interface("any", 0, 0, IFF_UP, "up", running=True)
    if "/" in name or name in (".", "..") or not os.path.exists(os.path.join(SYS_NET, name)):
        available = ", ".join([*names(), "any"])
        raise InterfaceError(f"no such interface {name!r} (available: {available}; `mqttsniff -D` lists them)")
    return _interface(name)


class _Sockaddr(ctypes.Structure):
    _fields_ = [("sa_family", ctypes.c_ushort), ("sa_data", ctypes.c_ubyte * 14)]


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [
    ("ifa_next", ctypes.POINTER(_Ifaddrs)),
    ("ifa_name", ctypes.c_char_p),
    ("ifa_flags", ctypes.c_uint),
    ("ifa_addr", ctypes.POINTER(_Sockaddr)),
    ("ifa_netmask", ctypes.POINTER(_Sockaddr)),
    ("ifa_ifu", ctypes.c_void_p),
    ("ifa_data", ctypes.c_void_p),
]


def _sockaddr_ip(sa: ctypes.POINTER(_Sockaddr)) -> tuple[int, bytes] | None:
    if not sa:
        return None
    family = sa.contents.sa_family
    if family == socket.AF_INET:
        raw = ctypes.string_at(ctypes.addressof(sa.contents), 8)
        return family, raw[4:8]
    if family == socket.AF_INET6:
        raw = ctypes.string_at(ctypes.addressof(sa.contents), 24)
        return family, raw[8:24]
    return None


def addresses() -> dict[str, list[str]]:
    """Every interface's IPv4/IPv6 addresses as ``addr/prefix``, via libc getifaddrs."""
    out: dict[str, list[str]] = {}
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        return out
    try:
        node = head
        while node:
            ifa = node.contents
            addr = _sockaddr_ip(ifa.ifa_addr)
            if addr is not None:
                family, raw = addr
                mask = _sockaddr_ip(ifa.ifa_netmask)
                prefix = sum(bin(b).count("1") for b in mask[1]) if mask else None
                text = socket.inet_ntop(family, raw) + (f"/{prefix}" if prefix is not None else "")
                out.setdefault(ifa.ifa_name.decode(errors="replace"), []).append(text)
            node = ifa.ifa_next
    finally:
        libc.freeifaddrs(head)
    return out


def list_interfaces() -> list[Interface]:
    """All interfaces (by index) with their addresses, then the ``any`` pseudo-device."""
    addrs = addresses()
    found = [_interface(n) for n in names()]
    found.sort(key=lambda i: i.index)
    for iface in found:
        iface.addresses = addrs.get(iface.name, [])
    return found


def format_list() -> str:
    """The `-D` listing, numbered like tcpdump's."""
    lines = [f"{n}.{iface.describe()}" for n, iface in enumerate(list_interfaces(), 1)]
    lines.append(f"{len(lines) + 1}.any (Pseudo-device that captures on all interfaces) [Up, Running]")
    return "\n".join(lines)
