"""The dissecting pipeline: raw frames in, summary rows and MQTT PDUs out.

One `Dissector` per capture. `frame()` is the per-frame hot path: a flat
struct parse of link/IP/TCP (sniffer.net.frame), TCP reassembly per direction,
MQTT framing per direction, and the Info text. No tree is built here; a
`Frame` builds its detail tree (Frame, link, IP, TCP, MQTT nodes) only when
asked, for -V, JSON, fields output or the UI's selected packet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, TypeVar

import sniffer.tls.fields  # noqa: F401  (registers tls.*; the TLS code itself loads on first use)
from sniffer import credentials, payload
from sniffer.fields import FT, LABEL_BYTES, FieldDef, Node, bytes_label, item, register
from sniffer.interfaces import DESCRIPTIONS
from sniffer.mqtt import dissect as mqtt_dissect
from sniffer.mqtt.decoder import PDU, PREFIX, DirectionDecoder, Session
from sniffer.mqtt.secrets import MAX_PARSE, SECRET_TYPES, held_frame_ranges, secret_ranges
from sniffer.net import arp
from sniffer.net import frame as netframe
from sniffer.net.arp import ArpWatch, Dup
from sniffer.net.fields import (
    FRAME_INTERFACE_DESCRIPTION,
    FRAME_INTERFACE_ID,
    FRAME_INTERFACE_NAME,
    FRAME_SECTION_NUMBER,
    IP_REASSEMBLY,
    IPV6_REASSEMBLY,
)
from sniffer.net.fields import IP as F_IP
from sniffer.net.fields import IPV6 as F_IPV6
from sniffer.net.frame import addr_str, parse_tcp
from sniffer.net.pcapfile import float_us_ns
from sniffer.net.reassembly import SEGMENT_SUFFIX, Seg, TcpStreams, analysis_prefix, tcp_info
from sniffer.net.tree import NET_LAYERS, dissect_layers
from sniffer.session.backfill import Backfill
from sniffer.session.tracker import Tracker
from sniffer.session.tree import add_expert_items, annotate, close_node
from sniffer.textesc import escape
from sniffer.ws.conn import WsConnection, WsDirection
from sniffer.ws.http import is_mqtt_upgrade

SEGMENT_TEXT: Final = SEGMENT_SUFFIX.strip()  # an Info ending in it: the segment waits for the rest of a PDU
DEFAULT_PORTS: Final = frozenset({1883})
DEFAULT_TLS_PORTS: Final = frozenset({8883})  # and 443 when the ClientHello's ALPN offers MQTT
DEFAULT_MAX_PDU: Final = 16 * 1024 * 1024
# All bytes of unfinished PDUs held across every connection (--max-buffered): a peer that sends
# most of a large PDU and stops costs memory until its connection ends; beyond this, the oldest
# holder gives its PDU up (shown malformed, "dropped"), so the total stays bounded.
DEFAULT_MAX_BUFFERED: Final = 64 * 1024 * 1024

# The bytes of an MQTT PDU that spans several segments are shown, like Wireshark,
# as a separate data source of the frame in which the PDU completes.
F_REASSEMBLED: Final = register("tcp.reassembled.length", "Reassembled TCP length", FT.UINT, size=4)
F_SEGMENTS: Final = register("tcp.segments", "Reassembled TCP Segments", FT.NONE)
F_SEGMENT: Final = register("tcp.segment", "TCP segment", FT.UINT, size=4)
F_SEGMENT_COUNT: Final = register("tcp.segment.count", "Segment count", FT.UINT, size=4)
F_REASSEMBLED_DATA: Final = register("tcp.reassembled.data", "Reassembled TCP Data", FT.BYTES)

# Info of a frame, formatted when first read: plain TCP, a middle segment of an MQTT PDU,
# the first segment of one, or the MQTT PDUs' own Info.
INFO_TCP, INFO_SEGMENT, INFO_FIRST_SEGMENT, INFO_MQTT = range(4)


class MqttConnection:
    """MQTT state of one TCP stream: a shared session and one decoder per direction; `tls` when the
    stream is TLS (its records are decrypted and the plaintext fed to the decoders, sniffer.tls); `ws`
    when MQTT may ride WebSocket (an HTTP Upgrade; inside TLS, if the plaintext starts with one), whose
    per-direction de-framers sit in front of the decoders (sniffer.ws)."""

    __slots__ = ("session", "decoders", "tls", "ws")

    def __init__(self, max_pdu: int = DEFAULT_MAX_PDU, tls: Any = None, ws: bool = False) -> None:
        self.session = Session()  # (defaults for all: a stream's checkpoint is unpickled, sniffer.replay)
        self.decoders = (
            DirectionDecoder(self.session, True, max_pdu),
            DirectionDecoder(self.session, False, max_pdu),
        )
        self.tls = tls  # a sniffer.tls.conn.TlsConnection, or None for plain TCP
        self.ws = WsConnection(self.decoders, max_pdu, auto=tls is not None) if ws or tls is not None else None


def _pdu_size(pdu: PDU) -> int:
    """tshark's [PDU Size]: the length the fixed header declares (more than the bytes a short snapshot kept)."""
    return pdu.hdr_len + pdu.remaining if pdu.remaining >= 0 and pdu.hdr_len else len(pdu.data)


def whole_at(pdu: PDU, number: int) -> tuple[int, int] | None:
    """(offset, length) of the PDU in frame `number` if it lies whole there, else None (TCP reassembled it)."""
    spans = pdu.spans
    if len(spans) == 1:
        tag, chunk_off, pdu_off, length = spans[0]
        if tag is not None and tag[0] == number and pdu_off == 0 and length == len(pdu.data):
            return tag[1] + chunk_off, length
    return None


