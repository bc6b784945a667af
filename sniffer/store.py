"""The packet store: compact summary rows in RAM, frame bytes and dissection context on disk.

The UI's packet list reads rows from here; nothing per packet lives in RAM as a Python object.
Per frame the store keeps fixed-width columns in `array`s (timestamp, exact timestamp, spill offset, lengths,
interned address/protocol ids, TCP stream, a colour class, the highest expert severity) and the Info text,
zlib-compressed in blocks of 256 rows; and it feeds the display filter's own index (sniffer.filter.index: MQTT packet
word, topic id, MQTT 5 property ids, ports, TCP flags and length), which it hosts as `index`;
~95 bytes per frame in all (bench/bench_ui.py measures it). sniffer.filter.rows answers display
filters from the index and the columns the store makes public (`column()`, `addresses()`), no Frame
rebuilt for them.

Frame bytes go to an unlinked spill file, each record followed by the frame's dissection
context (written with marshal, or pickle for a value marshal does not know): the TCP segment
analysis (`Frame.seg`) and the MQTT PDUs completed in the frame (`Frame.pdus`, with their
reassembled bytes, protocol version, resolved topic alias and session annotation), flattened to
(class id, slot values) tuples; bytes that also occur in the frame (a PDU lying whole in it, a
segment's payload) are stored as an (offset, length) reference, not a copy.
Why store that context rather than re-run the dissector from the start of the TCP stream when a
frame is selected: selecting a frame then costs one `pread` and one unmarshal, whatever its
position in a stream that may be a million frames long, and the result is exactly what the
dissector computed when the frame arrived (MQTT 5 topic aliases, the version learned from
CONNECT, out-of-order reassembly). The context costs disk (a few hundred bytes per frame), not RAM.

A frame read from a plain capture file (the UI's FileSource) is not copied: its row keeps the
file offset of its bytes (FILE_ROW set in the offset column), and its tree is rebuilt by
dissecting the file again (sniffer.replay: its TCP stream from the stream's first frame, or
every frame in order for a scan). What the session layer said of its PDUs, which may span
connections, is kept instead, in a short annotation record in the spill (the connection's
shared annotation by reference). Loading then skips the context (half the cost of a row) and
the spill holds only those records. Rows stored after the load hit the --max-buffered cap keep
their context (a stream replayed alone would not hit the cap the same way), as do the frames of a
stream that reuses an earlier one's ports (Seg.reopens) until its first checkpoint, and so do a stream's
frames more than REPLAY_MAX after its last checkpoint (the loader saves a stream's state every
CHECK_EVERY frames; one that cannot be saved, TLS, has none): selecting any frame stays quick on a
connection of millions of frames. Each file row keeps 16 bits of the CRC-32 of its first 128 bytes (the
headers, sniffer.replay.CRC_SPAN): a capture rewritten in place while it is shown (`tcpdump -w` to the
same name) gives rows without bytes and a reason (file_error), never another capture's frames.

A live capture's rows are stored the same way, except that their bytes go to the spill (there is
no file to read them from): SPILL_ROW, bytes and annotation record, no context.

A bounded UI (--keep-frames) starts a new store, its `successor()`, when one is full: the frames
numbered on from the last, the old store (its RAM and its spill) dropped once nobody reads it. The
TCP streams still open then carry over as a checkpoint at their position 0 (the loader saves them);
a stream that has none (TLS, forgotten) is an orphan there: its rows keep their context, and a scan
in row order does not dissect them again (replay_skips).

Appends come from one writer thread (the UI's loader), a batch at a time: `put()` each row, then
`publish()` the batch (its columns go into the arrays in one step each, then `count` moves on);
readers on the UI thread only look at rows below `count`.
"""

from __future__ import annotations

import io
import marshal
import math
import operator
import os
import pickle
import struct
import tempfile
import threading
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from librt.strings import BytesWriter

from sniffer.colbuf import drain, put_f64, put_i32, put_u8, put_u16, put_u32, put_u64
from sniffer.expert_level import frame_level
from sniffer.filter.index import RowIndex
from sniffer.net.pcapfile import DIGITS as _DIGITS
from sniffer.net.pcapfile import stamp_ns as _stamp_ns
from sniffer.net.reassembly import SEGMENT_SUFFIX
from sniffer.replay import CRC_SPAN
from sniffer.store_pickle import context_pickler

if TYPE_CHECKING:
    from sniffer.pipeline import Frame
    from sniffer.session.backfill import Backfill

_ANN_LEN: Final = struct.Struct("<I")  # length of a record in the spill (an annotation record, a checkpoint)
_REC: Final = struct.Struct("<III")  # frame length, context length, offset + 1 of the single PDU in the frame (0: none)
_SEGMENT_TEXT: Final = SEGMENT_SUFFIX.lstrip()
_MIN_SHARED: Final = 16  # bytes objects of the context at least this long are looked up in the frame's bytes

# Colour classes (one byte per row): the MQTT message type of the first PDU (1..15), or one of these.
CLS_OTHER: Final = 0
CLS_TCP_CONTROL: Final = 16  # TCP without payload (handshake, ACK, FIN): dimmed like Wireshark's greyed rows
CLS_TCP_DATA: Final = 17  # TCP payload that completes no PDU (segment of a reassembled PDU)
CLS_TCP_RST: Final = 18
CLS_MALFORMED: Final = 0x40  # flag: a PDU of the frame is malformed

_FLUSH_AT = 1 << 20
# A context at least this long (a reassembled PDU's payload, which lies in no one frame) is stored
# zlib-compressed: those few frames made half the spill file (JSON and text shrink ~5x), and the
# cost falls on 2-3 % of frames. Its first byte is then zlib's 0x78, which neither marshal (a tuple:
# 0x28/0x29, with its ref flag 0xa8/0xa9) nor pickle (0x80) writes first.
_COMPRESS_AT: Final = 2048
FILE_ROW: Final = 1 << 63  # flag in the offset column: the row's bytes lie in the capture file, at the rest
SPILL_ROW: Final = 1 << 62  # flag: the row's bytes are in the spill without context (a live row, dissected again)
REPLAYED: Final = FILE_ROW | SPILL_ROW
# Rebuilding a file or live row dissects at most this many frames again (~7 us each: 70 ms), however
# long the connection: a frame further than that from its stream's start keeps its context
REPLAY_MAX = 10_000
# ... counted from the stream's last checkpoint (its TCP and MQTT state, pickled by the loader after a
# batch once CHECK_EVERY frames of the stream came since the one before: sniffer.replay.snapshot)
CHECK_EVERY = 5_000  # (taken after a batch: REPLAY_MAX >= CHECK_EVERY + a file's 2,000-record batch)
_ZLIB_FIRST: Final = 0x78
INFO_BLOCK = 256  # rows of Info text compressed together


