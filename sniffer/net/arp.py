"""ARP (and RARP, InARP, DRARP) as tshark 4.0 shows it: the Protocol and Info columns and the decoded layer.

A device that cannot reach its broker often cannot resolve its gateway first, or fights another device
for its IP address; with the capture filter widened (`-f 'arp or port 1883'`) those frames belong beside
its MQTT. Not on the hot path (the summary of IP frames never comes here). Never raises on short data:
a frame cut inside the addresses gives the header items and tshark's `[Malformed Packet: ARP/RARP]`.
"""

from __future__ import annotations

import struct
from typing import Final

from sniffer.fields import WARN, FieldDef, Node, item, note
from sniffer.malformed import malformed
from sniffer.net import fields as F
from sniffer.net.frame import l3_offset
from sniffer.net.names import MAC

OPCODES: Final = F.ARP_OPCODES
# the Protocol column by opcode (ARP for the rest)
_PROTOCOLS: Final = {3: "RARP", 4: "RARP", 5: "DRARP", 6: "DRARP", 7: "DRARP", 8: "Inverse ARP", 9: "Inverse ARP"}
_PROTOCOLS.update({op: "MARS" for op in range(11, 23)})
_PROTOCOLS[23] = "MAPOS"
# MARS and MAPOS Info: "<what> from <hardware address> at <protocol address>"
_FROM: Final = {
    11: "MARS request", 12: "MARS MULTI request", 13: "MARS MSERV request", 14: "MARS JOIN request",
    15: "MARS LEAVE", 16: "MARS NAK", 17: "MARS UNSERV request", 18: "MARS SJOIN request", 19: "MARS SLEAVE",
    20: "MARS grouplist request", 21: "MARS grouplist reply", 22: "MARS redirect map", 23: "MAPOS UNARP request",
}  # fmt: skip
HEADER: Final = 8


class Arp:
    """One ARP message's header and addresses (bytes), and what tshark calls it."""

    __slots__ = ("hrd", "pro", "hln", "pln", "op", "sha", "spa", "tha", "tpa", "complete", "gratuitous", "probe",
                 "announcement")  # fmt: skip

    def __init__(self, data: bytes, off: int) -> None:
        self.hrd, self.pro, self.hln, self.pln, self.op = struct.unpack_from("!HHBBH", data, off)
        p = off + HEADER
        hln, pln = self.hln, self.pln
        self.sha, self.spa = data[p : p + hln], data[p + hln : p + hln + pln]
        self.tha = data[p + hln + pln : p + 2 * hln + pln]
        self.tpa = data[p + 2 * hln + pln : p + 2 * (hln + pln)]
        self.complete = len(data) >= p + 2 * (hln + pln)
        op = self.op
        # same sender and target protocol address: gratuitous (an announcement when no target hardware address)
        self.gratuitous = self.complete and op in (1, 2) and self.spa == self.tpa
        zero_tha = self.tha == bytes(hln)
        self.announcement = self.gratuitous and op == 1 and zero_tha
        self.probe = self.complete and not self.gratuitous and op == 1 and zero_tha and self.spa == bytes(pln)

    @property
    def length(self) -> int:
        """The message's length as its sizes declare it (what follows is the link layer's trailer)."""
        return HEADER + 2 * (self.hln + self.pln)

    def ethernet(self) -> bool:
        return self.hrd in (1, 6) and self.hln == 6

    def ipv4(self) -> bool:
        return self.pro == 0x0800 and self.pln == 4

    def hw(self, b: bytes) -> str:
        return b.hex(":") if self.ethernet() else b.hex()

    def proto(self, b: bytes) -> str:
        return ".".join(str(x) for x in b) if self.ipv4() else b.hex()