def frame_info(
    code: int, pdus: list[PDU] | None, seg: Seg | None, toff: int, data: bytes, linktype: int, arrow: str = "\u2192"
) -> str:
    """The Info text of a TCP frame from its INFO_* code (Frame.info and the headless summary); `arrow`
    between the ports as tcp_info() takes it."""
    if pdus:
        if len(pdus) == 1:
            return mqtt_dissect.info(pdus[0])
        return mqtt_dissect.cut_info(", ".join([mqtt_dissect.info(p) for p in pdus]))
    if code == INFO_FIRST_SEGMENT:
        # A PDU starts here and completes later: Wireshark shows only this, after the analysis
        # notes it fences off ("[TCP Previous segment not captured]  [TCP segment of a reassembled PDU]").
        if seg is not None and seg.analysis:
            return analysis_prefix(seg.analysis, (seg.dupack_frame, seg.dupack_num)) + SEGMENT_SUFFIX
        return SEGMENT_SUFFIX.lstrip()
    assert seg is not None  # every TCP frame has one
    if seg.ipfrag is not None:  # a segment IP fragments carried: its header is in the reassembled bytes
        data = seg.ipfrag[1]
    if toff < 0:
        parsed = netframe.parse(linktype, data)
        toff = netframe.tcp_header_offset(data, parsed) if parsed is not None else -1
    options = seg.options
    hend = toff + (data[toff + 12] >> 4) * 4 if toff >= 0 else 0  # where the TCP header ends
    if not options and toff >= 0:  # segment() keeps the options of SYNs only; Info reads them from the frame
        options = data[toff + 20 : hend]  # (those the snapshot length left, if it cut them)
    text = tcp_info(
        seg.sport,
        seg.dport,
        seg.flags,
        seg.seq,
        seg.ack,
        seg.win,
        seg.length,
        options,
        seg.analysis,
        sack_base=seg.ack_base,
        pdu_segment=code == INFO_SEGMENT,
        arrow=arrow,
        dupack=(seg.dupack_frame, seg.dupack_num),
    )
    # the header itself cut by the snapshot length: tshark's exception text, after what it could read
    return text + mqtt_dissect.LIMITED_INFO if hend > len(data) else text


