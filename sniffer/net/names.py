"""MAC address names as tshark resolves them by default: ethers files, well-known addresses, vendor prefixes.

tshark shows `Espressi_12:34:56 (24:0a:c4:12:34:56)` where we showed the bare address: its default name
resolution (`-N m`) names an address from, in this order, the personal and global `ethers` files (exact
names a user gives their devices), Wireshark's `wka` file (well-known and multicast addresses, some as
ranges) and its `manuf` file (vendor prefixes: 24-bit OUIs and the IEEE's 28- and 36-bit blocks). We read
the same files where Wireshark is installed (its data directory), so names match tshark's; without them
addresses stay bare, as in tshark without those files. `-n` turns resolution off (`enabled`).

Names of ranges follow tshark 4.0: a vendor's 24-bit OUI keeps the last three bytes (`Apple_21:14:8f`);
a narrower range keeps the bytes it leaves free, without leading zero bytes (`IPv4mcast_fb`,
`SOREDIto_0a:bc`). The 24-bit lookup ignores the group bit, the range lookups do not.

Files are read on first use (never on the summary's hot path, which shows IP addresses); `manuf` (2 MB,
50,000 lines) is kept as its sorted lines and a vendor prefix's lines are found by bisection when first
asked for (reading and sorting: ~20 ms once; parsing it whole would be ~45 ms, a search per prefix ~1 ms).
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from pathlib import Path

from sniffer.textesc import escape

# a line's address: hex bytes separated by ':', '-' or '.', an optional /mask
_ADDR = re.compile(r"([0-9A-Fa-f]{1,2}(?:[:.-][0-9A-Fa-f]{1,2}){2,5})(?:/(\d{1,2}))?$")
_CACHE_MAX = 65536  # addresses remembered with their names
_SEARCHES_MAX = 4096  # vendor prefixes looked up one by one before manuf is taken whole


def data_dir() -> Path:
    """Wireshark's data directory (manuf, wka): WIRESHARK_DATA_DIR as tshark honours it, else the
    packaged location."""
    env = os.environ.get("WIRESHARK_DATA_DIR")
    if env and os.geteuid() != 0:  # tshark ignores it when running as root
        return Path(env)
    for d in ("/usr/share/wireshark", "/usr/local/share/wireshark"):
        if _exists(Path(d, "manuf")):
            return Path(d)
    return Path("/usr/share/wireshark")


def config_dir() -> Path:
    """Wireshark's personal configuration directory (the personal ethers file), as tshark finds it."""
    env = os.environ.get("WIRESHARK_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    new, old = Path(xdg, "wireshark"), Path.home() / ".wireshark"
    return old if not _exists(new) and _exists(old) else new


def _exists(path: Path) -> bool:
    """Whether `path` exists; False where we may not look (a UI that dropped root to the sudo user, a config
    directory of root's left in its environment)."""
    try:
        return path.exists()
    except OSError:
        return False


def _entry(line: str) -> tuple[int, int, str, str] | None:
    """One line of ethers/wka/manuf: (address as a 48-bit int, mask bits, short name, long name)."""
    line = line.split("#", 1)[0]
    fields = [f for f in re.split(r"\s+", line.strip(), maxsplit=1) if f]
    if len(fields) < 2:
        return None
    m = _ADDR.match(fields[0])
    if m is None:
        return None
    parts = [int(h, 16) for h in re.split(r"[:.-]", m.group(1))]
    mask = int(m.group(2)) if m.group(2) else 8 * len(parts)
    if not 0 < mask <= 48:
        return None
    value = int.from_bytes(bytes(parts + [0] * (6 - len(parts))), "big")
    # (escaped here, once: a name reaches columns that print addresses as they are; an ethers file is anyone's)
    names = [escape(n.strip()) for n in fields[1].split("\t") if n.strip()]
    short = names[0] if names else ""
    return value, mask, short, names[1] if len(names) > 1 else short


def _masked(value: int, mask: int) -> int:
    return value >> (48 - mask)


class MacNames:
    """The three tables, loaded lazily, and a cache of every address resolved so far."""

    def __init__(self, data: Path | None = None, config: Path | None = None, ethers: Path | None = None) -> None:
        self.enabled = True
        self._data, self._config = data, config
        self._ethers_path = ethers if ethers is not None else Path("/etc/ethers")
        self._loaded = False
        self._exact: dict[int, str] = {}
        self._ranges: dict[int, dict[int, str]] = {}  # mask -> {address >> (48 - mask): name}, mask != 24
        self._oui: dict[int, tuple[str, str]] = {}  # 24-bit prefix -> (short, long)
        self._manuf_lines: list[str] = []  # manuf's entries, sorted (its prefix's lines follow a 24-bit entry)
        self._searched: set[int] = set()  # prefixes looked up so far
        self._all = False  # every line of manuf in the tables
        self._cache: dict[bytes, str | None] = {}

    def _load(self) -> None:
        self._loaded = True
        data = self._data or data_dir()
        try:
            personal = [(self._config or config_dir()) / "ethers"]
        except RuntimeError:  # no home directory to look in
            personal = []
        # personal ethers before the global one: the first name given to an address wins
        for path in (*personal, self._ethers_path):
            for line in _read(path).splitlines():
                e = _entry(line)
                if e is not None and e[1] == 48 and e[2]:
                    self._exact.setdefault(e[0], e[2].split()[0])  # a name is one word, as tshark reads it
        for line in _read(data / "wka").splitlines():
            self._add(_entry(line))
        lines = [ln for ln in _read(data / "manuf").splitlines() if ln and ln[0] != "#"]
        lines.sort()  # (already sorted in Wireshark's file: a linear pass)
        self._manuf_lines = lines

    def _add(self, e: tuple[int, int, str, str] | None) -> None:
        if e is None:
            return
        value, mask, short, long = e
        if mask == 48:
            self._exact.setdefault(value, short)
        elif mask == 24:
            self._oui.setdefault(value >> 24, (short, long))
        else:
            self._ranges.setdefault(mask, {}).setdefault(_masked(value, mask), short)

    def _manuf(self, oui: int) -> None:
        """Bring manuf's lines for one 24-bit prefix (its OUI and the blocks inside it) into the tables."""
        searched = self._searched
        if oui in searched or self._all:
            return
        lines = self._manuf_lines
        if len(searched) >= _SEARCHES_MAX:  # many vendors (or a flood of forged addresses): take them all, once
            for line in lines:
                self._add(_entry(line))
            self._all = True
            searched.clear()
            return
        searched.add(oui)
        key = ":".join(f"{b:02X}" for b in oui.to_bytes(3, "big"))
        at = bisect_left(lines, key)
        while at < len(lines) and lines[at].startswith(key):
            self._add(_entry(lines[at]))
            at += 1

    def name(self, mac: bytes) -> str | None:
        """The name tshark gives a 6-byte address, or None where it has none."""
        hit = self._cache.get(mac, 0)
        if hit != 0:
            return hit  # type: ignore[return-value]
        if not self._loaded:
            self._load()
        value = int.from_bytes(mac, "big")
        oui = value >> 24
        self._manuf(oui)
        self._manuf(oui & 0xFEFFFF)
        found = self._exact.get(value)
        if found is None:
            found = self._range_name(mac, value, 25, 48)
        if found is None:
            # the prefix as it is (wka names some group prefixes), else the vendor whatever the group bit says
            hit24 = self._oui.get(oui) or self._oui.get(oui & 0xFEFFFF)
            if hit24 is not None:
                found = f"{hit24[0]}_{mac[3]:02x}:{mac[4]:02x}:{mac[5]:02x}"
        if found is None:
            found = self._range_name(mac, value, 1, 24)
        if len(self._cache) >= _CACHE_MAX:  # a flood of forged addresses must not grow it for days
            self._cache.clear()
        self._cache[bytes(mac)] = found
        return found

    def _range_name(self, mac: bytes, value: int, low: int, high: int) -> str | None:
        for mask in range(high - 1, low - 1, -1):
            table = self._ranges.get(mask)
            if table is None:
                continue
            short = table.get(_masked(value, mask))
            if short is not None:
                first = mask // 8
                rest = bytearray(mac[first:])
                rest[0] &= 0xFF >> (mask % 8)
                while len(rest) > 1 and rest[0] == 0:  # tshark 4.0 drops leading zero bytes
                    del rest[0]
                return f"{short}_{rest.hex(':')}"
        return None

    def vendor(self, mac: bytes) -> str | None:
        """The long vendor name of the address's 24-bit OUI as manuf (or wka) spells it (eth.src.oui_resolved):
        looked up whatever -n says, the group bit included, as tshark does."""
        if not self._loaded:
            self._load()
        oui = int.from_bytes(mac[:3], "big")
        self._manuf(oui)
        hit = self._oui.get(oui)
        return hit[1] if hit is not None else None

    def resolved(self, mac: bytes) -> str:
        """What tshark puts in a name column or an `*_resolved` field: the name, else the bare address
        (the bare address always when resolution is off)."""
        if self.enabled:
            found = self.name(mac)
            if found is not None:
                return found
        return mac.hex(":")

    def shown(self, mac: bytes) -> str:
        """An address as a tree item shows it: `NAME (addr)` with resolution on (the address twice where it
        has no name, as tshark prints it), the bare address with -n."""
        bare = mac.hex(":")
        if not self.enabled:
            return bare
        return f"{self.resolved(mac)} ({bare})"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


MAC = MacNames()