def summary(data: bytes, off: int) -> tuple[str, str]:
    """(Protocol, Info) of the ARP message at `off`, as tshark's packet list shows them."""
    if len(data) < off + HEADER:
        return "ARP", "[Malformed Packet]"
    a = Arp(data, off)
    proto = _PROTOCOLS.get(a.op, "ARP")
    if not a.complete:
        return proto, "[Malformed Packet]"
    op, spa, tpa = a.op, a.proto(a.spa), a.proto(a.tpa)
    if op == 1:
        if a.announcement:
            return proto, f"ARP Announcement for {tpa}"
        if a.gratuitous:
            return proto, f"Gratuitous ARP for {tpa} (Request)"
        if a.probe:
            return proto, f"Who has {tpa}? (ARP Probe)"
        return proto, f"Who has {tpa}? Tell {spa}"
    if op == 2:
        return proto, f"Gratuitous ARP for {spa} (Reply)" if a.gratuitous else f"{spa} is at {a.hw(a.sha)}"
    if op in (3, 5, 8):
        return proto, f"Who is {a.hw(a.tha)}? Tell {a.hw(a.sha)}"
    if op in (4, 6):
        return proto, f"{a.hw(a.tha)} is at {tpa}"
    if op == 9:
        return proto, f"{a.hw(a.sha)} is at {spa}"
    if op == 7:
        return proto, "DRARP Error"
    if op == 10:
        return proto, "ARP NAK"
    if op in _FROM:
        return proto, f"{_FROM[op]} from {a.hw(a.sha)} at {spa}"
    if op in (24, 25):
        return proto, f"Experimental {op - 23} ( opcode {op} )"
    if op in (0, 65535):
        return proto, f"Reserved opcode {op}"
    return proto, f"Unknown ARP opcode 0x{op:04x}"


def _coded(fd: FieldDef, value: int, start: int, length: int) -> Node:
    """An item whose value tshark names from a complete table (opcodes, DRARP statuses): a number outside the
    table is "Unknown (N)", not the bare number our other (partial) tables leave it."""
    values = fd.values
    known = values is not None and value in values
    return item(fd, value, start, length, text=None if known else f"{fd.name}: Unknown ({value})")


def _malformed(data: bytes, off: int) -> Node:
    """tshark's item for a message its dissector could not read to the end (an exception)."""
    return malformed("ARP/RARP", off, length=len(data) - off)


def layer(data: bytes, off: int) -> tuple[list[Node], int]:
    """The ARP layer (and tshark's malformed item if the addresses are cut), and where the message ends."""
    if len(data) < off + HEADER:
        return [_malformed(data, off)], len(data)
    a = Arp(data, off)
    name = OPCODES.get(a.op)
    if name is None:
        title = f"Address Resolution Protocol (opcode 0x{a.op:04x})"
    else:
        if a.gratuitous:
            name = "request/gratuitous ARP" if a.op == 1 else "reply/gratuitous ARP"
        if a.probe:
            name = "ARP Probe"
        if a.announcement:
            name = "ARP Announcement"
        title = f"Address Resolution Protocol ({name})"
    end = off + a.length
    top = item(F.ARP, None, off, min(a.length, len(data) - off), text=title if a.complete else title.split(" (")[0])
    kids = top.children
    kids += [
        item(F.ARP_HW_TYPE, a.hrd, off, 2),
        item(F.ARP_PROTO_TYPE, a.pro, off + 2, 2),
        item(F.ARP_HW_SIZE, a.hln, off + 4, 1),
        item(F.ARP_PROTO_SIZE, a.pln, off + 5, 1),
        _coded(F.ARP_OPCODE, a.op, off + 6, 2),
    ]
    if not a.complete:  # tshark stops at the first address it cannot read
        return [top, _malformed(data, off)], len(data)
    for flag, fd in ((a.gratuitous, F.ARP_ISGRATUITOUS), (a.probe, F.ARP_ISPROBE),
                     (a.announcement, F.ARP_ISANNOUNCEMENT)):  # fmt: skip
        if flag:
            kids.append(item(fd, True, 0, 0, text=f"[{fd.name}: True]"))
    p = off + HEADER
    for hw, pa, at, (hw_mac, hw_raw, ipv4, raw) in (
        (a.sha, a.spa, p, (F.ARP_SRC_HW_MAC, F.ARP_SRC_HW, F.ARP_SRC_IPV4, F.ARP_SRC_PROTO)),
        (a.tha, a.tpa, p + a.hln + a.pln, (F.ARP_DST_HW_MAC, F.ARP_DST_HW, F.ARP_DST_IPV4, F.ARP_DST_PROTO)),
    ):
        if a.hln:
            if a.ethernet():
                kids.append(item(hw_mac, hw.hex(":"), at, 6, text=f"{hw_mac.name}: {MAC.shown(hw)}"))
            else:
                kids.append(item(hw_raw, hw, at, a.hln))
        if a.pln and a.op == 7 and hw is a.tha:  # a DRARP error: the target's first byte is the status
            kids.append(_coded(F.ARP_DRARP_ERROR, pa[0], at + a.hln, 1))
        elif a.pln:
            if a.ipv4():
                kids.append(item(ipv4, a.proto(pa), at + a.hln, 4))
            else:
                kids.append(item(raw, pa, at + a.hln, a.pln))
    return [top], end


