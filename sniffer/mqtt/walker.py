"""Cursor helpers that turn MQTT bytes into detail-tree nodes (on demand only).

A `Walker` reads one PDU and adds Wireshark-style items: every node carries
(start, length) = (base + offset in pdu.data, bytes), so the hex pane can
highlight it.  Reading past the end raises `Cut`; dissect.py turns it into a
"[Malformed Packet: MQTT]" item.  Protocol violations become expert notes on
the item they concern.  Property blocks (MQTT 5) are dissected here too.
"""

from __future__ import annotations

from typing import Any, Final

from sniffer.fields import ERROR, FT, WARN, FieldDef, Node, bits, note
from sniffer.mqtt import constants as C
from sniffer.mqtt import fields as F

_BOOLEAN: Final = FT.BOOLEAN  # (`is` against the member: FT.BOOLEAN.value is a Python-level property)


class Cut(Exception):
    """A field runs past the end of the PDU (or is otherwise unreadable)."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def _shift(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


class Walker:
    def __init__(self, data: bytes, base: int, source: int) -> None:
        self.d = data
        self.end = len(data)
        self.base = base
        self.src = source
        self.soft: tuple[str, int, int] | None = None  # first malformation we could step over
        self.overrun = False  # the property block being walked claims more bytes than the packet has

    # ---- nodes -------------------------------------------------------------------

    def node(self, fd: FieldDef | None, value: Any, off: int, ln: int, text: str | None = None) -> Node:
        if text is None:
            assert fd is not None
            text = f"{fd.name}: {fd.display(value)}"
        return Node(fd, value, self.base + off, ln, text, [], self.src)

    def note(self, parent: Node, severity: str, msg: str, off: int, ln: int, fd: FieldDef | None = None) -> Node:
        n = note(severity, msg, self.base + off, ln, self.src)
        n.fdef = fd
        parent.children.append(n)
        return n

    def mark(self, reason: str, off: int, ln: int) -> None:
        """Record a malformation that does not stop the walk (the first one wins)."""
        if self.soft is None:
            self.soft = (reason, off, ln)

    # ---- reads -------------------------------------------------------------------

    def need(self, p: int, n: int, what: str) -> None:
        if p + n > self.end:
            raise Cut(f"{what} cut off", p)

    def u8(self, parent: Node, fd: FieldDef, p: int, what: str) -> int:
        self.need(p, 1, what)
        v = self.d[p]
        parent.children.append(self.node(fd, v, p, 1))
        return v

    def u16(self, parent: Node, fd: FieldDef, p: int, what: str) -> tuple[int, Node]:
        self.need(p, 2, what)
        v = self.d[p] << 8 | self.d[p + 1]
        n = self.node(fd, v, p, 2)
        parent.children.append(n)
        return v, n

    def varint(self, p: int, limit: int, what: str) -> tuple[int, int]:
        value = 0
        for i in range(4):
            if p + i >= limit:
                raise Cut(f"{what} cut off", p)
            b = self.d[p + i]
            value |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                return value, i + 1
        raise Cut(f"{what}: variable byte integer longer than 4 bytes", p)

    def text(self, parent: Node, off: int, ln: int, what: str) -> str:
        """Decode a UTF-8 string field, noting what the spec forbids in it."""
        raw = self.d[off : off + ln]
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            s = raw.decode("utf-8", "replace")
            self.note(parent, WARN, f"Invalid UTF-8 in {what} at byte {e.start}", off, ln)
            return s
        if "\x00" in s:
            self.note(parent, WARN, f"{what} contains U+0000 (not allowed in MQTT strings)", off, ln)
        return s

    def string(
        self, parent: Node, len_fd: FieldDef, fd: FieldDef, p: int, what: str, binary: bool = False
    ) -> tuple[Any, int, Node]:
        """A 2-byte length then the bytes; adds both items; (value, position after, length node)."""
        ln, ln_node = self.u16(parent, len_fd, p, f"{what} length")
        p += 2
        self.need(p, ln, what)
        if binary:
            v: Any = self.d[p : p + ln]
            node = self.node(fd, v, p, ln)
        else:
            node = self.node(fd, "", p, ln)
            v = self.text(node, p, ln, what)
            node.value = v
            node.text = f"{fd.name}: {v}"
        parent.children.append(node)
        return v, p + ln, ln_node

    def bitfield(self, parent: Node, fd: FieldDef, byte: int, p: int) -> Node:
        """One masked sub-field of a flags byte, with Wireshark's bit picture."""
        raw = byte & fd.mask
        if fd.ftype is _BOOLEAN:
            value: Any = bool(raw)
            shown = "Set" if value else "Not set"
        else:
            value = raw >> _shift(fd.mask)
            shown = fd.display(value)
        n = self.node(fd, value, p, 1, f"{bits(byte, fd.mask)} = {fd.name}: {shown}")
        parent.children.append(n)
        return n

    def bitmask(self, parent: Node, fd: FieldDef, subs: tuple[FieldDef, ...], p: int) -> Node:
        """A flags byte and its sub-fields; the summary lists named values and set flags."""
        self.need(p, 1, fd.name)
        byte = self.d[p]
        top = self.node(fd, byte, p, 1)
        summary = [f"{fd.name}: {fd.display(byte)}"]
        for sf in subs:
            n = self.bitfield(top, sf, byte, p)
            if sf.ftype is _BOOLEAN:
                if n.value:
                    summary.append(sf.name)
            elif sf.values is not None:
                summary.append(f"{sf.name}: {sf.values.get(n.value, 'Unknown')}")
        top.text = ", ".join(summary)
        parent.children.append(top)
        return top

    # ---- MQTT 5 properties -------------------------------------------------------

    def properties(self, parent: Node, p: int, ptype: int, will: bool = False) -> tuple[int, int]:
        """Dissect a property block at p; (position after it, topic alias or 0)."""
        n, vlen = self.varint(p, self.end, "property length")
        fd = F.WILL_PROPERTIES if will else F.PROPERTIES
        stop = p + vlen + n
        block = self.node(fd, None, p, min(stop, self.end) - p, fd.name)
        parent.children.append(block)
        block.children.append(self.node(F.PROPERTY_LEN, n, p, vlen))
        self.overrun = stop > self.end
        if stop > self.end:
            self.note(block, ERROR, f"Property length {n} runs past the end of the packet", p, self.end - p)
            # Wireshark reads on until it hits the end; we stop at the packet's end.
            stop = self.end
            self.mark(f"property length {n} exceeds the packet", p, self.end - p)
        where = C.WILL if will else ptype
        seen: set[int] = set()
        alias = 0
        q = p + vlen
        while q < stop:
            try:
                q, a = self._property(block, q, stop, where, seen)
            except Cut as e:
                self.note(block, ERROR, f"Malformed property: {e.reason}", e.offset, stop - e.offset)
                self.mark(e.reason, e.offset, stop - e.offset)
                if stop < self.end:
                    return stop, alias  # the block's end is known: go on after it
                raise
            alias = a or alias
        return stop, alias

    def _property(self, block: Node, q: int, stop: int, where: int, seen: set[int]) -> tuple[int, int]:
        d = self.d
        pid = d[q]
        spec = C.PROPERTIES.get(pid)
        idn = self.node(F.PROPERTY_ID, pid, q, 1)
        if spec is None:
            idn.text = f"ID: Unknown (0x{pid:02x})"
            wrap = self.node(None, None, q, stop - q, f"Unknown property 0x{pid:02x}")
            wrap.children.append(idn)
            if not self.overrun:  # like Wireshark: no item when the block's declared end is beyond the packet
                raw = d[q + 1 : stop]
                wrap.children.append(self.node(F.PROP_UNKNOWN, raw.decode("utf-8", "replace"), q + 1, stop - q - 1))
            self.note(wrap, ERROR, f"Unknown property id 0x{pid:02x}", q, 1)
            block.children.append(wrap)
            self.mark(f"unknown property id 0x{pid:02x}", q, stop - q)
            return stop, 0
        name, _snake, kind, allowed = spec
        p = q + 1
        vals: list[Node] = []
        alias = 0
        if kind in (C.BYTE, C.U16, C.U32):
            size = {C.BYTE: 1, C.U16: 2, C.U32: 4}[kind]
            if p + size > stop:
                raise Cut(f"{name} value cut off", p)
            value: Any = int.from_bytes(d[p : p + size], "big")
            vfd = F.PROPERTY_FIELD[pid] if pid in F.WIRESHARK_VALUE_FIELD else F.PROP_NUMBER
            vals.append(self.node(vfd, value, p, size))
            p += size
            if pid == C.PROP_TOPIC_ALIAS:
                alias = value
        elif kind == C.VARINT:
            value, vlen = self.varint(p, stop, name)
            vals.append(self.node(F.PROP_NUMBER, value, p, vlen))
            p += vlen
        elif kind == C.PAIR:
            holder = Node(None, None, 0, 0, "")
            k, p, _ = self._pstring(holder, F.PROP_KEY_LEN, F.PROP_KEY, p, stop, "user property key")
            v, p, _ = self._pstring(holder, F.PROP_VALUE_LEN, F.PROP_VALUE, p, stop, "user property value")
            vals.extend(holder.children)
            value = f"{k}={v}"
        elif pid == 0x03:  # Content Type: Wireshark shows length and string as one item
            holder = Node(None, None, 0, 0, "")
            value, p2, _ = self._pstring(holder, F.PROP_STRING_LEN, F.PROP_STRING, p, stop, name)
            ct = self.node(F.PROPERTY_FIELD[pid], value, p, p2 - p)
            ct.children.extend(c for c in holder.children[1].children)  # UTF-8 notes, if any
            vals.append(ct)
            p = p2
        else:
            holder = Node(None, None, 0, 0, "")
            vfd = F.PROP_SECRET_STRING if pid == F.AUTH_DATA_ID else F.PROP_STRING
            value, p, _ = self._pstring(holder, F.PROP_STRING_LEN, vfd, p, stop, name, kind == C.BINARY)
            vals.extend(holder.children)
        if pid in F.WIRESHARK_VALUE_FIELD:
            wrap = self.node(None, None, q, p - q, f"{name}: {F.PROPERTY_FIELD[pid].display(value)}")
        else:
            wrap = self.node(F.PROPERTY_FIELD[pid], value, q, p - q)
        wrap.children.append(idn)
        wrap.children.extend(vals)
        block.children.append(wrap)
        if pid in seen and not (pid == 0x26 or (pid == 0x0B and where == C.PUBLISH)):
            self.note(wrap, WARN, f"Duplicate property {name} (protocol error)", q, p - q)
        seen.add(pid)
        if where not in allowed:
            where_name = "Will Properties" if where == C.WILL else C.MSGTYPE_NAMES[where]
            self.note(wrap, WARN, f"{name} is not allowed in {where_name}", q, p - q)
        self._check_value(wrap, pid, name, value, q, p - q)
        return p, alias

    def _pstring(
        self, parent: Node, len_fd: FieldDef, fd: FieldDef, p: int, stop: int, what: str, binary: bool = False
    ) -> tuple[Any, int, Node]:
        """A property string: like string() but bounded by the property block and shown as text."""
        if p + 2 > stop:
            raise Cut(f"{what} length cut off", p)
        ln = self.d[p] << 8 | self.d[p + 1]
        ln_node = self.node(len_fd, ln, p, 2)
        parent.children.append(ln_node)
        if p + 2 + ln > stop:
            raise Cut(f"{what} runs past the property block", p + 2)
        raw = self.d[p + 2 : p + 2 + ln]
        node = self.node(fd, "", p + 2, ln)
        if binary:
            text = raw.decode("utf-8", "replace")
            value: Any = raw
        else:
            text = value = self.text(node, p + 2, ln, what)
        node.value = text
        node.text = f"{fd.name}: {text}"
        parent.children.append(node)
        return value, p + 2 + ln, ln_node

    def _check_value(self, wrap: Node, pid: int, name: str, value: Any, q: int, ln: int) -> None:
        bad = False
        if pid in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
            bad = value > 1
        elif pid in (0x0B, 0x21, 0x23, 0x27):
            bad = value == 0
        if bad:
            self.note(wrap, WARN, f"{name} value {value} is not allowed (protocol error)", q, ln)
