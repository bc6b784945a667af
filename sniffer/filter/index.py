"""The display filter's own columns over stored rows: what sniffer.filter.rows answers fields from.

A PacketStore (sniffer.store) keeps storage: the spill file, the summary columns, interned strings.
This index is the filter's: per row the MQTT packet word (the first PDU's type, flags, version and
message id, how many PDUs, whether the frame is plain IP+TCP), the first PDU's Remaining Length and
interned topic, the TCP ports and flags|length, the MQTT 5 properties present; the other PDUs of a
multi-PDU frame in `more` as flat (word, remaining, topic id) triples. The store feeds it one
dissected Frame per row (`add`) and hosts it (`store.index`); nothing else writes it.
One writer thread; readers look at rows below the store's count only.
"""

from __future__ import annotations

import contextlib
from array import array
from typing import TYPE_CHECKING, Any, Final

from librt.strings import BytesWriter

from sniffer.colbuf import drain, put_u32
from sniffer.filter.props import PROP_UNKNOWN, property_mask
from sniffer.mqtt.decoder import PDU

if TYPE_CHECKING:
    from sniffer.pipeline import Frame

# The MQ word of a row (RowIndex.mq): msgtype | flags << 4 | version << 8, then these bits.
MQ_TYPE = 0x000F
MQ_HAS_MSGID: Final = 0x0800  # msgid << 16
MQ_ONE: Final = 0x1000  # exactly one PDU
MQ_MANY: Final = 0x2000  # several PDUs: the others in RowIndex.more
MQ_NPDU = 0x3000
MQ_SEG: Final = 0x4000  # TCP segment record: ports, flags, length, addresses
MQ_COMPLEX: Final = 0x8000  # a malformed PDU: the filter rebuilds the Frame


class RowIndex:
    """The filter's columns, one entry per stored row (read live by sniffer.filter.rows)."""

    def __init__(self) -> None:
        self.mq = array("I")
        self.mlen = array("I")
        self.topic = array("I")
        self.ports = array("I")
        self.tcpw = array("I")
        self.props = array("I")  # sniffer.filter.props: PROP_BIT per property id, PROP_UNKNOWN
        # rows added but not yet published, as bytes (sniffer.colbuf), per column: the store publishes
        # them with its own rows (PacketStore.publish)
        self._p_mq = BytesWriter()
        self._p_mlen = BytesWriter()
        self._p_topic = BytesWriter()
        self._p_ports = BytesWriter()
        self._p_tcpw = BytesWriter()
        self._p_props = BytesWriter()
        self.more: dict[int, tuple[int, ...]] = {}
        self.topics: list[str] = [""]  # id 0: no topic
        # all mqtt.topic values (topic ids) of frames with topic filters or an alias-less PUBLISH without
        # a topic: the filter's Frame path reads those from the tree, so they are read once, here
        self.tlist: dict[int, tuple[int, ...]] = {}
        self._topic_ids: dict[str, int] = {}
        self._topic_tree: Any = None

    def _pdu_word(self, p: PDU) -> tuple[int, int, int] | None:
        """(MQ word, remaining, topic id) of a well-formed PDU, None if the filter must see the PDU itself."""
        t, v, msgid = p.msgtype, p.version, p.msgid
        if p.error is not None or t < 0 or p.remaining < 0 or not 0 <= (v or 0) <= 7 or msgid > 0xFFFF:
            return None
        w = t | p.flags << 4 | (v or 0) << 8
        if msgid >= 0:
            w |= MQ_HAS_MSGID | msgid << 16
        topic = p.topic
        tid = self._topic_id(topic) if t == 3 and topic is not None else 0
        return w, p.remaining, tid

    def _topic_id(self, topic: str) -> int:
        tid = self._topic_ids.get(topic, 0)
        if not tid:
            tid = self._topic_ids[topic] = len(self.topics)
            self.topics.append(topic)
        return tid

    def _tree_topics(self, row: int, frame: Frame) -> None:
        """Topic ids of every mqtt.topic of the frame, as the display filter reads them (its exact getter)."""
        get = self._topic_tree
        if get is None:
            from sniffer.filter import access

            # topic filters read from the (UN)SUBSCRIBE's bytes, the tree only where they are odd: a
            # tree cost ~30 us, a frame's whole dissection ~4
            get = self._topic_tree = access.getter("mqtt.topic", access.TreePlan())
        with contextlib.suppress(Exception):  # on failure the filter rebuilds the Frame of this row instead
            self.tlist[row] = tuple(self._topic_id(t) for t in get(frame))

    def add(self, row: int, frame: Frame) -> None:
        """Index stored row `row` (the next one), the dissected `frame`; readable once published."""
        w = mlen = tid = 0
        pdus = frame.pdus
        if pdus:
            recs = [r for r in map(self._pdu_word, pdus) if r is not None]
            if len(recs) < len(pdus):
                w = MQ_COMPLEX | (MQ_ONE if len(pdus) == 1 else MQ_MANY)
            else:
                w, mlen, tid = recs[0]
                if len(recs) == 1:
                    w |= MQ_ONE
                else:
                    w |= MQ_MANY
                    self.more[row] = tuple(x for r in recs[1:] for x in r)
                for r in recs:
                    t = r[0] & 15
                    if t == 8 or t == 10 or (t == 3 and not r[2]):  # (UN)SUBSCRIBE, PUBLISH without topic
                        self._tree_topics(row, frame)
                        break
        props = 0
        for p in pdus:
            if p.version == 5 or p.msgtype == 1:  # CONNECT: its protocol level byte decides
                try:
                    props |= PROP_UNKNOWN if p.error is not None else property_mask(p)
                except Exception:  # odd bytes: the tree decides
                    props |= PROP_UNKNOWN
        seg = frame.seg
        ports = tcpw = 0
        if seg is not None and seg.length < 1 << 20:
            w |= MQ_SEG
            ports = seg.sport << 16 | seg.dport
            tcpw = seg.flags & 0xFFF | seg.length << 12
        put_u32(self._p_mq, w)
        put_u32(self._p_mlen, mlen)
        put_u32(self._p_topic, tid)
        put_u32(self._p_ports, ports)
        put_u32(self._p_tcpw, tcpw)
        put_u32(self._p_props, props)

    def publish(self) -> None:
        """The rows added since the last call into the columns (the store's publish() calls this)."""
        drain(self._p_mq, self.mq)
        drain(self._p_mlen, self.mlen)
        drain(self._p_topic, self.topic)
        drain(self._p_ports, self.ports)
        drain(self._p_tcpw, self.tcpw)
        drain(self._p_props, self.props)

    def ram_bytes(self) -> int:
        """Bytes of RAM the columns take."""
        cols = (self.mq, self.mlen, self.topic, self.ports, self.tcpw, self.props)
        total = sum(a.buffer_info()[1] * a.itemsize for a in cols)
        total += sum(len(s) + 49 for s in self.topics)
        return total + 100 * (len(self.more) + len(self.tlist))


class PduView:
    """What the property skim reads of a PDU (the attributes of sniffer.mqtt.decoder.PDU it uses)."""

    __slots__ = ("msgtype", "flags", "version", "data", "hdr_len")

    def __init__(self, msgtype: int, flags: int, version: int, data: bytes, hdr_len: int) -> None:
        self.msgtype = msgtype
        self.flags = flags
        self.version = version
        self.data = data
        self.hdr_len = hdr_len