# (IP, its MAC in this frame, the MAC seen with it before, that frame, seconds since): one duplicate found
Dup = tuple[bytes, bytes, bytes, int, int]
WATCH_MAX: Final = 65536  # IP addresses remembered (a flood of forged ARPs must not grow it for days)


class ArpWatch:
    """tshark's duplicate IP address detection, in the order frames are dissected: each IPv4 address seen in
    ARP with the MAC address that claimed it first (and the frame where it last did); another MAC claiming it is
    reported against that owner, who stays. Kept by the pipeline for a capture; the frames' results travel with
    them (Frame.link_notes)."""

    def __init__(self) -> None:
        self._owners: dict[tuple[int, bytes], list] = {}  # (scope, IP) -> [MAC, frame, whole seconds]
        # the capture source of the frames checked next (sniffer.driver sets it for merged sources): the LANs
        # behind two gateways may use the same addresses for different devices, which is no conflict
        self.scope = 0

    def check(self, number: int, ts: float, linktype: int, data: bytes) -> tuple[Dup, ...]:
        """The duplicates ARP frame `number` reveals (none for other frames)."""
        et, off = l3_offset(linktype, data)
        if et != 0x0806 or len(data) < off + HEADER:
            return ()
        a = Arp(data, off)
        if not (a.complete and a.op in (1, 2) and a.ethernet() and a.ipv4()):
            return ()
        secs = int(ts // 1)
        out: list[Dup] = []
        # the sender's pair, then the target's (a reply's only: a request's target MAC means nothing), each only
        # with a unicast, non-zero MAC and a non-zero IP; one address is reported once per frame
        if _owner_like(a.sha, a.spa):
            self._claim(a.spa, a.sha, number, secs, out)
        if a.op != 1 and _owner_like(a.tha, a.tpa) and not (out and out[-1][0] == a.tpa):
            self._claim(a.tpa, a.tha, number, secs, out)
        return tuple(out)

    def _claim(self, ip: bytes, mac: bytes, number: int, secs: int, out: list[Dup]) -> None:
        key = (self.scope, ip)
        owner = self._owners.get(key)
        if owner is None:
            if len(self._owners) < WATCH_MAX:
                self._owners[key] = [mac, number, secs]
            return
        if number <= owner[1]:
            return
        if owner[0] == mac:
            owner[1], owner[2] = number, secs
        else:
            out.append((ip, mac, owner[0], owner[1], secs - owner[2]))


def _owner_like(mac: bytes, ip: bytes) -> bool:
    return not mac[0] & 1 and any(mac) and any(ip)


def dup_suffix(dups: tuple[Dup, ...]) -> str:
    """The Info column's note of a duplicate, as tshark appends it."""
    return f" (duplicate use of {'.'.join(str(x) for x in dups[-1][0])} detected!)"


def dup_nodes(dups: tuple[Dup, ...]) -> list[Node]:
    """tshark's top-level item per duplicate: the earlier frame (a link) with the expert note, the seconds since."""
    out = []
    for ip_b, mac, earlier, frame, secs in dups:
        ip = ".".join(str(x) for x in ip_b)
        top = Node(None, None, 0, 0,
                   f"[Duplicate IP address detected for {ip} ({mac.hex(':')}) - also in use by {earlier.hex(':')} "
                   f"(frame {frame})]")  # fmt: skip
        link = item(F.ARP_DUPLICATE_FRAME, frame, 0, 0, text=f"[{F.ARP_DUPLICATE_FRAME.name}: {frame}]")
        link.children.append(note(WARN, f"Duplicate IP address configured ({ip})", 0, 0, 0, F.ARP_DUPLICATE))
        top.children += [
            link,
            item(F.ARP_DUPLICATE_SECONDS, secs, 0, 0, text=f"[{F.ARP_DUPLICATE_SECONDS.name}: {secs}]"),
        ]
        out.append(top)
    return out
