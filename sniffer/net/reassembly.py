"""TCP conversations: stream indexes, relative numbers, in-order delivery per direction.

TcpStreams.segment() takes one TCP segment (fields of frame.parse()) and returns a
Seg: Wireshark's tcp.stream index, the direction (0 = client→server), relative
seq/ack/nxtseq, the calculated window, tshark's SEQ/ACK analysis (its flags, computed as
tshark 4.0 computes them; the segment an ACK completes and its RTT; bytes in flight;
duplicate ACKs; the conversation's completeness), and what the segment delivers to the
layer above, in stream order:

    ("data", bytes, offset)   bytes of this frame's payload from `offset`
    ("gap", nbytes)           bytes that were never captured (a lost segment)
    ("cut", nbytes)           the end of this segment, not captured (snapshot length)
    ("late", bytes, offset)   bytes that fill a hole already declared lost (out of order)

A hole is declared lost as soon as data beyond it arrives, as Wireshark does by default
(tcp.reassemble_out_of_order off): the bytes after it are decoded in the frame that carries
them, with no waiting, no memory held per hole and no PDU shown on another frame or late.
A segment that later fills such a hole delivers its bytes as "late", for the layer above
to decode on their own.  Retransmitted bytes are dropped; a partial
overlap delivers only the new tail.  Sequence arithmetic is modulo 2**32.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Collection, Iterable
from typing import Final

M32: Final = 0xFFFFFFFF
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20
MQTT_PORTS: Final = frozenset((1883, 8883))
# Closed conversations kept for their late segments (a last ACK, a retransmitted FIN) before they are
# forgotten: a capture that runs for days through millions of short connections stays small.
LINGER: Final = 1024
MAX_HOLES: Final = 8  # declared holes remembered per direction, to tell a late segment from a retransmission


def _sdiff(a: int, b: int) -> int:
    """a - b in sequence space, as a signed 32-bit distance."""
    return ((a - b + 0x80000000) & M32) - 0x80000000


def wscale_shift(options: bytes) -> int | None:
    """The window-scale shift of a TCP options block, None if absent."""
    p = _option_at(options, 3)
    if p < 0 or options[p + 1] != 3:
        return None
    return min(options[p + 2], 14)  # RFC 7323: larger shifts are treated as 14


class Seg:
    """The result of TcpStreams.segment() for one frame."""

    __slots__ = (
        "stream",
        "direction",
        "seq",
        "ack",
        "nxtseq",
        "win",
        "win_scale",
        "events",
        "analysis",
        "new_stream",
        "closed",
        "ack_base",
        "sport",
        "dport",
        "flags",
        "length",
        "options",
        "note",
        "session_notes",
        "tls",
        "ws",
        "timed",
        "time_rel",
        "time_delta",
        "fin_role",
        "ta",
        "acks_frame",
        "ack_rtt",
        "irtt",
        "bif",
        "push_bytes",
        "dupack_num",
        "dupack_frame",
        "rto",
        "rto_frame",
        "completeness",
        "dsack",
        "resent_pdu",
        "ipfrag",
    )

    def __init__(self) -> None:
        self.stream = 0
        self.direction = 0
        self.seq = 0  # relative, like tcp.seq
        self.ack = 0  # relative, like tcp.ack (raw when the other side's base is unknown)
        self.nxtseq = 0  # relative tcp.nxtseq (seq + len + SYN + FIN)
        self.win = 0  # tcp.window_size (scaled when the scale is known)
        self.win_scale = -1  # tcp.window_size_scalefactor: multiplier, -1 unknown, -2 no scaling
        self.events: list[tuple] = []
        self.analysis: tuple[str, ...] = ()  # tcp.analysis.* names, e.g. "retransmission"
        self.new_stream = False
        self.closed = False  # this direction has ended (FIN reached or RST)
        self.ack_base = 0  # raw seq the other direction counts from (SACK edges are relative to it)
        self.sport = self.dport = self.flags = self.length = 0  # length: tcp.len, the bytes on the wire
        self.options = b""
        self.note = ""  # an expert note of the layer above on this TCP frame (set by the pipeline)
        self.session_notes: list[tuple[str, str]] = []  # how an MQTT connection ended (the session layer)
        self.tls: tuple | None = None  # the TLS records of this frame, for its tree (sniffer.tls.conn)
        self.ws: tuple | None = None  # its HTTP Upgrade / WebSocket records (sniffer.ws.conn)
        # tcp.time_relative / tcp.time_delta in ns: since the stream's first frame, since its previous one
        # (timed: segment() was given the frame's time; tshark computes these by default)
        self.timed = False
        self.time_rel = 0
        self.time_delta = 0
        # a FIN's part in the connection's close, as tshark notes it: 1 initiates it, 2 undergoes it
        self.fin_role = 0
        # tshark's [SEQ/ACK analysis] beyond the flags (ta: the subtree exists); times in ns, 0 when absent (as
        # tshark, which shows no zero time): the frame whose segment this ACK completes and how long that took,
        # the stream's handshake RTT, bytes sent and not yet acknowledged, bytes since the last PSH, a duplicate
        # ACK's count and the frame it repeats, a retransmission's delay since the segment it repeats
        self.ta = False
        self.acks_frame = 0
        self.ack_rtt = 0
        self.irtt = 0
        self.bif = 0
        self.push_bytes = 0
        self.dupack_num = 0
        self.dupack_frame = 0
        self.rto = 0
        self.rto_frame = 0
        self.completeness = 0  # tcp.completeness before this frame (tshark's single pass): SYN 1 ... RST 32
        self.dsack = False  # its SACK option reports a duplicate (RFC 2883): tshark's "D-SACK Sequence" warning
        self.resent_pdu = False  # it starts where a PDU spanning segments started before: a copy (tshark's
        # "Retransmitted TCP segment data", as on a retransmission)
        # a segment carried by IP fragments this frame completed (sniffer.net.ipfrag): (frame length, the frame's
        # bytes followed by the reassembled IP payload, [(frame number, offset, length)] of the fragments, IP
        # version, frame offset of this frame's own fragment); offsets of the TCP layer and above are in those
        # bytes, past the frame's own
        self.ipfrag: tuple | None = None

    @property
    def tcp_notes(self) -> bool:
        """TCP puts expert notes in this frame's tree: analysis flags, the pipeline's note, SYN/FIN/RST, D-SACK
        (what the expert counters ask before they build a tree)."""
        return bool(self.analysis or self.note or self.flags & 0x07 or self.dsack)

    @property
    def reopens(self) -> bool:
        """The first frame of a stream on the ports of an earlier conversation (a device reconnecting from its
        old port): what it shows depends on that conversation (tshark's [TCP Port numbers reused], the SYN's
        completeness), which a replay of its stream alone (sniffer.replay) does not know. Only such a frame
        has a completeness on its new stream (segment() sets it there on port reuse alone)."""
        return self.new_stream and self.completeness != 0

    @property
    def closing(self) -> bool:
        """This segment carries FIN or RST: the direction ends here."""
        return bool(self.flags & (FIN | RST))

    @property
    def info(self) -> str:
        """Wireshark's Info text for this frame (without the reassembled-PDU suffix)."""
        return tcp_info(
            self.sport,
            self.dport,
            self.flags,
            self.seq,
            self.ack,
            self.win,
            self.length,
            self.options,
            self.analysis,
            sack_base=self.ack_base,
            dupack=(self.dupack_frame, self.dupack_num),
        )

    def __repr__(self) -> str:
        return (
            f"Seg(stream={self.stream}, dir={self.direction}, seq={self.seq}, ack={self.ack}, "
            f"events={self.events!r}, analysis={self.analysis!r})"
        )