class Frame:
    """One captured frame: its summary row, raw bytes and the MQTT PDUs completed in it.

    Addresses and the Info text are formatted only when read: `-T fields` of MQTT
    fields never pays for them.
    """

    __slots__ = (
        "number",
        "ts",
        "rel_ts",
        "delta",
        "linktype",
        "data",
        "orig_len",
        "proto",
        "stream",
        "seg",
        "pdus",
        "addrs",
        "_src",
        "_dst",
        "_info",
        "_toff",
        "held_secret",
        "iface",
        "ifid",
        "exact",
        "shown",
        "link_notes",
    )

    def __init__(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
        held_secret: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.number = number
        self.ts = ts
        self.rel_ts = rel_ts
        self.delta = delta
        self.linktype = linktype
        self.data = data
        self.orig_len = orig_len
        self.proto = proto
        self.stream = stream
        self.seg = seg
        self.pdus = pdus if pdus is not None else []
        self.addrs = addrs
        self._src = src
        self._dst = dst
        self._info = info  # the text, or one of the INFO_* codes for TCP frames
        self._toff = toff  # offset of the TCP header in data, -1 if not known
        # frame offsets of secret bytes of a CONNECT/CONNACK/AUTH not complete in this frame (masked in dumps)
        self.held_secret = held_secret
        # the capture interface of a frame read from a pcapng or merged from several sources: its name ("" if it
        # has none) and id (frame.interface_name, frame.interface_id; -1: a plain pcap or a single live source)
        self.iface = ""
        self.ifid = -1
        # (time, relative time, delta in integer ns, the Time column's decimals) when the source does not
        # stamp in microseconds (a live capture, a nanosecond file): frame.time* to the ns, as tshark's
        self.exact: tuple[int, int, int, int] | None = None
        # under a display filter, (seconds, ns) since the previous displayed frame (frame.time_delta_displayed;
        # set by the filter, sniffer.cli), else None: every frame is displayed
        self.shown: tuple[float, int] | None = None
        # what a frame below IP says of others, kept with it: ARP's duplicate IP addresses (sniffer.net.arp)
        self.link_notes: tuple[Dup, ...] = ()

    @property
    def src(self) -> str:
        s = self._src
        if not s and self.addrs is not None:
            a = self.addrs
            s = self._src = addr_str(a[0], a[1])
        return s

    @property
    def dst(self) -> str:
        s = self._dst
        if not s and self.addrs is not None:
            a = self.addrs
            s = self._dst = addr_str(a[0], a[2])
        return s

    @property
    def info(self) -> str:
        info = self._info
        if isinstance(info, str):
            return info
        text = self._info = frame_info(info, self.pdus, self.seg, self._toff, self.data, self.linktype)
        return text

    def _mqtt_layers(self, media: bool) -> str:
        """frame.protocols above TCP of the MQTT PDUs, as tshark lists them: `mqtt`, then (`media`) the layers of
        the dissectors the payloads' Content Types are handed to (mqtt:json, mqtt:xml:json); a first PDU begun
        in an earlier segment is dissected apart from the rest, which list `mqtt` again (mqtt:json:mqtt:xml)."""
        pdus = self.pdus
        if not pdus:
            return ""
        seg = self.seg  # (over TLS or WebSocket, PDUs lie in the records' data: no location in the frame)
        plain = seg is not None and seg.tls is None and seg.ws is None
        if plain and len(pdus) > 1 and self.pdu_location(pdus[0]) is None:
            if not media:
                return "mqtt:mqtt"
            return f"mqtt{mqtt_dissect.payload_layers(pdus[:1])}:mqtt{mqtt_dissect.payload_layers(pdus[1:])}"
        return "mqtt" + mqtt_dissect.payload_layers(pdus) if media else "mqtt"

    def _tls_layers(self, media: bool) -> str:
        """frame.protocols above TCP of a TLS frame, as tshark lists them: `tls` per hand-off of TCP (a record
        finished from earlier segments, then the rest of the segment: tls:mqtt:tls:mqtt), and in each, `mqtt`
        (with the payloads' layers if `media`) per hand-off of TLS to MQTT (sniffer.tls.layers)."""
        from sniffer.tls.layers import handoffs

        seg = self.seg
        assert seg is not None and seg.tls is not None
        return ":".join(
            "tls" + "".join(":mqtt" + (mqtt_dissect.payload_layers(g) if media else "") for g in groups)
            for groups in handoffs(seg.tls, self.pdus)
        )

    def _tcp(self, media: bool) -> dict:
        """What the TCP tree needs: this frame's Seg and the protocols above TCP (`media`: with the payloads'
        layers, which parse a JSON payload)."""
        seg = self.seg
        if seg is not None and seg.tls is not None and seg.ws is None:
            return {"seg": seg, "upper": self._tls_layers(media), "tail": self._segment_data()}
        mqtt = self._mqtt_layers(media)
        upper = "" if seg is None else "tls" if seg.tls is not None else mqtt
        if seg is not None and seg.ws is not None:  # as Wireshark: tcp:http:websocket, tcp:tls:http:websocket
            ws_frames = any(r[0] == "ws" for r in seg.ws[0])
            upper = "http:websocket" + (":" + mqtt if mqtt else "") if ws_frames else "http"
            upper = "tls:" + upper if seg.tls is not None else upper
        return {"seg": seg, "upper": upper, "tail": self._segment_data()}

    def _segment_data(self) -> tuple[list[tuple[int, int, int, int]], int]:
        """What tshark's TCP desegmentation adds under TCP: ([(kind, value, offset, length)], held) with kind 0
        a PDU's [PDU Size] (plain MQTT: each PDU this frame completes, over its bytes here) and kind 1 the
        "TCP segment data" of one reassembled from earlier segments; `held`: the frame offset from which the
        rest of the payload waits for a PDU or TLS record still to complete (a segment data item too), -1 none."""
        seg = self.seg
        out: list[tuple[int, int, int, int]] = []
        if seg is None or not seg.length:
            return out, -1
        pdus = self.pdus
        tls = seg.tls
        if tls is not None and seg.ws is None:
            # TLS: MQTT's PDU sizes, hand-off after hand-off, and the bytes of a record TCP reassembled or of one
            # this segment begins
            from sniffer.tls.layers import handoffs

            split, _rest, tail, pieces, sized, _http = tls[5]
            hand = handoffs(tls, pdus)
            for k, groups in enumerate(hand):
                for g in groups:
                    for p in g:
                        if sized > 0:
                            out.append((0, _pdu_size(p), 0, 0))
                        sized -= 1
                if k == 0 and split and pieces and pieces[-1][0] == self.number:
                    out.append((2, 0, 0, pieces[-1][1]))
            return out, tail
        if not pdus or seg.ws is not None:
            # (inside WebSocket the PDUs are the frames' data: only a segment held whole is told)
            info = self._info
            held = info in (INFO_SEGMENT, INFO_FIRST_SEGMENT) if isinstance(info, int) else info.endswith(SEGMENT_TEXT)
            return out, 0 if held and not pdus else -1
        number, last = self.number, 0
        for pdu in pdus:
            loc = self.pdu_location(pdu)
            if loc is not None:
                out.append((0, _pdu_size(pdu), loc[0], loc[1]))
                last = loc[0] + loc[1]
                continue
            tag, chunk_off, _pdu_off, length = pdu.spans[-1] if pdu.spans else (None, 0, 0, 0)
            if tag is None or tag[0] != number:
                continue  # (completed by the connection's end, not by bytes of this frame)
            at = tag[1] + chunk_off
            out += [(0, _pdu_size(pdu), at, length), (1, 0, at, length)]
            last = at + length
        return out, last if out else -1

    @property
    def malformed(self) -> bool:
        return any(p.error is not None for p in self.pdus)

    def pdu_location(self, pdu: PDU) -> tuple[int, int] | None:
        """(frame offset of the PDU's first byte, length) if the PDU lies whole in this frame, else None."""
        return whole_at(pdu, self.number)

    def _sources(self) -> list[tuple[str, bytes]]:
        if self.seg is not None and self.seg.tls is not None:
            from sniffer.tls import tree as tls_tree

            return tls_tree.sources(self)
        if self.seg is not None and self.seg.ws is not None:
            from sniffer.ws import tree as ws_tree

            return ws_tree.sources(self, [(f"Frame ({len(self.data)} bytes)", self.data)])
        out = [(f"Frame ({len(self.data)} bytes)", self.data)]
        for pdu in self.pdus:
            if self.pdu_location(pdu) is None:
                out.append((f"Reassembled TCP ({len(pdu.data)} bytes)", pdu.data))
        return out

    def sources(self) -> list[tuple[str, bytes]]:
        """The data sources of this frame: the frame itself, the segment IP fragments carried if this frame
        completed one, then each reassembled PDU (TLS record, WebSocket payload)."""
        out = self._sources()
        seg = self.seg
        if seg is not None and seg.ipfrag is not None:
            base, whole, _parts, ipver, _at = seg.ipfrag
            out.insert(1, (f"Reassembled IPv{ipver} ({len(whole) - base} bytes)", whole[base:]))
        return out

    def tree(self, protocols: Iterable[str] | None = None) -> list[Node]:
        """The full detail tree, built on demand. `protocols` limits it to those layers."""
        want = None if protocols is None or "_ws" in protocols else set(protocols)
        nodes: list[Node] = []
        if want is None or want & NET_LAYERS:
            nodes.extend(
                dissect_layers(
                    self.linktype,
                    self.data,
                    self.number,
                    self.ts,
                    self.rel_ts,
                    self.orig_len,
                    # (the payloads' layers in frame.protocols only where it is shown: a JSON payload is parsed
                    # to name them)
                    self._tcp(want is None or "frame.protocols" in want) if self.seg is not None else {},
                    self.delta,
                    self.exact,
                    self.shown,
                    self.link_notes,
                )
            )
            if self.ifid >= 0 and nodes:
                _interface_items(nodes[0], self.ifid, self.iface)
        decode = payload.wanted(want)  # payload decoders only where an output asks for what they show
        seg = self.seg
        if seg is not None and seg.tls is not None:
            if want is None or decode or not want.isdisjoint(("tls", "mqtt", "websocket", "http")):
                from sniffer.tls import tree as tls_tree

                nodes.extend(tls_tree.nodes(self, want, decode))
        elif seg is not None and seg.ws is not None:
            from sniffer.ws import tree as ws_tree

            nodes.extend(ws_tree.nodes(self, want, 0, 0, decode))
        elif self.pdus and (want is None or "mqtt" in want or decode):
            source = 0
            for pdu in self.pdus:
                loc = self.pdu_location(pdu)
                if loc is not None:
                    node = mqtt_dissect.dissect(pdu, loc[0], 0)
                else:
                    source += 1
                    nodes.append(self._reassembly_node(pdu, source))
                    node = mqtt_dissect.dissect(pdu, 0, source)
                if decode:
                    decode_payload(node, pdu, self.ts)
                annotate(node, pdu.ann)
                nodes.append(node)
                bad = mqtt_dissect.split_cut(node)
                if bad is not None:
                    nodes.append(bad)
        if seg is not None and seg.session_notes and (want is None or "mqtt" in want):
            nodes.append(close_node(seg.session_notes, 0))
        if seg is not None and seg.ipfrag is not None:
            self._reassembled_ip(nodes, seg.ipfrag)
        add_expert_items(nodes)
        return nodes

    def _reassembled_ip(self, nodes: list[Node], ipfrag: tuple) -> None:
        """A frame that completed a segment IP fragments carried: its items past the frame's own bytes move to
        the "Reassembled IPv4/IPv6" data source (the second, as in tshark), and the IP layer gets tshark's
        "[N IPv4 Fragments (X bytes): #8(552), #9(552), #10(242)]" item."""
        base, whole, parts, ipver, _at = ipfrag
        # (the layers above TCP number their sources from 1, as if the segment lay in the frame: those move up
        # one, and what lies past the frame's own bytes moves to source 1, the reassembled datagram)
        k = 1
        for top in nodes:
            for n in top.walk():
                if n.source:
                    n.source += 1
                elif n.start >= base:
                    n.source = k
                    n.start -= base
        ip_field = F_IP if ipver == 4 else F_IPV6
        for top in nodes:
            if top.fdef is ip_field:
                listing = [(no, length) for no, _off, length in parts]
                fields = IP_REASSEMBLY if ipver == 4 else IPV6_REASSEMBLY
                starts = [off for _no, off, _length in parts]
                frags = top.add(reassembly_node(listing, whole[base:], k, None, fields, starts))
                if ipver == 4:  # (tshark 4.0: ip.fragments holds the bytes, ipv6.fragments nothing)
                    frags.value = whole[base:]
                break

    def _reassembly_node(self, pdu: PDU, source: int) -> Node:
        """Wireshark's "[N Reassembled TCP Segments (X bytes): #4(1448), #5(52)]" item of a PDU."""
        parts: list[tuple[int, int]] = []
        for tag, _chunk_off, _pdu_off, length in pdu.spans:
            no = tag[0] if tag is not None else 0
            if parts and parts[-1][0] == no:
                parts[-1] = (no, parts[-1][1] + length)
            else:
                parts.append((no, length))
        return reassembly_node(parts, pdu.data, source, data_label(pdu))


def _interface_items(frame: Node, ifid: int, name: str) -> None:
    """tshark's interface items, first in the frame layer: "on interface eth0, id 0" in its title, the section,
    the interface's id, name and description (a pcapng of one section: files of several are numbered 1 too)."""
    value = name or "unknown"
    shown = escape(value)  # (a file's text: what a terminal could act on is escaped, tshark's tree escapes it once)
    frame.text += f" on interface {shown}, id {ifid}"
    iface = item(FRAME_INTERFACE_ID, ifid, 0, 0, text=f"Interface id: {ifid} ({shown})")
    iface.children.append(item(FRAME_INTERFACE_NAME, value, 0, 0, text=f"Interface name: {shown}"))
    desc = DESCRIPTIONS.get((ifid, name))
    if desc:
        text = f"Interface description: {escape(desc)}"
        iface.children.append(item(FRAME_INTERFACE_DESCRIPTION, desc, 0, 0, text=text))
    frame.children[0:0] = [item(FRAME_SECTION_NUMBER, 1, 0, 0), iface]


def data_label(pdu: PDU) -> str:
    """A reassembled PDU's bytes as its "[Reassembled … data: …]" label shows them (the first 36 in hex), the
    bytes of a password or Authentication Data as ** (a label is text: the outputs' masking does not reach it)."""
    if pdu.msgtype not in SECRET_TYPES:
        return bytes_label(pdu.data)
    shown = pdu.data[:LABEL_BYTES]
    out = [f"{b:02x}" for b in shown]
    for a, b in secret_ranges(bytes(shown), pdu.msgtype) if pdu.error is None else [(0, len(shown))]:
        out[a:b] = ["**"] * (b - a)
    return "".join(out) + ("…" if len(pdu.data) > LABEL_BYTES else "")


TCP_REASSEMBLY: Final = (F_SEGMENTS, F_SEGMENT, F_SEGMENT_COUNT, F_REASSEMBLED, F_REASSEMBLED_DATA)


def reassembly_node(
    parts: list[tuple[int, int]] | tuple[tuple[int, int], ...],
    data: bytes,
    source: int,
    label: str | None = None,
    fields: tuple[FieldDef, ...] = TCP_REASSEMBLY,
    starts: list[int] | None = None,
) -> Node:
    """Wireshark's "[N Reassembled TCP Segments (X bytes): #4(1448), #5(52)]" item (tcp.segments) of `data`,
    reassembled from (frame, length) parts, its bytes in data source `source`; `label`: its bytes as shown.
    `fields`: the item's, its frames', count's, length's and data's (TLS's: "[N Reassembled TLS segments]");
    `starts`: where each part begins in `data` (IP fragments may overlap), else one after the other."""
    segments, segment, count, length, whole = fields
    n = len(data)
    listing = ", ".join(f"#{no}({k})" for no, k in parts)
    top = Node(segments, None, 0, n, f"[{len(parts)} {segments.name} ({n} bytes): {listing}]", [], source)
    pos = 0
    for i, (no, k) in enumerate(parts):
        if starts is not None:
            pos = starts[i]
        top.add(item(segment, no, pos, k, source, text=f"[Frame: {no}, payload: {pos}-{pos + k - 1} ({k} bytes)]"))
        pos += k
    top.add(item(count, len(parts), 0, 0, source, text=f"[{count.name}: {len(parts)}]"))
    top.add(item(length, n, 0, n, source, text=f"[{length.name}: {n}]"))
    shown = whole.display(data) if label is None else label
    top.add(item(whole, data, 0, n, source, text=f"[{whole.name}: {shown}]"))
    return top


def decode_payload(node: Node, pdu: PDU, ts: float, hello: tuple | None = None) -> None:
    """A PUBLISH's payload decoded (sniffer.payload), a CONNECT's cloud credentials read
    (sniffer.credentials), under the PDU's tree `node`: plain MQTT and MQTT inside TLS alike
    (`hello`: the TLS connection's SNI, ALPN and server port, sniffer.credentials.aws)."""
    if pdu.msgtype == 3:
        payload.attach(node, pdu.topic or "")
    elif pdu.msgtype == 1:
        credentials.attach(node, ts, hello)


def inner_pdu_nodes(
    frame: Frame,
    at_of: Callable[[PDU, int], int],
    inner_source: int,
    source: int,
    decode: bool,
    pdus: list[PDU] | None = None,
) -> list[Node]:
    """The MQTT trees of a frame whose PDUs came out of another layer (decrypted TLS, unmasked
    WebSocket): a PDU lying whole in that layer's bytes (at_of(pdu, frame number) >= 0) points into
    source `inner_source`, one reassembled from several frames gets a source of its own after `source`.
    `pdus`: those of the frame's PDUs to show (all by default)."""
    out: list[Node] = []
    seg = frame.seg
    hello = seg.tls[4] if seg is not None and seg.tls is not None else None  # (what a CONNECT's AWS IoT checks need)
    if hello is not None and seg is not None and seg.ws is not None:
        hello = (*hello[:3], True)
    for pdu in frame.pdus if pdus is None else pdus:
        at = at_of(pdu, frame.number)
        if at >= 0:
            node = mqtt_dissect.dissect(pdu, at, inner_source)
        else:
            source += 1
            node = mqtt_dissect.dissect(pdu, 0, source)
        if decode:
            decode_payload(node, pdu, frame.ts, hello)
        annotate(node, pdu.ann)
        out.append(node)
        bad = mqtt_dissect.split_cut(node)
        if bad is not None:
            out.append(bad)
    return out


def _looks_like_connect(payload: bytes | memoryview) -> bool:
    """A plausible MQTT CONNECT at the start of a client's first segment (for ports not named)."""
    if len(payload) < 12 or payload[0] != 0x10:
        return False
    i, n = 1, 0
    while i < 5 and i < len(payload) and payload[i] & 0x80:
        i += 1
    n = i + 1
    if n + 8 > len(payload):
        return False
    name = bytes(payload[n : n + 8])
    return name.startswith(b"\x00\x04MQTT") or bytes(payload[n : n + 8]) == b"\x00\x06MQIs"


def _drain(dec: DirectionDecoder, out: list[PDU]) -> None:
    pdu = dec.next_pdu()
    while pdu is not None:
        out.append(pdu)
        pdu = dec.next_pdu()


def _feed(conn: MqttConnection, direction: int, events: list[tuple], tag: tuple[int, int], out: list[PDU]) -> None:
    """Feed reassembly events to one direction's decoder; collect the PDUs they complete."""
    dec = conn.decoders[direction]
    number, poff = tag
    for ev in events:
        kind = ev[0]
        if kind == "data":
            dec.feed_into(ev[1], (number, poff + ev[2]), out)
        elif kind == "late":
            # Bytes filling a hole declared lost: decoded on their own, from the first plausible
            # fixed header (Wireshark does the same with an out-of-order segment).
            alone = DirectionDecoder(conn.session, direction == 0, dec.max_pdu)
            alone.resync()
            alone.feed_into(ev[1], (number, poff + ev[2]), out)
            alone.salvage()
            _drain(alone, out)
            pdu = alone.close("out-of-order segment ended")
            if pdu is not None:
                out.append(pdu)
                _drain(alone, out)
        else:
            dec.gap(ev[1], kind == "cut")
            _drain(dec, out)


def unfinished_note(pdus: list[PDU]) -> str:
    """The TCP-level note for PDUs that a connection's end left unfinished."""
    parts = []
    for p in pdus:
        frames = sorted({abs(sp[0][0]) for sp in p.spans if sp[0] is not None})  # (TLS tags are negative)
        if p.msgtype < 0:  # skipped bytes: their count is in the reason, their first PREFIX bytes are kept
            more = len(frames) > 8 or len(p.data) >= PREFIX
            where = ", ".join(f"#{n}" for n in frames[:8]) + (", …" if more else "")
            parts.append(f"{mqtt_dissect.JUNK_NAME} (frames {where}): {p.error}")
            continue
        where = ", ".join(f"#{n}" for n in frames[:8]) + (", …" if len(frames) > 8 else "")
        name = mqtt_dissect.C.MSGTYPE_LIST[p.msgtype]
        parts.append(f"{len(p.data)} bytes of an unfinished MQTT PDU ({name}; frames {where}): {p.error}")
    return "Connection closed with " + "; ".join(parts)


Row = TypeVar("Row")


class RowDissector(Generic[Row]):
    """Turns raw frames into rows, keeping TCP and MQTT state across them.

    frame() does the work of every frame and hands the row's fields (Frame's arguments)
    to _row(), which subclasses define: a `Frame` (Dissector), or for the headless
    summary (sniffer.output.summary) the summary line itself.
    """

    def __init__(
        self,
        mqtt_ports: Iterable[int] = DEFAULT_PORTS,
        max_pdu: int = DEFAULT_MAX_PDU,
        detect: bool = True,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        sessions: bool = True,
        record: bool = False,
        prefill: Backfill | None = None,
        *,
        tls_ports: frozenset[int] = DEFAULT_TLS_PORTS,
        tls_keylog: Any = None,
    ) -> None:
        self.ports = frozenset(mqtt_ports)
        # The session layer (sniffer.session): `record` keeps what later frames change in earlier
        # ones (tracker.backfill), `prefill` applies such a record from a first pass (-2).
        self.tracker: Tracker | None = Tracker(record, prefill) if sessions else None
        self.max_pdu = max_pdu
        self.detect = detect
        self.max_buffered = max_buffered
        self.streams = TcpStreams(self.ports)
        # TLS (sniffer.tls): ports whose connections are TLS, and the key log (a sniffer.tls.keylog.KeyLog)
        self.tls_ports = tls_ports
        self.tls_keylog = tls_keylog
        self.mqtt: dict[int, MqttConnection | None] = {}
        # Decoders holding bytes of an unfinished PDU -> bytes held, oldest first (insertion order),
        # and their total: the cap on buffered bytes applies to all connections together.
        self.holders: dict[DirectionDecoder | WsDirection, int] = {}  # (WebSocket: a frame held until whole)
        self.buffered = 0
        self.dropped_pdus = 0  # PDUs given up because the cap was reached (status bar, exit counts)
        self.first_ts: float | None = None
        self.prev_ts: float | None = None
        # Stamps in integer ns (frame()'s `ns`): a float of seconds since 1970 holds only ~0.24 us, so the
        # times tshark shows to the nanosecond are counted in integers beside it. row_ns is the frame's
        # (None: no exact stamp, or none for the first or previous frame), with row_rel_ns/row_delta_ns
        # and row_digits, the decimals of its Time column.
        self.first_ns: int | None = None
        self.prev_ns: int | None = None
        self.row_ns: int | None = None
        self.row_rel_ns = 0
        self.row_delta_ns = 0
        self.row_digits = 9
        # secret byte ranges of the frame being made (Frame.held_secret), set by frame() for _row()
        self.held_secret: tuple[tuple[int, int], ...] = ()
        # ARP's duplicate IP addresses (sniffer.net.arp): the capture's owners, and the frame being made's finds
        self.arp = ArpWatch()
        self.link_notes: tuple[Dup, ...] = ()
        # TCP segments a router fragmented (sniffer.net.ipfrag, imported at the first frame that is not plain TCP:
        # most captures have none, and start-up pays for every import)
        self.defrag: Any = None

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> Row:
        raise NotImplementedError

    def _forget(self) -> None:
        streams = self.streams
        for index in streams.forgotten:
            conn = self.mqtt.pop(index, None)
            if conn is not None:
                for dec in (*conn.decoders, *(conn.ws.dirs if conn.ws is not None else ())):
                    if dec in self.holders:
                        self._account(dec, 0)
        streams.forgotten.clear()

    def cap_message(self) -> str:
        """One line for the user once the cap on buffered bytes made PDUs be given up, else ""."""
        if not self.dropped_pdus:
            return ""
        return (
            f"the cap on bytes held for unfinished PDUs ({self.max_buffered} bytes, --max-buffered) was "
            f"reached: {self.dropped_pdus} PDUs were given up (shown as malformed, 'dropped')"
        )

    def _account(self, dec: DirectionDecoder | WsDirection, held: int) -> None:
        """Record that `dec` now holds `held` bytes; over the cap, the oldest holders give up."""
        holders = self.holders
        self.buffered += held - holders.get(dec, 0)
        if held:
            holders[dec] = held  # a new holder goes last; one already there keeps its place (its age)
        else:
            holders.pop(dec, None)
        while self.buffered > self.max_buffered and holders:
            oldest = next(iter(holders))
            self.buffered -= holders.pop(oldest)
            oldest.evict(f"the {self.max_buffered}-byte cap on bytes held for unfinished PDUs was reached")
            self.dropped_pdus += 1

    def _exact_times(self, ns: int | None, first: bool) -> None:
        """row_ns, row_rel_ns, row_delta_ns of a frame stamped `ns` (None if it, the first frame or the
        previous one had no exact stamp: the float path then, for this frame)."""
        prev, self.prev_ns = self.prev_ns, ns
        start = self.first_ns
        if ns is None or start is None or prev is None and not first:
            self.row_ns = None
            return
        self.row_ns = ns
        self.row_rel_ns = ns - start
        self.row_delta_ns = 0 if prev is None else ns - prev

    def row_exact(self) -> tuple[int, int, int, int] | None:
        """Frame.exact of the frame being made: its exact times, or None (the float path)."""
        if self.row_ns is None:
            return None
        return self.row_ns, self.row_rel_ns, self.row_delta_ns, self.row_digits

    def _tls_connection(self, sport: int, dport: int, payload: bytes) -> MqttConnection | None:
        """MQTT over TLS on a TLS port, or on 443 when the ClientHello's ALPN offers MQTT."""
        from sniffer.tls.conn import TlsConnection, is_mqtt_client_hello

        if sport in self.tls_ports or dport in self.tls_ports or is_mqtt_client_hello(payload):
            return MqttConnection(self.max_pdu, TlsConnection(self.tls_keylog))
        return None

    def frame(
        self, number: int, ts: float, linktype: int, data: bytes, orig_len: int, ns: int | None = None, digits: int = 9
    ) -> Row:
        """The row of one frame; `ns`: its time in integer ns when its source does not stamp in microseconds
        (sniffer.net.pcapfile.stamp_ns), else None; `digits`: the decimals of its Time column then."""
        first = self.first_ts
        prev = self.prev_ts
        if first is None:
            first = self.first_ts = ts
            self.first_ns = ns
        delta = 0.0 if prev is None else ts - prev
        self.prev_ts = ts
        if ns is not None or self.row_ns is not None:
            self._exact_times(ns, prev is None)
            self.row_digits = digits
        # (a C struct, not a tuple, in the compiled build: parse_tcp never returns None)
        ipver, src_b, dst_b, sport, dport, seq, ack, flags, window, poff, plen, toff, wire_len = parse_tcp(
            linktype, data
        )
        fdata = data  # the frame's own bytes (data: past them, the segment IP fragments carried)
        ipfrag: tuple | None = None
        if not ipver:
            defrag = self.defrag
            if defrag is None:
                from sniffer.net.ipfrag import Defragmenter

                defrag = self.defrag = Defragmenter()
            whole = defrag.add(number, ts, linktype, data)
            if whole is not None:  # the fragment that completes a TCP segment: TCP is read past the frame
                vdata = data + whole.payload
                base = len(data)
                ipver, src_b, dst_b, sport, dport, seq, ack, flags, window, poff, plen, toff, wire_len = (
                    netframe.tcp_at(vdata, whole.ipver, whole.src, whole.dst, base)
                )
                if ipver:
                    data = vdata
                    ipfrag = (base, vdata, whole.parts, whole.ipver, whole.at)
        info: str | int
        # the header ends past the captured bytes: the snapshot length cut its options
        hcut = ipver != 0 and not plen and toff + (data[toff + 12] >> 4) * 4 > poff
        if not ipver or hcut and orig_len <= len(data):  # not IP+TCP, or a header longer than its uncut packet
            src, dst, proto, text = netframe.proto_info(linktype, data, orig_len)
            if proto == "ARP":  # a request or reply may show two devices claiming one IP address
                dups = self.arp.check(number, ts, linktype, data)
                if dups:
                    text += arp.dup_suffix(dups)
                    self.link_notes = dups
            return self._row(number, ts, ts - first, delta, linktype, data, orig_len, proto, text, src=src, dst=dst)

        cut = 0
        if wire_len > plen and orig_len > len(data):
            # The snapshot length cut the frame: the rest of the payload was on the wire (the
            # IP length says how much, the record's original length bounds it).
            cut = min(wire_len - plen, orig_len - len(data))
        # The payload as bytes (one copy, which the decoder keeps without another).
        payload = data[poff : poff + plen] if plen else b""
        # Options matter to the stream state on SYNs (window scale) and where they hold more than timestamps
        # (SACK blocks count in the peer's bytes in flight); Info reads them later.
        hl = poff - toff
        options = data[toff + 20 : poff] if flags & 0x02 or hl > 32 or hl > 22 and data[toff + 22] != 8 else b""
        seg = self.streams.segment(
            ipver,
            src_b,
            dst_b,
            sport,
            dport,
            seq,
            ack,
            flags,
            payload,
            window=window,
            options=options,
            cut=cut,
            options_cut=hcut,
            # (the stream's times in ns: a microsecond stamp's float holds its microseconds exactly)
            at=ns if ns is not None else float_us_ns(ts),
            num=number,
        )
        stream = seg.stream
        if ipfrag is not None:
            seg.ipfrag = ipfrag
        if hcut and seg.ta:
            # The snapshot length cut the header: tshark stops at the options and shows none of its
            # analysis on this frame (the stream's state, kept above, still counts it).
            seg.analysis = ()
            seg.ta = False
        if self.streams.forgotten:  # closed long ago: their MQTT state goes too (days-long captures)
            self._forget()

        conn = self.mqtt.get(stream)
        if seg.new_stream or conn is None and stream not in self.mqtt:
            conn = None
            if sport in self.ports or dport in self.ports or self.detect and plen and _looks_like_connect(payload):
                conn = MqttConnection(self.max_pdu)
                if seg.new_stream and not flags & 0x02:
                    # Joined mid-connection (a capture started on a running device): the first bytes may
                    # lie inside a packet, so each direction starts at its first plausible header.
                    conn.decoders[0].resync()
                    conn.decoders[1].resync()
            elif sport in self.tls_ports or dport in self.tls_ports or 443 in (sport, dport) and plen:
                conn = self._tls_connection(sport, dport, payload)
            if conn is None and plen > 4 and payload[:4] == b"GET " and is_mqtt_upgrade(payload):
                conn = MqttConnection(self.max_pdu, ws=True)  # MQTT over WebSocket, on any port
            if conn is not None or plen:
                self.mqtt[stream] = conn  # decided once the stream carried data (or is on a named port)

        if conn is None:
            return self._row(
                number,
                ts,
                ts - first,
                delta,
                linktype,
                fdata,
                orig_len,
                "TCP",
                INFO_TCP,
                stream,
                seg,
                None,
                (ipver, src_b, dst_b),
                toff,
            )
        pdus: list[PDU] = []
        events = seg.events
        dec = conn.decoders[seg.direction]
        if events:
            continues_pdu = dec.buffered  # bytes of an unfinished PDU were waiting
            ev = events[0]
            ws = conn.ws
            if conn.tls is not None:  # TLS: records decrypted, their plaintext fed to dec (or WebSocket)
                continues_pdu = conn.tls.feed(
                    seg, events, number, poff, dec if ws is None else ws.dirs[seg.direction], pdus
                )
            elif ws is not None:  # WebSocket: frames de-framed, their payloads fed to dec
                ws.feed(seg.direction, events, number, poff, pdus)
            elif len(events) == 1 and ev[0] == "data":
                # the common case: ("data", bytes, offset) of this frame's payload, in order
                dec.feed_into(ev[1], (number, poff + ev[2]), pdus)
            else:
                _feed(conn, seg.direction, events, (number, poff), pdus)
            held = dec.buffered_bytes
            if held or dec in self.holders:
                self._account(dec, held)
                if dec.pending:
                    _drain(dec, pdus)  # this direction's own PDU was given up
            if ws is not None:  # the WebSocket frame held until whole counts too
                wdir = ws.dirs[seg.direction]
                wheld = wdir.buffered_bytes
                if wheld or wdir in self.holders:
                    self._account(wdir, wheld)
        elif dec.pending:
            _drain(dec, pdus)  # a PDU given up under the memory cap, shown on this direction's next frame
        self.held_secret = ()
        if (
            events and dec.buffered and (conn.tls.plain if conn.tls is not None else conn.ws is None)
        ):  # (TLS: the bytes are ciphertext)
            ptype = dec.pending_type()
            if ptype in SECRET_TYPES:  # the segment ends inside a PDU that may carry a password
                chunks = dec.held(MAX_PARSE)
                self.held_secret = (
                    ((poff, poff + plen),) if chunks is None else tuple(held_frame_ranges(chunks, ptype, number))
                )
        if seg.closed:
            # FIN/RST: a PDU still incomplete in this direction will never complete. The frame
            # stays a TCP frame; a note on it tells what was left unfinished and where it was.
            if conn.ws is not None:
                conn.ws.begin(number)
                wdir = conn.ws.dirs[seg.direction]
                wdir.closed()
                if wdir in self.holders:
                    self._account(wdir, 0)
            dec.salvage()  # (whole packets a resynchronising scan waited past: this frame's)
            if dec.pending:
                _drain(dec, pdus)
            unfinished: list[PDU] = []
            pdu = dec.close("connection closed")
            if pdu is not None:
                unfinished.append(pdu)
                _drain(dec, unfinished)
            if seg.flags & 0x04:  # RST ends the other direction too
                other = conn.decoders[1 - seg.direction]
                if other.pending:
                    _drain(other, pdus)
                pdu = other.close("connection reset")
                if pdu is not None:
                    unfinished.append(pdu)
                    _drain(other, unfinished)
                if other in self.holders:
                    self._account(other, 0)
            if dec in self.holders:
                self._account(dec, 0)
            if unfinished:
                seg.note = unfinished_note(unfinished)
        if conn.ws is not None:
            conn.ws.finish(seg, number, pdus)
        tracker = self.tracker
        if tracker is not None:
            if pdus:
                tracker.pdus(number, ts, stream, seg.direction, pdus)
            if flags & 0x05:  # FIN or RST: how the MQTT connection ended
                notes = tracker.closed(number, ts, stream, seg.direction, bool(flags & 0x04))
                if notes:
                    seg.session_notes = notes
        if pdus:
            proto, info = mqtt_dissect.protocol(pdus), INFO_MQTT
            if seg.tls is not None and seg.ws is None:
                from sniffer.tls.layers import column

                proto = column(seg.tls, pdus, proto)
            elif len(pdus) > 1 and whole_at(pdus[0], number) is None:
                # a first PDU finished from earlier segments with more after it: TCP then keeps the Protocol
                # column it set (tshark's desegmentation makes the column read-only for the rest)
                proto = mqtt_dissect.protocol(pdus[:1])
        elif seg.ws is not None:
            proto, info = seg.ws[3], seg.ws[4]
        elif seg.tls is not None and (seg.tls[0] or seg.tls[1]):
            proto, info = seg.tls[2], seg.tls[3]
        elif plen and events:
            proto, info = "TCP", INFO_SEGMENT if continues_pdu else INFO_FIRST_SEGMENT
            if not continues_pdu:  # (its first byte begins the PDU: where a copy of it would start too)
                self.streams.begins_pdu(src_b, sport, dst_b, dport, seq)
        else:
            proto, info = "TCP", INFO_TCP
        return self._row(
            number,
            ts,
            ts - first,
            delta,
            linktype,
            fdata,
            orig_len,
            proto,
            info,
            stream,
            seg,
            pdus,
            (ipver, src_b, dst_b),
            toff,
        )


class Dissector(RowDissector[Frame]):
    """Turns raw frames into `Frame`s, keeping TCP and MQTT state across them."""

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> Frame:
        held, self.held_secret = self.held_secret, ()
        fr = Frame(
            number, ts, rel_ts, delta, linktype, data, orig_len, proto, info, stream, seg, pdus, addrs, toff, src, dst,
            held,
        )  # fmt: skip
        fr.exact = self.row_exact()
        if self.link_notes:
            fr.link_notes, self.link_notes = self.link_notes, ()
        return fr


class TrackingDissector(RowDissector[None]):
    """Dissects and tracks sessions but makes no rows: the first pass of -2, which needs only what
    the tracker records (tracker.backfill)."""

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> None:
        self.held_secret = ()
        self.link_notes = ()
        return None