def _slots_of(cls: type) -> tuple[str, ...]:
    native = getattr(cls, "__mypyc_attrs__", None)  # a class compiled by mypyc (sniffer.native) has no __slots__
    if native is not None:
        return tuple(native)
    out: list[str] = []
    for c in reversed(cls.__mro__):
        sl = c.__dict__.get("__slots__", ())
        out.extend((sl,) if isinstance(sl, str) else sl)
    return tuple(out)


def _shared(b: Any, find: Any) -> Any:
    """bytes found in the frame -> (offset, length) into it (not stored twice); else the bytes."""
    if type(b) is memoryview:
        b = b.tobytes()
    if type(b) is bytes and len(b) >= _MIN_SHARED:
        off = find(b)
        if off >= 0:
            return (off, len(b))
    return b


def _events(evs: list, find: Any) -> list:
    return [(ev[0], _shared(ev[1], find), *ev[2:]) if ev[0] == "data" else ev for ev in evs]


def _unshare_events(evs: list, data: bytes) -> list:
    out = []
    for ev in evs:
        if ev[0] == "data" and type(ev[1]) is tuple:
            off, n = ev[1]
            ev = (ev[0], data[off : off + n], *ev[2:])
        out.append(ev)
    return out


def colour_class(frame: Frame) -> int:
    """The row's colour class from a dissected Frame (see the CLS_* constants)."""
    pdus = frame.pdus
    if pdus:
        cls = pdus[0].msgtype & 0x0F or CLS_OTHER
        if any(p.error is not None for p in pdus):
            cls |= CLS_MALFORMED
        return cls
    if frame.proto != "TCP":
        return CLS_OTHER
    info = frame.info
    if "RST" in info and "[RST" in info:
        return CLS_TCP_RST
    if info.endswith(_SEGMENT_TEXT):  # (a PDU's first segment reads only that, or after analysis notes)
        return CLS_TCP_DATA
    return CLS_TCP_CONTROL


class _Constant:
    """A column whose rows nearly always hold one value: that value, or an array once a row differs."""

    __slots__ = ("typecode", "value", "column")

    def __init__(self, typecode: str) -> None:
        self.typecode = typecode
        self.value = -1  # (before the first row)
        self.column = array(typecode)  # empty while every row holds `value`

    def append(self, v: int, row: int) -> None:
        if self.column:
            self.column.append(v)
        elif row == 0:
            self.value = v
        elif v != self.value:
            col = array(self.typecode, [self.value]) * row
            col.append(v)
            self.column = col  # (published whole: a reader sees the value or the full column)

    def __getitem__(self, i: int) -> int:
        col = self.column
        return col[i] if col else self.value