MAX_UNACKED: Final = 10000  # segments a direction remembers until acknowledged (tshark's limit)
OOO_NS: Final = 3_000_000  # tshark's out-of-order window (ns) while the stream's handshake RTT is unknown
FAST_RT_NS: Final = 20_000_000  # a fast retransmission comes within this of the duplicate ACKs (tshark's)
MSP_KEPT: Final = 16  # starts of PDUs spanning segments a direction remembers (to tell a copy of one)
_KA: Final = 1  # _Dir.lastflags: its last segment was a keep-alive,
_ZWP: Final = 2  # or a zero window probe (what tshark remembers of a direction's last segment)
# tcp.completeness bits, as tshark accumulates them over a conversation
C_SYN: Final = 1
C_SYNACK: Final = 2
C_ACK: Final = 4
C_DATA: Final = 8
C_FIN: Final = 16
C_RST: Final = 32


class _Unacked:
    """A segment sent and not yet acknowledged (tshark's tcp_unacked_t): its frame, raw seq, raw seq after it,
    time in ns. (A native object in the compiled build: its numbers stay unboxed.)"""

    __slots__ = ("frame", "seq", "nxt", "ts")

    # (defaults: a checkpoint is unpickled through __init__ without arguments, sniffer.replay)
    def __init__(self, frame: int = 0, seq: int = 0, nxt: int = 0, ts: int = 0) -> None:
        self.frame = frame
        self.seq = seq
        self.nxt = nxt
        self.ts = ts


class _Dir:
    """State of one direction of a conversation."""

    __slots__ = (
        "base",
        "syn_seq",
        "nxt",
        "holes",
        "ws",
        "fin_seq",
        "closed",
        "nextseq",
        "lastack",
        "window",
        "tobeacked",
        "closing_initiator",
        "ual",
        "valid_bif",
        "push_bytes",
        "push_last",
        "sack_sum",
        "dupacknum",
        "lastnondupack",
        "lastflags",
        "lastack_ns",
        "nextseq_ns",
        "nextseq_frame",
        "msp",
    )

    # Sequence numbers and windows are -1 while unknown (not None: plain ints stay unboxed
    # in the compiled build, sniffer.native).
    def __init__(self) -> None:
        self.base = -1  # raw seq that relative numbers count from
        self.syn_seq = -1  # ISN when the SYN was seen
        self.nxt = -1  # next raw seq to deliver
        self.holes: list[list[int]] = []  # [start, end) raw seqs declared lost, newest last (at most MAX_HOLES)
        self.ws = -1  # window scale shift; -1 unknown, -2 no scaling
        self.fin_seq = -1
        self.closed = False
        self.nextseq = -1  # highest raw seq+len seen (analysis)
        self.lastack = -1
        self.window = -1  # last window, scaled
        self.tobeacked = -1  # highest seq reached without a hole: an ACK beyond it is "ACKed unseen"
        self.closing_initiator = False  # this direction's FIN came before the other's (tshark's closing_initiator)
        self.ual: list[_Unacked] = []  # segments sent and not yet acknowledged, oldest first
        self.valid_bif = True  # bytes in flight are known (not since a lost segment, until the peer ACKs)
        self.push_bytes = 0  # bytes sent since the last PSH (tcp.analysis.push_bytes_sent)
        self.push_last = False
        self.sack_sum = 0  # bytes the SACK blocks of this direction's last segment cover (its first three)
        self.dupacknum = 0  # duplicate ACKs in a row (-1: an ACKed-unseen note stands for them)
        self.lastnondupack = 0  # frame of the last ACK that was not a duplicate
        self.lastflags = 0  # _KA / _ZWP of the last segment
        self.lastack_ns = 0  # time of the last segment
        self.nextseq_ns = 0  # time and frame of the segment that last advanced nextseq
        self.nextseq_frame = 0
        self.msp: list[int] = []  # raw seqs of the last MSP_KEPT segments that began a PDU ending in a later one


class _Conv:
    __slots__ = (
        "index", "client", "dirs", "closed", "keys", "first_ns", "prev_ns", "syn_ns", "irtt", "completeness"
    )  # fmt: skip

    # (defaults: unpickling a stream's checkpoint calls __init__ without arguments in the compiled
    # build before it sets the slots: sniffer.replay)
    def __init__(self, index: int = 0, client: tuple[bytes, int] = (b"", 0)) -> None:
        self.index = index
        self.client = client  # (address, port) of the client side
        self.dirs = (_Dir(), _Dir())
        self.closed = False
        self.keys: tuple[tuple[int, bytes, bytes], ...] = ()  # its two entries in the table: (ports, src, dst)
        self.first_ns = 0  # the time of its first frame and of its last one (tcp.time_relative, tcp.time_delta)
        self.prev_ns = 0
        # tshark's zero means unset for both: the last SYN's time, the handshake's RTT (tcp.analysis.initial_rtt)
        self.syn_ns = 0
        self.irtt = 0
        self.completeness = 0  # C_* bits seen so far (tcp.completeness)


def _option_at(options: bytes, want: int) -> int:
    """Where the first option of kind `want` starts in a TCP options block, -1 if none (or one before it is
    malformed or cut)."""
    p, n = 0, len(options)
    while p < n:
        kind = options[p]
        if kind == 0:
            break
        if kind == 1:
            p += 1
            continue
        if p + 1 >= n:
            break
        ln = options[p + 1]
        if ln < 2 or p + ln > n:
            break
        if kind == want:
            return p
        p += ln
    return -1


def dsack(option: bytes, ack: int) -> bool:
    """Whether a SACK option (kind, length, blocks) reports a duplicate segment (RFC 2883), as tshark tells it:
    its first block ends at or below the cumulative `ack` (raw), or inside its second block."""
    if len(option) < 10:
        return False
    re_ = _u32(option, 6)
    if _sdiff(re_, ack) <= 0:
        return True
    return len(option) >= 18 and _sdiff(_u32(option, 10), re_) < 0 and _sdiff(re_, _u32(option, 14)) <= 0