class PacketStore:
    """Compact rows for every frame seen; `frame(i)` rebuilds the full Frame of row i on demand."""

    def __init__(self, spill_dir: str | None = None) -> None:
        # What the session layer learned of stored frames after storing them (a response names its
        # request): sniffer.session.tracker.Tracker.backfill, applied whenever a frame is rebuilt.
        self.backfill: Backfill | None = None
        self._ts = array("d")
        # the exact timestamp: integer ticks of 10^-n s (2^-n with bit 7 of n set, as pcapng's
        # if_tsresol); saving writes these, so a frame's time is never rounded through a float
        self._ticks = array("Q")
        # tsresol and linktype are one value for a whole file as a rule: one value, until a row differs
        # (then a column per row, as _iface_ids)
        self._tsres = _Constant("B")
        self._ticks_other: dict[int, int] = {}  # rows whose ticks do not fit 64 unsigned bits
        # Time column: ts - first_ts is exactly the dissector's rel_ts (same float operation); rows
        # where it is not (a dissector that saw earlier frames) keep theirs here.
        self._rel_other: dict[int, float] = {}
        self._off = array("Q")  # spill offset of the record
        self._caplen = array("I")
        self._origlen = array("I")
        self._src = array("I")
        self._dst = array("I")
        self._proto = array("B")
        self._link = _Constant("H")
        self._stream = array("i")
        # the capture source of each row when several are merged (frame.interface_name); None until one is
        self._ifaces: list[tuple[int, str]] = []  # (frame.interface_id, frame.interface_name) of each id below
        self._iface_index: dict[tuple[int, str], int] = {}
        self._iface_ids: array | None = None
        self._cls = array("B")
        # highest expert severity of the frame's notes (sniffer.expert_level: 0 none .. 4 Error), set once:
        # notes are only ever put on the frame itself, so what the backfill adds later never changes it
        self._sev = array("B")
        # rows put() but not yet published, per column, as bytes (see publish() and sniffer.colbuf)
        self._pend_rows = 0
        self._p_ts = BytesWriter()
        self._p_ticks = BytesWriter()
        self._p_off = BytesWriter()
        self._p_caplen = BytesWriter()
        self._p_origlen = BytesWriter()
        self._p_src = BytesWriter()
        self._p_dst = BytesWriter()
        self._p_proto = BytesWriter()
        self._p_stream = BytesWriter()
        self._p_cls = BytesWriter()
        self._p_sev = BytesWriter()
        self._p_pdu_at = BytesWriter()
        self._p_crc = BytesWriter()
        self._p_ends = BytesWriter()  # the open Info block's end offsets (see _itail)
        # Info text: rows in blocks of INFO_BLOCK; a full block is zlib-compressed (Info texts repeat
        # their shapes: ~74 -> ~14 bytes a row); the open block is plain. Readers take the tuple
        # (first row of the open block, its text, its end offsets) once: the writer appends a block to
        # _iblocks before it swaps in a new tuple, and never changes a tuple's objects afterwards
        # except by appending, so a reader sees its row either in a block or in its tail.
        self._iblocks: list[bytes] = []
        self._itail: tuple[int, bytearray, array] = (0, bytearray(), array("I"))
        self._icache: tuple[int, bytes, memoryview] | None = None  # last block read: (index, text, ends)
        self.index = RowIndex()  # the display filter's columns (sniffer.filter.index), fed by add()
        self._addr_of: list[tuple[int, int] | None] = []  # per string id: (ip version, address) if an IP address
        self._strings: list[str] = []
        self._string_ids: dict[str, int] = {}
        self._max_addr = 0
        self._protos: list[str] = []
        self._proto_ids: dict[str, int] = {}
        self.count = 0  # rows readable by other threads
        self.first_ts: float | None = None
        # the capture's first frame in integer ns (the Time column counts from it exactly, as tshark does),
        # and the most decimals a row's resolution shows (sniffer.net.pcapfile.DIGITS: 6 for us, 9 for ns)
        self.first_ns: int | None = None
        self.time_digits = 0
        self._last_res = -1
        # the decimals of every row when the source says (a merged capture: nine, as its -w file reads back)
        self.forced_digits = -1
        # extremes of the Time (ns since the first frame) and Length columns: the list widens them to fit
        self.rel_min_ns = 0
        self.rel_max_ns = 0
        self._len_max = 0
        self._spill_dir = spill_dir
        self._spill = tempfile.TemporaryFile(dir=spill_dir, prefix="mqttsniff-spill-")  # noqa: SIM115
        self._fd = self._spill.fileno()
        self._flushed = 0  # bytes of the spill on disk
        self._pending = bytearray()  # records not yet written
        self._write_lock = threading.Lock()  # pending buffer vs. readers of not-yet-flushed records
        self._classes: list[tuple[type, tuple[str, ...]]] = []  # Seg, PDU classes of the context
        self._class_ids: dict[type, int] = {}
        self._flatten: list[tuple[Any, tuple[str, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = []
        self._pickle_buf = io.BytesIO()
        self._pickler = context_pickler(self._pickle_buf)
        self.context_failures = 0
        # a file source (attach_file): the replay engine, the rows with an
        # annotation record and that record's spill offset, and the shared annotations by reference
        self.replay: Any = None
        self._ann_rows = array("I")
        self._ann_off = array("I")
        self._ann_wide = False  # _ann_off holds 64-bit offsets (a spill past 4 GiB)
        self._p_ann_rows = BytesWriter()  # (rows put but not published, as the columns above)
        self._p_ann_off = BytesWriter()
        self._pdu_at = array("H")  # file rows: 1 + where the frame's single whole PDU starts, 0: none
        self._shared_ids: dict[int, int] = {}
        self._shared: list[Any] = []
        self._seq_at: Any = None  # the scans' reader over file rows (_sequential)
        self._stream_len = array("I")  # per TCP stream: frames stored so far (_replayable)
        self._ckpts: dict[int, list[tuple[int, int]]] = {}  # stream -> [(its frames before, spill offset)]
        self._ck_failed: set[int] = set()  # streams whose state could not be saved (TLS)
        # streams begun on an earlier conversation's ports (Seg.reopens) and without a checkpoint yet: a
        # replay from their start would begin without that conversation, so their rows keep their context
        # until the loader saves their state (checkpoint_due says so at once)
        self._reopened: set[int] = set()
        self._crc = array("H")  # per row: low 16 bits of the CRC-32 of a file row's first bytes (Replay.read checks)
        self.file_error = ""  # why a file row could not be rebuilt (the status bar says it)
        self.file_rows_ok = True  # cleared once the load hit the --max-buffered cap: rows keep context
        # a successor store (--keep-frames): frames stored before row 0, the time of the last of them,
        # the streams that began before row 0 (numbered below this), and those of them without a state
        self.number_base = 0
        self.prev_ts: float | None = None
        self.prev_ns: int | None = None
        self.replay_from = 0
        self._orphans: set[int] = set()

    def successor(self) -> PacketStore:
        """An empty store that goes on where this one stops (a bounded UI: --keep-frames): frame numbers,
        capture start (the Time column), the session layer's backfill, the TCP stream numbers already
        used; `attach_file` and the carried streams' checkpoints are the caller's (the loader's)."""
        self.publish()
        new = PacketStore(self._spill_dir)
        new.number_base = self.number_base + self.count
        new.first_ts = self.first_ts
        new.prev_ts = self._ts[self.count - 1] if self.count else self.prev_ts
        new.first_ns = self.first_ns
        new.prev_ns = self.ns(self.count - 1) if self.count else self.prev_ns
        new.time_digits = self.time_digits
        new.forced_digits = self.forced_digits
        new.backfill = self.backfill
        new.file_rows_ok = self.file_rows_ok
        new.replay_from = max(self.replay_from, len(self._stream_len))
        new.rel_min_ns, new.rel_max_ns, new._len_max = self.rel_min_ns, self.rel_max_ns, self._len_max
        return new

    def number(self, i: int) -> int:
        """The frame number of row i: later stores of a bounded UI number on from the frames before."""
        return self.number_base + i + 1

    def row_of(self, number: int) -> int:
        """The row of frame `number`: negative when it left with an earlier store, >= count if not yet here."""
        return number - 1 - self.number_base

    def replay_skips(self, i: int) -> bool:
        """Row i belongs to a stream carried over without its state (see successor()): a scan in row
        order leaves it out, as its rows keep their context and its state cannot be rebuilt here."""
        return bool(self._orphans) and self._stream[i] in self._orphans

    def carried_states(self) -> list[bytes]:
        """The states of the streams carried over from the store before, saved at their position 0."""
        return [self._record(cks[0][1]) for s, cks in self._ckpts.items() if s < self.replay_from and cks[0][0] == 0]

    # -- writing (one thread) ----------------------------------------------------------------
    def _intern(self, s: str) -> int:
        i = self._string_ids.get(s)
        if i is None:
            i = self._string_ids[s] = len(self._strings)
            self._strings.append(s)
            self._addr_of.append(None)
            if len(s) > self._max_addr:
                self._max_addr = len(s)
        return i

    def max_addr_len(self) -> int:
        """Length of the longest Source/Destination seen (the list sizes its columns by it)."""
        return self._max_addr

    def max_proto_len(self) -> int:
        """Length of the longest Protocol seen (MQTT/JSON, TLSv1.3, WebSocket: the list sizes its column by it)."""
        return max((len(p) for p in self._protos), default=0)

    def column_lens(self) -> tuple[int, int]:
        """Characters of the widest No. and Length values stored so far (the Time column: rel_min_ns, rel_max_ns,
        time_digits)."""
        return len(str(self.number(self.count - 1))), len(str(self._len_max))

    def _class_id(self, cls: type) -> int:
        cid = self._class_ids.get(cls)
        if cid is None:
            slots = _slots_of(cls)
            shared = tuple(k for k, n in enumerate(slots) if n == "data")
            events = tuple(k for k, n in enumerate(slots) if n in ("events", "rev_events"))
            nested = tuple(k for k, n in enumerate(slots) if n == "ann")  # a PDU's session annotation
            cid = self._class_ids[cls] = len(self._classes)
            self._classes.append((cls, slots))
            self._flatten.append((operator.attrgetter(*slots), slots, shared, events, nested))
        return cid

    def _flat(self, obj: Any, find: Any) -> tuple:
        """(class id, slot values) of a Seg or PDU: plain tuples pickle several times faster than
        __slots__ objects; payload bytes that lie in the frame become references into it."""
        cid = self._class_id(type(obj))
        get, slots, shared, events, nested = self._flatten[cid]
        try:
            vals = get(obj)
        except AttributeError:
            vals = tuple(getattr(obj, n, ...) for n in slots)  # ... = an unset slot
        if len(slots) == 1:
            vals = (vals,)
        fixed = None
        for k in shared:
            v = vals[k]
            if type(v) is not bytes or len(v) >= _MIN_SHARED:
                fixed = fixed or list(vals)
                fixed[k] = _shared(v, find)
        for k in events:
            if vals[k]:
                fixed = fixed or list(vals)
                fixed[k] = _events(vals[k], find)
        for k in nested:
            if vals[k] is not None:
                fixed = fixed or list(vals)
                fixed[k] = self._flat(vals[k], find)
        return cid, vals if fixed is None else tuple(fixed)

    def _unflat(self, flat: tuple, data: bytes) -> Any:
        cls, slots = self._classes[flat[0]]
        obj = cls.__new__(cls)
        for n, v in zip(slots, flat[1], strict=True):
            if v is ...:
                continue
            if n == "data" and type(v) is tuple:
                v = data[v[0] : v[0] + v[1]]
            elif n in ("events", "rev_events") and v:
                v = _unshare_events(v, data)
            elif n == "ann" and type(v) is tuple:
                v = self._unflat(v, data)
            setattr(obj, n, v)
        return obj

    def _context(self, frame: Any) -> bytes:
        tcp = frame.seg
        link = frame.link_notes
        if tcp is None and not frame.pdus and not link:
            return b"" if frame.delta == 0.0 else pickle.dumps((None, [], frame.delta))
        try:
            find = frame.data.find
            if tcp is not None:
                tcp = self._flat(tcp, find)
            ctx: tuple[Any, ...] = (tcp, [self._flat(p, find) for p in frame.pdus], frame.delta)
            held = getattr(frame, "held_secret", ())
            if held or link:  # secrets of a PDU completed later; ARP's duplicate addresses
                ctx = (*ctx, held, link) if link else (*ctx, held)
            try:  # marshal: several times faster than pickle for plain tuples, which these nearly always are
                out = marshal.dumps(ctx)
            except ValueError:  # an object marshal does not know (its first byte is never pickle's 0x80)
                buf = self._pickle_buf
                buf.seek(0)
                buf.truncate()
                self._pickler.clear_memo()
                self._pickler.dump(ctx)
                out = buf.getvalue()
        except Exception:  # an unpicklable context: the frame is still listed, its tree is partial
            self.context_failures += 1
            return b""
        if len(out) >= _COMPRESS_AT:
            packed = zlib.compress(out, 1)
            if len(packed) < len(out):
                return packed
        return out

    def _replayable(self, stream: int) -> bool:
        """Whether this frame of `stream` may be dissected again when read: it is at most REPLAY_MAX
        frames after the stream's start or its last checkpoint, so rebuilding it dissects at most that
        many; otherwise it keeps its context, and selecting it stays one read."""
        if stream < 0:
            return True
        lens = self._stream_len
        if stream >= len(lens):
            lens.extend(bytes(4 * (stream + 1 - len(lens))))  # (stream numbers are dense: 0, 1, 2, ...)
        n = lens[stream] + 1
        lens[stream] = n
        cks = self._ckpts.get(stream)
        if stream < self.replay_from and not cks:  # began before this store, state not carried over
            self._orphans.add(stream)
            return False
        return n - (cks[-1][0] if cks else 0) <= REPLAY_MAX

    def _from_earlier(self, frame: Frame) -> bool:
        """Whether a row of a stream that reuses an earlier conversation's ports may still be replayed: not
        its first frame nor those after it until the stream's first checkpoint (see _reopened)."""
        stream = frame.stream
        if frame.seg is not None and frame.seg.reopens and stream not in self._ckpts:
            self._reopened.add(stream)
        return stream not in self._reopened

    def checkpoint_due(self, stream: int) -> bool:
        """CHECK_EVERY frames of `stream` were stored since its last checkpoint (and it can have one), or it
        reused an earlier conversation's ports and has none yet."""
        if stream in self._ck_failed or stream >= len(self._stream_len):
            return False
        if stream in self._reopened:
            return True
        cks = self._ckpts.get(stream)
        return self._stream_len[stream] - (cks[-1][0] if cks else 0) >= CHECK_EVERY

    def add_checkpoint(self, stream: int, state: bytes | None) -> None:
        """The stream's state after its frames stored so far (None: it cannot be saved; no more tries)."""
        if state is None:
            self._ck_failed.add(stream)  # (a reopened stream's rows then keep their context to its end)
            return
        self._reopened.discard(stream)
        lens = self._stream_len
        if stream >= len(lens):  # (a stream carried over by a successor store, before its first row here)
            lens.extend(bytes(4 * (stream + 1 - len(lens))))
        self._ckpts.setdefault(stream, []).append((self._stream_len[stream], self._put_record(state)))

    def _put_record(self, blob: bytes) -> int:
        """Append a length-prefixed record to the spill; returns its offset (read back by _record())."""
        with self._write_lock:
            off = self._flushed + len(self._pending)
            self._pending += _ANN_LEN.pack(len(blob))
            self._pending += blob
            if len(self._pending) >= _FLUSH_AT:
                self._flush_locked()
        return off

    def _record(self, off: int) -> bytes:
        (n,) = _ANN_LEN.unpack(self._read(off, _ANN_LEN.size))
        return self._read(off + _ANN_LEN.size, n)

    def checkpoint_before(self, stream: int, k: int) -> tuple[int, bytes] | None:
        """(position, state) of the stream's last checkpoint taken before its frame k (0-based), or None."""
        best = None
        for pos, off in self._ckpts.get(stream, ()):
            if pos > k:
                break
            best = (pos, off)
        if best is None:
            return None
        return best[0], self._record(best[1])

    def _annotations(self, frame: Frame) -> bytes:
        """The annotation record of a file row: per PDU its session annotation (an int: a shared one
        by reference; a tuple: its own, flattened; None), and the closing frame's notes."""
        seg = frame.seg
        notes = None if seg is None else seg.session_notes
        refs: list[Any] = []
        some = False
        for p in frame.pdus:
            a = p.ann
            if a is None:
                refs.append(None)
                continue
            some = True
            if a.shared:
                k = self._shared_ids.get(id(a))
                if k is None:  # (the object is kept alive in _shared: its id is never reused)
                    k = self._shared_ids[id(a)] = len(self._shared)
                    self._shared.append(a)
                refs.append(k)
            else:
                refs.append(self._flat(a, None))
        link = frame.link_notes  # ARP's duplicate addresses: found in the load's order, not by a replay
        if not some and not notes and not link:
            return b""
        return marshal.dumps((refs, notes, link) if link else (refs, notes))

    def _apply_annotations(self, i: int, fr: Any) -> None:
        """Put row i's annotation record (and the session layer's backfill) on a replayed Frame."""
        if fr.seg is None and not fr.pdus:
            # a frame below TCP: its Info and ARP's duplicates are the load's, found in capture order (a replay
            # that met a later frame first would report a duplicate the load did not, or miss one)
            fr.link_notes = ()
            fr._info = self.info(i)
        rows = self._ann_rows
        k = bisect_left(rows, i)
        if k < len(rows) and rows[k] == i:
            refs, notes, *link = marshal.loads(self._record(self._ann_off[k]))
            if link:
                fr.link_notes = link[0]
            for p, ref in zip(fr.pdus, refs, strict=False):
                if ref is None:
                    continue
                p.ann = self._shared[ref] if type(ref) is int else self._unflat(ref, b"")
            if notes and fr.seg is not None:
                fr.seg.session_notes = notes
        if self.backfill and fr.pdus:
            from sniffer.session.tracker import fill

            fill(fr.pdus, self.backfill.get(self.number(i)))

    def stream_rows(self, stream: int, start: int = 0) -> array:
        """The rows from `start` on of one TCP stream stored so far, ascending (sniffer.replay caches
        them and asks only for newer ones): found in the stream column by C-speed searches for the 4
        bytes of the number, not kept per row."""
        n = self.count
        raw = self._stream[start:n].tobytes()
        pat = array("i", [stream]).tobytes()
        out = array("I")
        find = raw.find
        pos = find(pat)
        while pos >= 0:
            if pos & 3:  # a match across two numbers
                pos = find(pat, pos + 1)
            else:
                out.append(start + (pos >> 2))
                pos = find(pat, pos + 4)
        return out

    def is_file_row(self, i: int) -> bool:
        return bool(self._off[i] & FILE_ROW)

    def is_replayed_row(self, i: int) -> bool:
        """Row i is rebuilt by dissecting again (its bytes in the file or the spill), not from a context."""
        return bool(self._off[i] & REPLAYED)

    @staticmethod
    def _pdu_offset(frame: Frame) -> int:
        """1 + where the frame's one PDU lies whole in its bytes (read without unpickling), else 0."""
        pdus = frame.pdus
        if len(pdus) != 1 or pdus[0].error is not None:
            return 0
        d = pdus[0].data
        if not d:
            return 0
        data = frame.data
        if data.endswith(d):  # (where a whole PDU nearly always lies: at the end of the frame's TCP payload)
            return len(data) - len(d) + 1
        return data.find(d) + 1

    def attach_file(self, path: str | None, make_dissector: Any) -> None:
        """Rows added with a file offset from now on keep only that offset, rows without one (path None:
        a live capture) their bytes in the spill but no context (see the module docstring);
        `make_dissector()` returns a dissector with the load's settings and no session layer."""
        from sniffer.replay import Replay

        self.publish()
        self.replay = Replay(self, path, make_dissector)
        self._pdu_at = array("H", bytes(2 * self.count))
        self._crc = array("H", bytes(2 * self.count))

    def add(self, frame: Frame, ticks: int | None = None, tsresol: int = 9, foff: int = -1) -> int:
        """put() one dissected frame and publish() it; returns its row index."""
        row = self.put(frame, ticks, tsresol, foff)
        self.publish()
        return row

    def put(self, frame: Frame, ticks: int | None = None, tsresol: int = 9, foff: int = -1) -> int:
        """Append one dissected frame, readable once publish() is called; returns its row index.
        `ticks`/`tsresol`: its timestamp as the capture file had it (see CaptureReader.exact); without
        them, microseconds from frame.ts (all a float since 1970 holds). `foff`: where the frame's bytes
        lie in the attached capture file (-1: not there)."""
        row = self.count + self._pend_rows
        data = frame.data
        replay = self.replay
        again = replay is not None and self.file_rows_ok and self._replayable(frame.stream)
        if again and frame.seg is not None and frame.seg.ipfrag is not None:
            # its segment came in IP fragments, earlier frames outside its stream: a replay of the stream alone
            # would not have them. It keeps its context, and so do the stream's frames up to the checkpoint it
            # is due at once (checkpoint_due), after which a replay starts past it
            self._reopened.add(frame.stream)
            again = False
        if again and (self._reopened or frame.seg is not None and frame.seg.reopens):
            again = self._from_earlier(frame)
        if again and (foff >= 0 or replay.fd < 0):
            ann = self._annotations(frame)
            if ann:
                aoff = self._put_record(ann)
                if aoff > 0xFFFF_FFFF and not self._ann_wide:  # (a spill past 4 GiB: wider offsets)
                    drain(self._p_ann_off, self._ann_off)
                    self._ann_off = array("Q", self._ann_off)
                    self._ann_wide = True
                if self._ann_wide:
                    put_u64(self._p_ann_off, aoff)
                else:
                    put_u32(self._p_ann_off, aoff)
                put_u32(self._p_ann_rows, row)
            p = self._pdu_offset(frame)
            if foff >= 0:
                put_u16(self._p_pdu_at, p if p < 0x10000 else 0)
                put_u16(self._p_crc, zlib.crc32(data[:CRC_SPAN]) & 0xFFFF)
                off = foff | FILE_ROW
            else:  # a live row: its bytes in the spill, its context left out
                with self._write_lock:
                    off = (self._flushed + len(self._pending)) | SPILL_ROW
                    self._pending += _REC.pack(len(data), 0, p)
                    self._pending += data
                    if len(self._pending) >= _FLUSH_AT:
                        self._flush_locked()
                put_u16(self._p_pdu_at, 0)
                put_u16(self._p_crc, 0)
        else:
            ctx = self._context(frame)
            with self._write_lock:
                off = self._flushed + len(self._pending)
                self._pending += _REC.pack(len(data), len(ctx), self._pdu_offset(frame))
                self._pending += data
                self._pending += ctx
                if len(self._pending) >= _FLUSH_AT:
                    self._flush_locked()
            if replay is not None:
                put_u16(self._p_pdu_at, 0)
                put_u16(self._p_crc, 0)
        if self.first_ts is None:
            self.first_ts = frame.ts
        ts = frame.ts
        put_f64(self._p_ts, ts)
        if ticks is None:
            ticks = round(ts * 1e6) if math.isfinite(ts) else 0  # (inf/nan: no integer time)
            tsresol = 6
        if tsresol != self._last_res:  # (one value for a whole file as a rule)
            self._last_res = tsresol
            d = _DIGITS[tsresol] if self.forced_digits < 0 else self.forced_digits
            if d > self.time_digits:
                self.time_digits = d
        ns = _stamp_ns(ticks, tsresol)
        if self.first_ns is None:
            self.first_ns = ns
        rel_ns = ns - self.first_ns
        if rel_ns > self.rel_max_ns:
            self.rel_max_ns = rel_ns
        elif rel_ns < self.rel_min_ns:
            self.rel_min_ns = rel_ns
        if 0 <= ticks <= 0xFFFF_FFFF_FFFF_FFFF:
            put_u64(self._p_ticks, ticks)
        else:
            put_u64(self._p_ticks, 0)
            self._ticks_other[row] = ticks
        self._tsres.append(tsresol, row)
        rel = frame.rel_ts
        if ts - self.first_ts != rel:
            self._rel_other[row] = rel
        if frame.orig_len > self._len_max:
            self._len_max = frame.orig_len
        put_u64(self._p_off, off)
        put_u32(self._p_caplen, len(data))
        put_u32(self._p_origlen, frame.orig_len)
        src = self._intern(frame.src)
        dst = self._intern(frame.dst)
        put_u32(self._p_src, src)
        put_u32(self._p_dst, dst)
        self._addresses(frame, src, dst)
        self.index.add(row, frame)
        pid = self._proto_ids.get(frame.proto)
        if pid is None:
            pid = len(self._protos) if len(self._protos) < 255 else 255  # 255: "other" bucket
            if pid < 255:
                self._proto_ids[frame.proto] = pid
                self._protos.append(frame.proto)
        put_u8(self._p_proto, pid)
        self._link.append(frame.linktype & 0xFFFF, row)
        put_i32(self._p_stream, frame.stream)
        if frame.ifid >= 0 or self._iface_ids is not None:
            self._add_iface(frame.ifid, frame.iface, row)
        put_u8(self._p_cls, colour_class(frame))
        put_u8(self._p_sev, frame_level(frame))
        base, text, ends = self._itail
        text += frame.info.encode("utf-8", "replace")
        pends = self._p_ends
        put_u32(pends, len(text))
        if len(ends) + (len(pends) >> 2) == INFO_BLOCK:
            drain(pends, ends)
            self._iblocks.append(zlib.compress(ends.tobytes() + text, 3))
            self._itail = (base + INFO_BLOCK, bytearray(), array("I"))
        self._pend_rows += 1
        return row

    def put_batch(self, frames: list[Frame], records: Sequence[Any]) -> None:
        """put() a batch of Frames with the source's records they were made from (sniffer.source:
        with a file's exact timestamps from the 5th field on, and where the frame lies in it 8th);
        frames may stop short of the records after an error."""
        # (self.put(...) each time: a native method call in the compiled build, where a bound method
        # taken once is called through Python's call protocol)
        n = min(len(frames), len(records))
        if records and len(records[0]) > 7:
            for k in range(n):
                rec = records[k]
                self.put(frames[k], rec[4], rec[5], rec[7])
        elif records and len(records[0]) > 4:
            for k in range(n):
                rec = records[k]
                self.put(frames[k], rec[4], rec[5])
        else:
            for fr in frames:
                self.put(fr)

    def publish(self) -> None:
        """Make the rows put() since the last call readable: their columns go into the arrays, a batch
        at a time (each value was written as bytes when put: sniffer.colbuf), then `count` moves on."""
        n = self._pend_rows
        if not n:
            return
        for col, pend in self._pending_columns():
            drain(pend, col)
        drain(self._p_ends, self._itail[2])
        drain(self._p_ann_rows, self._ann_rows)
        drain(self._p_ann_off, self._ann_off)
        self._pend_rows = 0
        self.index.publish()
        self.count += n  # publish last

    def _pending_columns(self) -> list[tuple[array, BytesWriter]]:
        return [
            (self._ts, self._p_ts),
            (self._ticks, self._p_ticks),
            (self._off, self._p_off),
            (self._caplen, self._p_caplen),
            (self._origlen, self._p_origlen),
            (self._src, self._p_src),
            (self._dst, self._p_dst),
            (self._proto, self._p_proto),
            (self._stream, self._p_stream),
            (self._cls, self._p_cls),
            (self._sev, self._p_sev),
            (self._pdu_at, self._p_pdu_at),
            (self._crc, self._p_crc),
        ]

    def _addresses(self, frame: Frame, src: int, dst: int) -> None:
        """The raw IP addresses of a TCP frame's Source and Destination ids (Frame.addrs, rebuilt)."""
        seg = frame.seg
        addrs = frame.addrs
        if seg is not None and addrs is not None and seg.length < 1 << 20:
            ipver, a, b = addrs
            addr_of = self._addr_of
            if addr_of[src] is None:
                addr_of[src] = (ipver, int.from_bytes(a, "big"))
            if addr_of[dst] is None:
                addr_of[dst] = (ipver, int.from_bytes(b, "big"))

    def _flush_locked(self) -> None:
        if self._pending:
            os.pwrite(self._fd, self._pending, self._flushed)
            self._flushed += len(self._pending)
            self._pending = bytearray()

    def flush(self) -> None:
        with self._write_lock:
            self._flush_locked()

    def close(self) -> None:
        self._spill.close()
        self._seq_at = None
        if self.replay is not None:
            self.replay.close()
            self.replay.store = None  # (no cycle left: a store left behind is freed as soon as it is dropped)

    # -- reading (any thread, rows < count) ---------------------------------------------------
    def __len__(self) -> int:
        return self.count

    def _read(self, off: int, n: int) -> bytes:
        """n bytes of the spill at off, wherever they are: on disk, still pending, or both."""
        with self._write_lock:
            flushed = self._flushed
            if off >= flushed:
                p = off - flushed
                return bytes(self._pending[p : p + n])
            if off + n > flushed:  # a range of records that straddles the last flush
                head = os.pread(self._fd, flushed - off, off)
                return head + bytes(self._pending[: off + n - flushed])
        return os.pread(self._fd, n, off)

    def string(self, sid: int) -> str:
        return self._strings[sid]

    def ts(self, i: int) -> float:
        return self._ts[i]

    def exact_ts(self, i: int) -> tuple[int, int]:
        """(ticks, tsresol) of row i: its timestamp exactly as captured (see add())."""
        ticks = self._ticks_other.get(i, self._ticks[i]) if self._ticks_other else self._ticks[i]
        return ticks, self._tsres[i]

    def ns(self, i: int) -> int:
        """Row i's time in integer ns since 1970 (sniffer.net.pcapfile.stamp_ns of its exact timestamp)."""
        ticks = self._ticks_other.get(i, self._ticks[i]) if self._ticks_other else self._ticks[i]
        return _stamp_ns(ticks, self._tsres[i])

    def digits(self, i: int) -> int:
        """The decimals row i's times are shown with: those of its resolution, as tshark's Time column (a merged
        capture's: nine for every row)."""
        return _DIGITS[self._tsres[i]] if self.forced_digits < 0 else self.forced_digits

    def rel_ns(self, i: int) -> int:
        """Row i's time since the capture's first frame, in integer ns (rel_ts without a float's rounding)."""
        if self._rel_other:
            r = self._rel_other.get(i)
            if r is not None:  # (a dissector that saw earlier frames: its float, to the microsecond)
                return round(r * 1e6) * 1000
        return self.ns(i) - cast(int, self.first_ns)

    def exact(self, i: int) -> tuple[int, int, int, int]:
        """Frame.exact of row i: (ns, since the first frame, since the previous captured frame, decimals)."""
        ns = self.ns(i)
        prev = self.ns(i - 1) if i > 0 else self.prev_ns
        rel = self.rel_ns(i) if self._rel_other else ns - cast(int, self.first_ns)
        return ns, rel, 0 if prev is None else ns - prev, self.digits(i)

    def rel_ts(self, i: int) -> float:
        if self._rel_other:
            r = self._rel_other.get(i)
            if r is not None:
                return r
        return self._ts[i] - cast(float, self.first_ts)

    def src(self, i: int) -> str:
        return self._strings[self._src[i]]

    def dst(self, i: int) -> str:
        return self._strings[self._dst[i]]

    def proto(self, i: int) -> str:
        pid = self._proto[i]
        return self._protos[pid] if pid < len(self._protos) else "?"

    def orig_len(self, i: int) -> int:
        return self._origlen[i]

    def stream(self, i: int) -> int:
        return self._stream[i]

    def cls(self, i: int) -> int:
        return self._cls[i]

    def severity(self, i: int) -> int:
        """Highest expert severity of row i's notes (sniffer.expert_level: 0 none, 3 Warning, 4 Error)."""
        return self._sev[i]

    def info(self, i: int) -> str:
        text: Any
        ends: Any
        base, text, ends = self._itail
        k = i - base
        if k < 0:
            b, k = divmod(i, INFO_BLOCK)
            cached = self._icache
            if cached is None or cached[0] != b:
                raw = zlib.decompress(self._iblocks[b])
                n = INFO_BLOCK * 4
                cached = self._icache = (b, raw[n:], memoryview(raw[:n]).cast("I"))
            _, text, ends = cached
        start = ends[k - 1] if k else 0
        return text[start : ends[k]].decode("utf-8", "replace")

    def row(self, i: int) -> tuple[int, float, str, str, str, int, str, int]:
        """(No., Time, Source, Destination, Protocol, Length, Info, colour class) of row i."""
        return (
            self.number(i),
            self.rel_ts(i),
            self._strings[self._src[i]],
            self._strings[self._dst[i]],
            self.proto(i),
            self._origlen[i],
            self.info(i),
            self._cls[i],
        )

    def raw(self, i: int) -> tuple[float, bytes, int, int]:
        """(ts, frame bytes, original length, linktype) of row i, as capture readers yield them."""
        off = self._off[i]
        n = self._caplen[i]
        if off & FILE_ROW:
            return self._ts[i], self.replay.read(off & ~FILE_ROW, n, self._crc[i]), self._origlen[i], self._link[i]
        off &= ~SPILL_ROW
        return self._ts[i], self._read(off + _REC.size, n), self._origlen[i], self._link[i]

    def _file_frame(self, i: int) -> Any:
        """Row i of the capture file, dissected again (sniffer.replay), as the load made it."""
        try:
            return self._replayed(i, self.replay.frame(i))
        except OSError as e:
            return self._gone(i, e)

    def _gone(self, i: int, e: OSError) -> Any:
        """Row i when the file no longer holds its bytes: its summary, no bytes (never another frame's
        bytes); file_error says why."""
        from sniffer.pipeline import Frame

        self.file_error = str(e)
        number = self.number(i)
        fr = Frame(number, self._ts[i], self.rel_ts(i), 0.0, self._link[i], b"", self._origlen[i], self.proto(i),
                   self.info(i), self._stream[i], src=self.src(i), dst=self.dst(i))  # fmt: skip
        fr.exact = self.exact(i)
        self._interface(i, fr)
        return fr

    def _replayed(self, i: int, fr: Any) -> Any:
        """A replayed Frame of row i made whole: the load's stream number and relative time, its
        source's name, the session annotations (each step sets what it sets on every call: the
        replay hands the same Frame out again from its cache)."""
        s = self._stream[i]
        fr.stream = s
        if fr.seg is not None:
            fr.seg.stream = s
        fr.rel_ts = self.rel_ts(i)
        fr.exact = self.exact(i)
        self._interface(i, fr)
        self._apply_annotations(i, fr)
        return fr

    def _end(self, i: int) -> int:
        """Spill offset just past record i."""
        return self._off[i + 1] if i + 1 < self.count else self._flushed + len(self._pending)

    def frames(self, start: int, end: int) -> list[Any]:
        """Frames of rows [start, end) read with one pread (a filter rescans the store this way)."""
        if start >= end:
            return []
        if self.replay is not None:
            at = self._sequential()
            return [at(i) for i in range(start, end)]
        base = self._off[start]
        blob = self._read(base, self._end(end - 1) - base)
        return [self._build(i, blob, self._off[i] - base) for i in range(start, end)]

    def _sequential(self) -> Any:
        """i -> whole Frame of row i for a scan in row order (a file source: one replay shared by the
        store's scans, so a filter's scan continues where the last chunk stopped)."""
        at = self._seq_at
        if at is None:
            seq = self.replay.sequential()

            def at(i: int) -> Any:
                if not self._off[i] & REPLAYED:
                    return self._context_frame(i)
                try:
                    return self._replayed(i, seq(i))
                except OSError as e:
                    return self._gone(i, e)

            self._seq_at = at
        return at

    def single_pdu_bytes(self, i: int) -> bytes | None:
        """Row i's frame bytes from where its single well-formed PDU starts, when that PDU lies whole in
        the frame (one pread, no unpickling); None otherwise."""
        off = self._off[i]
        if self.replay is not None:
            if off & FILE_ROW:
                p = self._pdu_at[i]
                if not p:
                    return None
                try:  # (the whole frame, so its checksum is checked)
                    return self.replay.read(off & ~FILE_ROW, self._caplen[i], self._crc[i])[p - 1 :]
                except OSError as e:
                    self.file_error = str(e)
                    return None
            off &= ~SPILL_ROW
            dlen, _, p = _REC.unpack(self._read(off, _REC.size))
            return self._read(off + _REC.size + p - 1, dlen - p + 1) if p else None
        dlen, _, p = _REC.unpack(self._read(off, _REC.size))
        if not p:
            return None
        return self._read(off + _REC.size + p - 1, dlen - p + 1)

    # -- columns the display filter reads (sniffer.filter.rows): live, rows < count valid --------
    def column(self, name: str) -> array:
        """The column `name` itself (it grows as rows arrive): orig_len, cap_len, stream, src, dst
        (string ids: string(), addresses())."""
        return {
            "orig_len": self._origlen,
            "cap_len": self._caplen,
            "stream": self._stream,
            "src": self._src,
            "dst": self._dst,
        }[name]

    def addresses(self) -> list[tuple[int, int] | None]:
        """Per string id (column src/dst): (IP version, address as an int) if it names an IP address."""
        return self._addr_of

    def frame_reader(self, chunk: int = 256) -> Any:
        """i -> Frame of row i for a scan that needs a few frames: records read `chunk` at a time
        with one pread, the last frame kept (several tests of one row share it and its tree)."""
        if self.replay is not None:
            seq = self._sequential()
            last: list[Any] = [-1, None]

            def file_frame_at(i: int) -> Any:
                if last[0] != i:
                    last[0], last[1] = i, seq(i)
                return last[1]

            return file_frame_at
        state: list[Any] = [-1, -1, b"", 0, None]  # first row of the blob, end row, blob, blob offset, last (i, frame)

        def frame_at(i: int) -> Any:
            last = state[4]
            if last is not None and last[0] == i:
                return last[1]
            if not state[0] <= i < state[1]:
                # dense requests (the previous one was near) read ahead; sparse ones read one record
                near = last is not None and 0 < i - last[0] <= 8
                end = min(i + chunk, self.count) if near else i + 1
                base = self._off[i]
                state[0], state[1], state[3] = i, end, base
                state[2] = self._read(base, self._end(end - 1) - base)
            fr = self._build(i, state[2], self._off[i] - state[3], lazy_info=True)
            state[4] = (i, fr)
            return fr

        return frame_at

    def interface_name(self, i: int) -> str:
        """Row i's capture interface (frame.interface_name; a merged source's name), "" if none or unnamed."""
        return "" if self._iface_ids is None else self._ifaces[self._iface_ids[i]][1]

    def _interface(self, i: int, fr: Any) -> None:
        """Give a rebuilt Frame of row i its interface (id and name), as the load's had."""
        if self._iface_ids is not None:
            fr.ifid, fr.iface = self._ifaces[self._iface_ids[i]]

    def _add_iface(self, ifid: int, name: str, row: int) -> None:
        if self._iface_ids is None:
            self._ifaces.append((-1, ""))
            self._iface_index[-1, ""] = 0
            self._iface_ids = array("H", bytes(2 * row))  # the rows before had none
        key = (ifid, name)
        if key not in self._iface_index:
            self._iface_index[key] = len(self._ifaces)
            self._ifaces.append(key)
        self._iface_ids.append(self._iface_index[key])

    def frame(self, i: int) -> Any:
        """The full Frame of row i (summary, bytes, TCP analysis, MQTT PDUs); build its tree with .tree()."""
        off = self._off[i]
        if self.replay is not None:
            return self._file_frame(i) if off & REPLAYED else self._context_frame(i)
        return self._build(i, self._read(off, self._end(i) - off), 0)

    def _context_frame(self, i: int) -> Any:
        """Row i from its spill record, in a store that has file rows too (its record's length is read first)."""
        off = self._off[i]
        dlen, clen, _ = _REC.unpack(self._read(off, _REC.size))
        return self._build(i, self._read(off, _REC.size + dlen + clen), 0)

    def _build(self, i: int, blob: bytes, pos: int, lazy_info: bool = False) -> Any:
        """Frame of row i from its record at blob[pos:]. lazy_info: an MQTT frame's Info is left for
        the Frame to make from its PDUs when read (as the dissector does), not decompressed here."""
        from sniffer.pipeline import INFO_MQTT, Frame

        dlen, clen, _ = _REC.unpack_from(blob, pos)
        pos += _REC.size
        data = blob[pos : pos + dlen]
        tcp: Any = None
        pdus: list[Any] = []
        delta = 0.0
        held: tuple[Any, ...] = ()  # (typed: an inferred tuple[()] rejects the real one in the compiled build)
        link: tuple[Any, ...] = ()
        if clen:
            ctx = blob[pos + dlen : pos + dlen + clen]
            if ctx[0] == _ZLIB_FIRST:
                ctx = zlib.decompress(ctx)
            tcp, pdus, delta, *rest = pickle.loads(ctx) if ctx[0] == 0x80 else marshal.loads(ctx)
            held = rest[0] if rest else ()
            link = rest[1] if len(rest) > 1 else ()
            if tcp is not None:
                tcp = self._unflat(tcp, data)
            pdus = [self._unflat(p, data) for p in pdus]
            if self.backfill and pdus:
                from sniffer.session.tracker import fill

                fill(pdus, self.backfill.get(self.number(i)))
        common = (self.number(i), self._ts[i], self.rel_ts(i), delta, self._link[i], data, self._origlen[i])
        src, dst = self._src[i], self._dst[i]
        addrs = None
        if tcp is not None:  # the raw addresses of a TCP frame (Frame.addrs), as the dissector had them
            a, b = self._addr_of[src], self._addr_of[dst]
            if a is not None and b is not None:
                n = 4 if a[0] == 4 else 16
                addrs = (a[0], a[1].to_bytes(n, "big"), b[1].to_bytes(n, "big"))
        info = INFO_MQTT if lazy_info and pdus else self.info(i)
        fr = Frame(*common, self.proto(i), info, self._stream[i], tcp, pdus, addrs,
                   src=self._strings[src], dst=self._strings[dst], held_secret=held)  # fmt: skip
        fr.exact = self.exact(i)
        if link:
            fr.link_notes = link
        self._interface(i, fr)
        return fr

    # -- accounting --------------------------------------------------------------------------
    def ram_bytes(self) -> int:
        """Bytes of RAM the rows take (columns, Info text, interned strings)."""
        cols = (
            self._ts,
            self._ticks,
            self._tsres.column,
            self._off,
            self._caplen,
            self._origlen,
            self._src,
            self._dst,
            self._proto,
            self._link.column,
            self._stream,
            self._cls,
            self._sev,
        )
        _, text, ends = self._itail
        total = sum(a.buffer_info()[1] * a.itemsize for a in cols) + len(text) + 4 * len(ends)
        total += sum(len(b) + 41 for b in self._iblocks)
        total += sum(len(s) + 49 for s in self._strings) + self.index.ram_bytes()
        for a in (self._ann_rows, self._ann_off, self._pdu_at, self._stream_len, self._crc):
            total += a.buffer_info()[1] * a.itemsize
        return total + 40 * len(self._rel_other)

    def spill_bytes(self) -> int:
        return self._flushed + len(self._pending)