def _sack_sum(options: bytes, at: int) -> int:
    """Bytes covered by the first three blocks of the SACK option at options[at] (what tshark subtracts from
    bytes in flight)."""
    ln = options[at + 1]
    total = 0
    for k in range(min((ln - 2) // 8, 3)):
        q = at + 2 + 8 * k
        total += _sdiff(_u32(options, q + 4), _u32(options, q))
    return total & M32


class TcpStreams:
    """All TCP conversations of a capture (one instance per capture)."""

    def __init__(self, server_ports: Collection[int] = MQTT_PORTS) -> None:
        self.server_ports = server_ports
        # Port pair (sport << 16 | dport) -> (src, dst, entry) of the conversations using it, nearly always
        # one: an int key hashes and compares at a fraction of the cost of a (src, sport, dst, dport) tuple
        # of fresh bytes, and the addresses are compared without hashing. An entry is (conv, direction of
        # a segment sent with these addresses and ports, its _Dir, the other _Dir).
        self._table: dict[int, list[tuple[bytes, bytes, tuple[_Conv, int, _Dir, _Dir]]]] = {}
        self._count = 0
        self._closed: deque[_Conv] = deque()  # closed both ways, oldest first (at most LINGER)
        self.forgotten: list[int] = []  # stream indexes dropped since the caller last cleared this

    def __len__(self) -> int:
        return self._count

    def _find(self, src: bytes, sport: int, dst: bytes, dport: int) -> tuple[_Conv, int, _Dir, _Dir] | None:
        """The table entry of a segment sent from (src, sport) to (dst, dport), None if none."""
        cands = self._table.get(sport << 16 | dport)
        if cands is not None:
            for a, b, ent in cands:
                if a == src and b == dst:
                    return ent
        return None

    def _put(self, ports: int, src: bytes, dst: bytes, ent: tuple[_Conv, int, _Dir, _Dir]) -> None:
        """Map (ports, src, dst) to `ent`, in place of the conversation they belonged to before."""
        cands = self._table.get(ports)
        if cands is None:
            self._table[ports] = [(src, dst, ent)]
            return
        for i in range(len(cands)):
            c = cands[i]
            if c[0] == src and c[1] == dst:
                cands[i] = (src, dst, ent)
                return
        cands.append((src, dst, ent))

    def conversation(self, src: bytes, sport: int, dst: bytes, dport: int) -> _Conv | None:
        """The conversation of a segment sent from (src, sport) to (dst, dport), None if none (its state is
        what sniffer.replay saves as a stream's checkpoint)."""
        ent = self._find(src, sport, dst, dport)
        return None if ent is None else ent[0]

    def adopt(self, conv: _Conv) -> None:
        """Take a conversation made elsewhere (a checkpoint, unpickled) under both of its keys, with the
        entries _new_conv makes: the direction of a key is 0 when it is sent from the client."""
        for ports, src, dst in conv.keys:
            direction = 0 if conv.client == (src, ports >> 16) else 1
            self._put(ports, src, dst, (conv, direction, conv.dirs[direction], conv.dirs[1 - direction]))

    def begins_pdu(self, src: bytes, sport: int, dst: bytes, dport: int, seq: int) -> None:
        """The segment sent from (src, sport) at raw `seq` begins a PDU that a later segment ends: a segment
        starting there again is a copy (Seg.resent_pdu), as tshark finds it in its multi-segment PDUs."""
        ent = self._find(src, sport, dst, dport)
        if ent is not None:
            msp = ent[2].msp
            msp.append(seq)
            if len(msp) > MSP_KEPT:
                del msp[0]

    def number_from(self, n: int) -> None:
        """Number new conversations from n on (a replay that adopted conversations numbered below n)."""
        self._count = max(self._count, n)

    def _new_conv(self, src: bytes, sport: int, dst: bytes, dport: int, flags: int) -> tuple[_Conv, int, _Dir, _Dir]:
        """A new conversation; returns its entry for the direction (src, sport) -> (dst, dport)."""
        if flags & SYN:
            client = (src, sport) if not flags & ACK else (dst, dport)
        else:
            sp = self.server_ports
            if dport in sp and sport not in sp:
                client = (src, sport)
            elif sport in sp and dport not in sp or sport < dport:
                client = (dst, dport)
            else:
                client = (src, sport)
        conv = _Conv(self._count, client)
        self._count += 1
        fwd = 0 if client == (src, sport) else 1
        d0, d1 = conv.dirs
        ent = (conv, fwd, d0, d1) if fwd == 0 else (conv, fwd, d1, d0)
        pk, rpk = sport << 16 | dport, dport << 16 | sport
        self._put(pk, src, dst, ent)
        self._put(rpk, dst, src, (conv, 1, d1, d0) if fwd == 0 else (conv, 0, d0, d1))
        conv.keys = ((pk, src, dst), (rpk, dst, src))
        return ent

    def segment(
        self,
        ipver: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: memoryview | bytes,
        *,
        window: int = 0,
        options: bytes = b"",
        cut: int = 0,
        options_cut: bool = False,
        at: int | None = None,
        num: int = 0,
    ) -> Seg:
        """Account one segment; `window` (raw header value) and `options` (raw TCP
        options) feed window scaling and analysis; `cut` counts the segment's bytes on
        the wire past the captured `payload` (a frame cut by the snapshot length);
        `options_cut`: the snapshot length cut the options themselves (`options` holds those before it);
        `at`: the frame's time in ns, for the stream's times (Seg.time_rel, time_delta) and the RTTs;
        `num`: its frame number, which the SEQ/ACK analysis names (Seg.acks_frame)."""
        ent = self._find(src, sport, dst, dport)
        if ent is not None and not flags & 0x07 and not cut:  # no SYN/FIN/RST, captured whole
            conv, direction, d, r = ent
            base, rbase = d.base, r.base
            if seq == d.nextseq and base >= 0 and rbase >= 0 and r.window != 0 and not r.lastflags:
                # The common case, inline (same results as _segment): a known stream, both bases known,
                # seq exactly where this direction left off, the peer's window open and its last
                # segment no keep-alive, so no loss, probe, keep-alive or retransmission can apply;
                # _analyse() reduced to what remains.
                n = len(payload)
                now = at if at is not None else 0  # (unboxed once: `at` is an object in the compiled build)
                seg = Seg()  # a native constructor in the compiled build (sniffer.native)
                seg.stream = conv.index
                seg.direction = direction
                seg.sport = sport
                seg.dport = dport
                seg.flags = flags
                seg.options = options
                seg.length = n
                rel = seg.seq = (seq - base) & M32
                seg.ack = (ack - rbase) & M32
                seg.ack_base = rbase
                seg.nxtseq = (rel + n) & M32
                seg.new_stream = False
                if at is not None:
                    seg.timed = True
                    seg.time_rel = now - conv.first_ns
                    seg.time_delta = now - conv.prev_ns
                    conv.prev_ns = now
                ws = d.ws
                if ws >= 0:
                    seg.win_scale = 1 << ws
                    win = seg.win = window << ws
                else:
                    seg.win_scale = ws
                    win = seg.win = window
                ackf = flags & ACK
                if ackf:
                    r.valid_bif = True
                # analysis, in _analyse()'s order
                out = None
                if win == 0:
                    out = ["zero_window"]
                lastack = d.lastack
                if n == 0:
                    if ack == lastack and win:
                        dwin = d.window
                        if dwin >= 0 and win != dwin:
                            out = out or []
                            out.append("window_update")
                        elif win == dwin:
                            dup = d.dupacknum = 1 if d.dupacknum < 0 else d.dupacknum + 1
                            seg.dupack_num = dup
                            seg.dupack_frame = d.lastnondupack
                            out = out or []
                            out.append("duplicate_ack")
                else:
                    rwin, rlast = r.window, r.lastack
                    if rwin >= 0 and rlast >= 0 and ((seq + n) & M32) == ((rlast + rwin) & M32):
                        out = out or []
                        out.append("window_full")
                if ack != lastack:
                    d.lastnondupack = num
                    d.dupacknum = 0
                if ackf:
                    tob = r.tobeacked
                    if tob > 0 and 0 < ((ack - tob) & M32) < 0x80000000:  # _sdiff(ack, tob) > 0
                        seg.ta = True
                        if _ack_lost(r, tob):
                            out = out or []
                            out.append("ack_lost_segment")
                if n:
                    rlast = r.lastack
                    if rlast > 0 and ((rlast - seq - n) & M32) < 0x80000000:  # _sdiff(seq + n, rlast) <= 0
                        out = out or []  # bytes the peer has acknowledged already (tshark's test)
                        out.append("spurious_retransmission")
                seg.analysis = () if out is None else tuple(out)
                if ackf:
                    d.lastack = ack
                d.window = win
                d.lastack_ns = now
                d.lastflags = 0
                # in-order delivery
                if n:
                    if d.tobeacked == seq or d.tobeacked <= 0:  # (not while a hole is pending)
                        d.tobeacked = (seq + n) & M32
                    d.nextseq = (seq + n) & M32
                    d.nextseq_ns = now
                    d.nextseq_frame = num
                    if seq == d.nxt:
                        # (the pipeline hands bytes: bytes() of them costs a call that returns them)
                        data = payload if isinstance(payload, bytes) else bytes(payload)
                        seg.events = [("data", data, 0)]
                        d.nxt = (seq + n) & M32
                    else:
                        events: list[tuple] = []
                        seg.events = events
                        self._accept(d, seq, payload, 0, events)
                else:
                    seg.events = []
                self._track(d, r, seg, seq, ack, flags, n, n, now, num)
                if out is not None:
                    seg.ta = True
                if options:
                    self._sack(d, seg, options, ack)
                elif d.sack_sum:
                    d.sack_sum = 0
                c = seg.completeness = conv.completeness
                if ackf:
                    conv.completeness = c | (C_DATA if n else C_ACK)
                    if conv.irtt == 0 and conv.syn_ns != 0:
                        conv.irtt = now - conv.syn_ns
                seg.irtt = conv.irtt
                seg.closed = d.closed
                return seg
        return self._segment(
            ent, ipver, src, dst, sport, dport, seq, ack, flags, payload, window, options, cut, options_cut, at, num
        )

    def _segment(
        self,
        ent: tuple[_Conv, int, _Dir, _Dir] | None,  # (typed: mypyc reads its _Dir fields natively)
        ipver: int,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: memoryview | bytes,
        window: int,
        options: bytes,
        cut: int,
        options_cut: bool,
        at: int | None,
        num: int,
    ) -> Seg:
        """segment() in general."""
        conv = ent[0] if ent is not None else None
        seg = Seg()
        reused = flagged = False
        if ent is not None and flags & SYN and not flags & ACK:
            d = ent[2]
            if ent[0].closed or (d.base >= 0 and seq != d.syn_seq):
                conv = None  # port reuse: Wireshark starts a new stream
                reused = True
                flagged = d.base >= 0 and seq != d.base  # ([TCP Port numbers reused]: a new ISN, not a resent SYN)
        if conv is None or ent is None:
            ent = self._new_conv(src, sport, dst, dport, flags)
            conv = ent[0]
            seg.new_stream = True
            if at is not None:
                conv.first_ns = conv.prev_ns = at
        now = at if at is not None else 0
        if at is not None:
            seg.timed = True
            seg.time_rel = now - conv.first_ns
            seg.time_delta = now - conv.prev_ns
            conv.prev_ns = now
        direction, d, r = ent[1], ent[2], ent[3]
        seg.stream, seg.direction = conv.index, direction
        seg.sport, seg.dport, seg.flags, seg.options = sport, dport, flags, options
        n = seg.length = len(payload) + cut
        syn, fin, rst, ackf = flags & SYN, flags & FIN, flags & RST, flags & ACK

        # Relative numbering, as Wireshark: from the ISN, or seq-1 / ack-1 mid-stream.
        if syn:
            d.syn_seq = seq
            if d.base < 0:
                d.base = seq
        if d.base < 0:
            d.base = (seq - 1) & M32
        if ackf and r.base < 0:
            r.base = (ack - 1) & M32
        seg.seq = (seq - d.base) & M32
        # Without the ACK flag the field means nothing: Wireshark shows it raw (a SYN sent again after the
        # SYN-ACK was seen included).
        seg.ack = (ack - r.base) & M32 if r.base >= 0 and ackf else ack
        seg.ack_base = max(r.base, 0)
        seglen_seq = n + (1 if syn else 0) + (1 if fin else 0)
        seg.nxtseq = (seg.seq + seglen_seq) & M32

        # Window scaling: learned from the SYNs; a SYN's own window is never scaled.
        if syn:
            shift = wscale_shift(options) if options else None
            if shift is not None or not options_cut:
                d.ws = shift if shift is not None else -2
                if ackf and (d.ws == -2 or r.ws == -2):
                    d.ws = r.ws = -2
            # (else the option may have been among those cut: unknown, as tshark, which stops there, leaves it)
            seg.win, seg.win_scale = window, -1
        else:
            seg.win_scale = (1 << d.ws) if d.ws >= 0 else d.ws
            seg.win = window << d.ws if d.ws >= 0 else window

        seg.analysis = self._analyse(conv, d, r, seg, seq, ack, flags, n, seg.win, seglen_seq, now, num)
        if flagged:
            seg.analysis = ("reused_ports", *seg.analysis)
        if n and d.msp and seq in d.msp:
            seg.resent_pdu = True
        self._track(d, r, seg, seq, ack, flags, n, seglen_seq, now, num)
        if seg.analysis:
            seg.ta = True
        if options:
            self._sack(d, seg, options, ack)
        else:
            d.sack_sum = 0

        # The conversation's completeness (shown as it stood before this frame, as tshark's single pass), the
        # last SYN's time and the handshake's RTT, in tshark's order.
        if seg.new_stream and not reused:
            conv.completeness = (C_SYN | (C_DATA if n else 0)) if syn and not ackf else 0
        else:
            if reused:
                conv.completeness = C_SYN
            c = seg.completeness = conv.completeness
            if syn and ackf:
                c |= C_SYNACK
            elif ackf and not syn:
                c |= C_DATA if n else C_ACK
            if fin and ackf:
                c |= C_FIN
            if rst:
                c |= C_RST
            conv.completeness = c
        if syn and not ackf:
            conv.syn_ns = now
        elif ackf and not syn and conv.syn_ns != 0 and conv.irtt == 0:
            conv.irtt = now - conv.syn_ns
        seg.irtt = conv.irtt

        # In-order delivery.
        events = seg.events
        start = (seq + 1) & M32 if syn else seq
        if d.nxt < 0:
            d.nxt = start
        if n:
            self._accept(d, start, payload, cut, events)
        if fin:
            if r.closing_initiator:
                seg.fin_role = 2
            else:
                d.closing_initiator = True
                seg.fin_role = 1
            d.fin_seq = (start + n) & M32
            missing = _sdiff(d.fin_seq, d.nxt)
            if missing > 0:  # the direction's last bytes were never captured
                events.append(("gap", missing))
                d.nxt = d.fin_seq
            d.closed = True
        if rst:
            d.closed = r.closed = True
        if d.closed and r.closed and not conv.closed:
            conv.closed = True
            self._linger(conv)
        seg.closed = d.closed
        return seg

    @staticmethod
    def _sack(d: _Dir, seg: Seg, options: bytes, ack: int) -> None:
        """The SACK option of a segment: the bytes its blocks cover (the peer's bytes in flight leave them out,
        until this direction's next segment) and whether it reports a duplicate (Seg.dsack)."""
        at = _option_at(options, 5)
        if at < 0:
            d.sack_sum = 0
            return
        d.sack_sum = _sack_sum(options, at)
        seg.dsack = dsack(options[at : at + options[at + 1]], ack)

    @staticmethod
    def _track(
        d: _Dir, r: _Dir, seg: Seg, seq: int, ack: int, flags: int, n: int, seglen: int, now: int, num: int
    ) -> None:
        """tshark's list of unacknowledged segments: this one joins its direction's, the peer's segments this
        ACK completes leave theirs (the oldest one it completes exactly names tcp.analysis.acks_frame and its
        ack_rtt), and what this direction has in flight after it (bytes_in_flight, push_bytes_sent)."""
        ual = d.ual
        if seglen and len(ual) < MAX_UNACKED:
            ual.append(_Unacked(num, seq, (seq + seglen) & M32, now))
        rual = r.ual
        if len(rual):
            _acked(rual, ack, now, seg)
        if n and d.valid_bif and len(ual):
            b = d.base
            first = last = -1
            for u in ual:
                s = (u.seq - b) & M32
                e = (u.nxt - b) & M32
                if first < 0 or s < first:
                    first = s
                if e > last:
                    last = e
            inflight = (last - first - r.sack_sum) & M32
            if 0 < inflight < 2000000000:
                seg.bif = inflight - 1 if flags & (SYN | FIN) else inflight
            if flags & PSH:
                d.push_bytes = n if d.push_last else d.push_bytes + n
                d.push_last = True
            elif d.push_last:
                d.push_bytes = n
                d.push_last = False
            else:
                d.push_bytes += n
            seg.push_bytes = d.push_bytes
            seg.ta = True

    def _linger(self, conv: _Conv) -> None:
        """Keep a closed conversation for late segments; forget the oldest beyond LINGER."""
        closed = self._closed
        closed.append(conv)
        while len(closed) > LINGER:
            old = closed.popleft()
            for pk, a, b in old.keys:
                cands = self._table.get(pk)
                if cands is not None:
                    keep = [c for c in cands if not (c[0] == a and c[1] == b and c[2][0] is old)]
                    if not keep:
                        del self._table[pk]
                    elif len(keep) < len(cands):
                        self._table[pk] = keep
            self.forgotten.append(old.index)

    # -- analysis (the tcp.analysis.* flags, Wireshark's definitions, in its order) ----
    @staticmethod
    def _analyse(
        conv: _Conv,
        d: _Dir,
        r: _Dir,
        seg: Seg,
        seq: int,
        ack: int,
        flags: int,
        n: int,
        win: int,
        seglen: int,
        now: int,
        num: int,
    ) -> tuple[str, ...]:
        out: list[str] = []
        ctl = flags & (SYN | FIN | RST)
        nextseq = d.nextseq
        if flags & ACK:
            r.valid_bif = True
        zwp = n == 1 and seq == nextseq and r.window == 0
        if zwp:
            out.append("zero_window_probe")  # (and nothing else is checked before the ACK's, as tshark)
        else:
            if win == 0 and not ctl:
                out.append("zero_window")
            if nextseq >= 0 and _sdiff(seq, nextseq) > 0 and not flags & RST:
                out.append("lost_segment")
                d.valid_bif = False  # until the peer ACKs again
            # a bare segment where this direction left off, acknowledging what its last one did
            same = n == 0 and not ctl and nextseq >= 0 and seq == nextseq and ack == d.lastack
            if nextseq >= 0 and n <= 1 and not ctl and _sdiff(seq, nextseq) == -1:
                out.append("keep_alive")
            elif same and win and 0 <= d.window != win:
                out.append("window_update")
            rwin, rlast = r.window, r.lastack
            if n and not ctl and rwin >= 0 and rlast >= 0 and ((seq + n) & M32) == ((rlast + rwin) & M32):
                out.append("window_full")
            if same and win == d.window:
                if win and r.lastflags & _KA:
                    out.append("keep_alive_ack")
                elif not win and r.lastflags & _ZWP:
                    out.append("zero_window_probe_ack")
                elif win:
                    dup = d.dupacknum = 1 if d.dupacknum < 0 else d.dupacknum + 1
                    seg.dupack_num = dup
                    seg.dupack_frame = d.lastnondupack
                    out.append("duplicate_ack")
        if ack != d.lastack:
            d.lastnondupack = num
            d.dupacknum = 0
        if flags & ACK and r.tobeacked > 0 and _sdiff(ack, r.tobeacked) > 0:
            seg.ta = True  # (tshark's analysis exists for this frame, flagged or not)
            if _ack_lost(r, r.tobeacked):
                out.append("ack_lost_segment")
        if seglen and "keep_alive" not in out:
            behind = nextseq >= 0 and _sdiff(seq, nextseq) < 0
            if n > 1 and nextseq >= 0 and ((nextseq - 1) & M32) == seq:
                behind = False  # new data after a one-byte probe
            rlast = r.lastack
            if n and rlast > 0 and _sdiff((seq + n) & M32, rlast) <= 0:
                out.append("spurious_retransmission")  # bytes the peer has acknowledged already
            elif behind and r.dupacknum >= 2 and rlast == seq and 0 <= now - r.lastack_ns < FAST_RT_NS:
                out.append("fast_retransmission")
            elif behind and 0 <= now - d.nextseq_ns < (conv.irtt or OOO_NS) and nextseq != (seq + seglen) & M32:
                out.append("out_of_order")  # close behind the highest segment: reordered, not resent
            elif behind:
                out.append("retransmission")
                ual = d.ual
                if ual:  # the oldest segment still unacknowledged
                    seg.rto, seg.rto_frame = now - ual[0].ts, ual[0].frame
                else:
                    seg.rto, seg.rto_frame = now - d.nextseq_ns, d.nextseq_frame
        end = (seq + seglen) & M32
        if (nextseq < 0 or _sdiff(end, nextseq) > 0) and not zwp:
            d.nextseq = end
            d.nextseq_ns = now
            d.nextseq_frame = num
        if (seq == d.tobeacked or d.tobeacked <= 0) and not zwp:  # the highest seq reached without a hole
            d.tobeacked = d.nextseq
        if flags & ACK:
            d.lastack = ack
        d.window = win
        d.lastack_ns = now
        d.lastflags = (_KA if "keep_alive" in out else 0) | (_ZWP if zwp else 0)
        return tuple(out)

    # -- reassembly -----------------------------------------------------------------
    @staticmethod
    def _accept(d: _Dir, start: int, payload: memoryview | bytes, cut: int, events: list) -> None:
        """Deliver what is new in a segment of len(payload) captured + `cut` uncaptured bytes."""
        n = len(payload) + cut
        rel = _sdiff(start, d.nxt)  # d.nxt is set by the first segment of the direction
        if rel + n <= 0:
            # Nothing beyond what was delivered: a retransmission, or bytes filling a hole
            # declared lost, which only they can show.
            if d.holes and payload:
                _late(d.holes, start, payload, events)
            return
        if d.closed:
            return
        if rel > 0:
            # Data beyond a hole: declare the hole lost now and deliver this segment at once.
            events.append(("gap", rel))
            holes = d.holes
            holes.append([d.nxt, start])
            if len(holes) > MAX_HOLES:
                del holes[0]
            skip = 0
        else:
            skip = -rel  # a partial overlap: only the new tail
            if d.holes and payload and skip:
                _late(d.holes, start, payload[:skip], events)
        m = len(payload)
        if skip < m:
            events.append(("data", bytes(payload[skip:]), skip))
        if cut:
            events.append(("cut", cut if skip <= m else n - skip))
        d.nxt = (start + n) & M32


def _in_holes(holes: list[list[int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps a hole declared lost."""
    return any(_sdiff(start, h[1]) < 0 and _sdiff(end, h[0]) > 0 for h in holes)


def _late(holes: list[list[int]], start: int, payload: memoryview | bytes, events: list) -> None:
    """("late", bytes, offset) for each part of a segment that falls in a declared hole (holes
    are in stream order); those holes shrink, so that a second copy is a retransmission."""
    end = (start + len(payload)) & M32
    for h in list(holes):
        a, b = h
        if _sdiff(start, b) < 0 and _sdiff(end, a) > 0:
            lo = a if _sdiff(start, a) < 0 else start
            hi = b if _sdiff(end, b) > 0 else end
            off = _sdiff(lo, start)
            events.append(("late", bytes(payload[off : off + _sdiff(hi, lo)]), off))
            if lo != a and hi != b:  # the middle of the hole: two holes remain
                holes.insert(holes.index(h) + 1, [hi, b])
                h[1] = lo
            elif lo == a and hi == b:
                holes.remove(h)
            elif lo == a:
                h[0] = hi
            else:
                h[1] = lo


def _ack_lost(r: _Dir, tob: int) -> bool:
    """An ACK beyond what the peer `r` sent without a hole: whether tshark flags it [TCP ACKed unseen segment]:
    when the peer has sent more since (which moves the mark to its highest), else once until the peer's own
    ACK moves (r.dupacknum -1 says it was flagged)."""
    if tob < r.nextseq:  # the peer has sent more since (tshark compares the raw numbers)
        r.tobeacked = r.nextseq
        return True
    flagged = r.dupacknum == 0
    r.dupacknum = -1
    return flagged


def _acked(ual: list[_Unacked], ack: int, now: int, seg: Seg) -> None:
    """Drop from a direction's unacknowledged segments (oldest first) those `ack` completes; a partly
    acknowledged one keeps its rest. The oldest one that ends exactly at `ack` is the one acknowledged."""
    first = ual[0]
    if len(ual) == 1 and first.nxt == ack:  # the common case: the one segment outstanding, acknowledged
        seg.acks_frame = first.frame
        seg.ack_rtt = now - first.ts
        seg.ta = True
        ual.clear()
        return
    w = 0
    hit = False
    for u in ual:
        nx = u.nxt
        if nx == ack:
            if not hit:
                seg.acks_frame = u.frame
                seg.ack_rtt = now - u.ts
                seg.ta = hit = True
            continue
        if _sdiff(ack, u.seq) > 0 and _sdiff(ack, nx) <= 0:
            u.seq = ack  # acknowledged in part
        elif _sdiff(nx, ack) <= 0:
            continue  # acknowledged whole
        ual[w] = u
        w += 1
    if w < len(ual):
        del ual[w:]


# -- Info column -------------------------------------------------------------------
_FLAG_NAMES: Final = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE")
_ANALYSIS_PREFIX: Final = {
    "retransmission": "[TCP Retransmission] ",
    "fast_retransmission": "[TCP Fast Retransmission] ",
    "spurious_retransmission": "[TCP Spurious Retransmission] ",
    "out_of_order": "[TCP Out-Of-Order] ",
    "lost_segment": "[TCP Previous segment not captured] ",
    "ack_lost_segment": "[TCP ACKed unseen segment] ",
    "keep_alive": "[TCP Keep-Alive] ",
    "keep_alive_ack": "[TCP Keep-Alive ACK] ",
    "window_update": "[TCP Window Update] ",
    "window_full": "[TCP Window Full] ",
    "zero_window": "[TCP ZeroWindow] ",
    "zero_window_probe": "[TCP ZeroWindowProbe] ",
    "zero_window_probe_ack": "[TCP ZeroWindowProbeAck] ",
    "duplicate_ack": "",  # "[TCP Dup ACK 83#1] ": the frame it repeats and its count (tcp_info's dupack)
    "reused_ports": "[TCP Port numbers reused] ",
}
# Wireshark prepends each flag in turn, so the last checked ends up first.
_PREFIX_ORDER: Final = (
    "zero_window_probe_ack",
    "zero_window",
    "zero_window_probe",
    "duplicate_ack",
    "keep_alive_ack",
    "keep_alive",
    "window_full",
    "window_update",
    "ack_lost_segment",
    "lost_segment",
    "out_of_order",
    "spurious_retransmission",
    "fast_retransmission",
    "retransmission",
    "reused_ports",
)


_FLAGS_TEXT: Final[dict[int, str]] = {}  # flags_str() per flags value (at most 4096 of them)


def flags_str(flags: int) -> str:
    s = _FLAGS_TEXT.get(flags)
    if s is None:
        names = [name for i, name in enumerate(_FLAG_NAMES) if flags & (1 << i)]
        if flags & 0xE00:
            names.append("Reserved")
        s = ", ".join(names) if names else "<None>"
        if 0 <= flags < 0x1000:
            _FLAGS_TEXT[flags] = s
    return s


SEGMENT_SUFFIX: Final = " [TCP segment of a reassembled PDU]"  # Info of a segment carrying part of a PDU
_TS_ONLY: Final = b"\x01\x01\x08\x0a"  # NOP, NOP, Timestamps: the options of almost every segment
_u32x2: Final = struct.Struct("!II").unpack_from


def _u32(b: bytes, p: int) -> int:
    """The big-endian 32-bit number at b[p:p + 4]."""
    return b[p] << 24 | b[p + 1] << 16 | b[p + 2] << 8 | b[p + 3]


def options_info(options: bytes, sack_base: int = 0) -> str:
    """Wireshark's Info suffix for TCP options: " MSS=1460 SACK_PERM TSval=.. TSecr=.. WS=128"."""
    tsval: int
    tsecr: int
    if len(options) == 12 and options[:4] == _TS_ONLY:
        tsval, tsecr = _u32x2(options, 4)  # what the loop below gives for these 12 bytes
        return f" TSval={tsval} TSecr={tsecr}"
    out: list[str] = []
    p, n = 0, len(options)
    while p < n:
        kind = options[p]
        if kind == 0:
            break
        if kind == 1:
            p += 1
            continue
        if p + 1 >= n:
            break
        ln = options[p + 1]
        if ln < 2 or p + ln > n:
            break
        # (fields read byte by byte: native in the compiled build, where struct boxes them through a
        # Python call; a SYN's options, on every fourth frame of a capture of short connections)
        if kind == 2 and ln == 4:
            out.append(f"MSS={options[p + 2] << 8 | options[p + 3]}")
        elif kind == 3 and ln == 3:
            out.append(f"WS={1 << min(options[p + 2], 14)}")
        elif kind == 4 and ln == 2:
            out.append("SACK_PERM")
        elif kind == 5 and ln >= 10:
            for q in range(p + 2, p + ln - 7, 8):
                le, re_ = _u32(options, q), _u32(options, q + 4)
                out.append(f"SLE={(le - sack_base) & M32} SRE={(re_ - sack_base) & M32}")
        elif kind == 8 and ln == 10:
            tsval, tsecr = _u32(options, p + 2), _u32(options, p + 6)
            out.append(f"TSval={tsval} TSecr={tsecr}")
        p += ln
    return (" " + " ".join(out)) if out else ""


def analysis_prefix(analysis: Iterable[str], dupack: tuple[int, int] = (0, 0)) -> str:
    """The Info prefixes of Seg.analysis names ("[TCP Retransmission] ", ...), in Wireshark's order."""
    got = set(analysis)
    return "".join(_ANALYSIS_PREFIX[a] or f"[TCP Dup ACK {dupack[0]}#{dupack[1]}] " for a in _PREFIX_ORDER if a in got)


def tcp_info(
    sport: int,
    dport: int,
    flags: int,
    seq: int,
    ack: int,
    win: int,
    length: int,
    options: bytes = b"",
    analysis: Iterable[str] = (),
    *,
    urgent: int = 0,
    sack_base: int = 0,
    pdu_segment: bool = False,
    arrow: str = "\u2192",
    dupack: tuple[int, int] = (0, 0),
) -> str:
    """Wireshark's Info text of a TCP frame from relative seq/ack and the calculated window.

    `analysis` holds Seg.analysis names (prefixes such as "[TCP Retransmission] ");
    `pdu_segment` appends " [TCP segment of a reassembled PDU]" (the caller knows when
    the payload is part of an upper-layer PDU completed in a later frame);
    `arrow` stands between the ports (the headless summary's ASCII mark: sniffer.output.summary);
    `sack_base` is the raw seq that SACK edges are made relative to (the acked side's base);
    `dupack`: a duplicate ACK's (frame it repeats, count), for its "[TCP Dup ACK 83#1] ".
    """
    tsval: int  # declared: native ints in the compiled build
    tsecr: int
    prefix = analysis_prefix(analysis, dupack) if analysis else ""
    fl = _FLAGS_TEXT.get(flags) or flags_str(flags)
    if (
        flags & (ACK | URG) == ACK
        and len(options) == 12
        and options[0] == 1
        and options[1] == 1
        and options[2] == 8
        and options[3] == 10
    ):
        # The common segment (ACK, timestamps only, _TS_ONLY) as one string: the general steps below
        # build four. options_info()'s fast path, inline, its bytes read one by one (natively in the
        # compiled build: no slice, no struct tuple).
        tsval = options[4] << 24 | options[5] << 16 | options[6] << 8 | options[7]
        tsecr = options[8] << 24 | options[9] << 16 | options[10] << 8 | options[11]
        s = f"{prefix}{sport} {arrow} {dport} [{fl}] Seq={seq} Ack={ack} Win={win} Len={length} TSval={tsval}"
        s = f"{s} TSecr={tsecr}"
        return s + SEGMENT_SUFFIX if pdu_segment else s
    if flags & ACK:
        s = f"{prefix}{sport} {arrow} {dport} [{fl}] Seq={seq} Ack={ack} Win={win}"
    else:
        s = f"{prefix}{sport} {arrow} {dport} [{fl}] Seq={seq} Win={win}"
    s = f"{s} Urg={urgent} Len={length}" if flags & URG else f"{s} Len={length}"
    if options:
        if len(options) == 12 and options[:4] == _TS_ONLY:  # options_info()'s fast path, inline
            tsval, tsecr = _u32x2(options, 4)
            s = f"{s} TSval={tsval} TSecr={tsecr}"
        else:
            s += options_info(options, sack_base)
    if pdu_segment:
        s += SEGMENT_SUFFIX
    return s


def seg_info(
    seg: Seg,
    sport: int,
    dport: int,
    flags: int,
    length: int,
    options: bytes = b"",
    *,
    urgent: int = 0,
    pdu_segment: bool = False,
) -> str:
    """tcp_info() for a Seg from TcpStreams.segment()."""
    return tcp_info(
        sport,
        dport,
        flags,
        seg.seq,
        seg.ack,
        seg.win,
        length,
        options,
        seg.analysis,
        urgent=urgent,
        sack_base=seg.ack_base,
        pdu_segment=pdu_segment,
        dupack=(seg.dupack_frame, seg.dupack_num),
    )
