"""Frames rebuilt by dissecting them again (the UI's store: a capture file's rows, a live capture's).

A frame read from a file is stored as its file offset, not as a copy of its bytes and context
(sniffer.store): its tree is rebuilt on demand by feeding a fresh dissector the frames that led
to it, as Wireshark's second pass does. Two ways, one result:

- one frame (a selection, the Flow view): only the frames of its TCP stream, from the stream's
  first frame or from its last checkpoint before the frame (the stream's TCP and MQTT state, saved
  by the loader every few thousand frames of a stream: snapshot(), restore()). The TCP and MQTT
  state of a stream depends on that stream alone; what the session layer says across connections
  (deliveries, takeovers) is not recomputed but read from the annotation record the store kept
  for the frame. A dissector per recently used stream is kept,
  so walking down a stream costs one frame per step; the frames rebuilt last are kept too, so
  walking back up costs nothing until they are evicted.
- a run of rows (a display filter that needs trees, a scan): every frame from row 0 in order,
  with one dissector, so the global state (the --max-buffered cap) is the load's own.

A live capture's rows work the same way, their bytes read from the store's spill instead of a file.

Rules: the dissectors here never run the session layer (the store's annotations are applied
instead); one lock serialises them (the UI thread and a filter's scan thread both read).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

# A stored row's check covers its frame's first bytes, up to the end of its TCP header with options for
# every link type read (Linux cooked v2 20 bytes or Ethernet with two VLAN tags 22, IPv6 40, TCP 60): the
# sequence and acknowledgement numbers, checksum and timestamps differ in any other capture written at the
# same offset, even an idle IPv6 connection's (no IP id, no IP checksum), whose first 64 bytes did not
# reach them behind a cooked header. The whole frame cost the UI's load ~3 % (412 MB for 1M frames).
CRC_SPAN = 128

STREAMS_KEPT = 1024  # dissectors kept, one per recently replayed stream
FRAMES_KEPT = 4096  # rebuilt frames kept (walking back up a stream)
FRAME_BYTES_KEPT = 32 << 20  # ... and at most this many bytes of theirs (frames and reassembled PDUs)
SEQ_GAP = 20_000  # a sequential reader skips ahead by dissecting up to this many rows, else replays the stream


class FileChanged(OSError):
    """The capture file no longer holds a stored frame's bytes."""


class Replay:
    """Rebuilds rows of `store` whose bytes lie in the capture file at `path`."""

    def __init__(self, store: Any, path: str | None, make: Callable[[], Any]) -> None:
        self.store = store
        self.path = path or ""
        self.make = make  # a new dissector with the loader's settings, session layer off
        # the capture file (-1: a live capture, whose rows' bytes are in the store's spill)
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)) if path else -1
        self.lock = threading.RLock()
        self._streams: OrderedDict[int, list[Any]] = OrderedDict()  # stream -> [dissector, next k, its rows]
        self._frames: OrderedDict[int, Any] = OrderedDict()  # row -> Frame (annotations not yet applied)
        self._bytes = 0  # of the frames kept
        self.replayed = 0  # frames dissected again (tests, the benchmark)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def read(self, off: int, n: int, crc: int = -1) -> bytes:
        """n bytes of the file at off; `crc`: the low 16 bits of the CRC-32 of their first CRC_SPAN bytes
        when stored, checked, so a capture rewritten in place (`tcpdump -w` to the same name) is never
        shown as this one."""
        data = os.pread(self.fd, n, off)
        if len(data) != n:
            raise FileChanged(f"{self.path}: frame bytes at offset {off} are gone (the file changed on disk?)")
        if crc >= 0 and zlib.crc32(data[:CRC_SPAN]) & 0xFFFF != crc:
            raise FileChanged(
                f"{self.path}: the file changed on disk since it was loaded (bytes at offset {off} differ)"
            )
        return data

    def _dissect(self, d: Any, r: int) -> Any:
        """Feed row r to dissector d, as the load did (same number, time and previous time)."""
        st = self.store
        d.first_ts = st.first_ts
        d.prev_ts = st.ts(r - 1) if r > 0 else st.prev_ts
        d.first_ns = st.first_ns  # (in ns too: the TCP stream's times count in them, as the load's did)
        d.prev_ns = st.ns(r - 1) if r > 0 else st.prev_ns
        ts, data, orig_len, linktype = st.raw(r)
        self.replayed += 1
        return d.frame(st.number(r), ts, linktype, data, orig_len, st.ns(r), st.digits(r))

    def _fresh(self) -> Any:
        """A dissector at row 0 of the store: new, or (a successor store, --keep-frames) holding the
        streams carried over from the store before, new streams numbered after theirs."""
        d = self.make()
        st = self.store
        if st.replay_from:
            for state in st.carried_states():
                restore(d, state)
            d.streams.number_from(st.replay_from)
        return d

    def _keep(self, r: int, fr: Any) -> None:
        frames = self._frames
        frames[r] = fr
        self._bytes += _size(fr)
        while len(frames) > FRAMES_KEPT or self._bytes > FRAME_BYTES_KEPT and len(frames) > 1:
            self._bytes -= _size(frames.popitem(last=False)[1])

    def frame(self, i: int) -> Any:
        """Row i's Frame as the dissector made it at load time, annotations not applied."""
        with self.lock:
            fr = self._frames.get(i)
            if fr is not None:
                self._frames.move_to_end(i)
                return fr
            s = self.store.stream(i)
            if s < 0:  # not TCP: the frame alone says everything
                fr = self._dissect(self.make(), i)
                self._keep(i, fr)
                return fr
            entry = self._streams.get(s)
            rows = None if entry is None else entry[2]
            if rows is None or not rows:
                rows = self.store.stream_rows(s)
                if entry is not None:
                    entry[2] = rows
            elif rows[-1] < i:  # a stream still growing (a file loading, a live capture): its new rows
                rows.extend(self.store.stream_rows(s, rows[-1] + 1))
            k = _index(rows, i)
            ck = self.store.checkpoint_before(s, k)
            if entry is None or entry[1] > k or ck is not None and ck[0] > entry[1]:
                entry = [self.make(), 0, rows] if ck is None else [restore(self.make(), ck[1]), ck[0], rows]
                self._streams[s] = entry
                if len(self._streams) > STREAMS_KEPT:
                    self._streams.popitem(last=False)
            else:
                self._streams.move_to_end(s)
            d = entry[0]
            try:
                while entry[1] <= k:
                    r = rows[entry[1]]
                    fr = self._dissect(d, r)
                    entry[1] += 1
                    self._keep(r, fr)
            except OSError:
                self._streams.pop(s, None)  # its state is cut short: the next try starts the stream again
                raise
            return self._frames[i]

    def sequential(self) -> Callable[[int], Any]:
        """i -> Frame of row i for increasing i (a scan): one dissector over every row from 0, so
        nothing is dissected twice; a jump back, or far ahead, falls back to frame(i)."""
        state: list[Any] = [None, 0]  # dissector, next row

        def at(i: int) -> Any:
            with self.lock:
                d, nxt = state
                if d is None or i < nxt or i - nxt > SEQ_GAP:
                    if i > SEQ_GAP or (d is not None and i < nxt):
                        return self.frame(i)
                    d, nxt = self._fresh(), 0
                fr = None
                state[0] = None  # (until this step ends well: an error leaves no half-fed dissector)
                skips = self.store.replay_skips
                while nxt <= i:
                    if nxt == i or not skips(nxt):  # (the store reads an orphan's context, never asks for it)
                        fr = self._dissect(d, nxt)
                    nxt += 1
                state[0], state[1] = d, nxt
                return fr

        return at


def snapshot(d: Any, fr: Any) -> bytes | None:
    """The state of `fr`'s TCP stream in dissector `d` (its conversation and MQTT connection), pickled,
    or None where it cannot be (a TLS session's cipher objects; a conversation already forgotten)."""
    seg, addrs = fr.seg, fr.addrs
    if seg is None or addrs is None:
        return None
    conv = d.streams.conversation(addrs[1], seg.sport, addrs[2], seg.dport)
    if conv is None or conv.index != fr.stream:
        return None
    # (whether the stream's MQTT connection is decided yet: a stream not in d.mqtt is judged on its first
    # bytes, as a WebSocket Upgrade or a CONNECT on any port; one mapped to None was judged not MQTT)
    decided = fr.stream in d.mqtt
    try:
        state = pickle.dumps((conv, decided, d.mqtt.get(fr.stream)), pickle.HIGHEST_PROTOCOL)
        pickle.loads(state)  # (what cannot be made again, e.g. a class whose __init__ needs arguments)
    except Exception:
        return None
    return state


def restore(d: Any, state: bytes) -> Any:
    """Dissector `d` (fresh) given one stream's state from snapshot(): its conversation under both of its
    table keys, as TcpStreams made them, and its MQTT connection."""
    conv, decided, conn = pickle.loads(state)
    d.streams.adopt(conv)
    if decided:
        d.mqtt[conv.index] = conn
    return d


def _size(fr: Any) -> int:
    return len(fr.data) + sum(len(p.data) for p in fr.pdus)


def _index(rows: Any, i: int) -> int:
    """Position of row i in a stream's ascending rows."""
    from bisect import bisect_left

    k = bisect_left(rows, i)
    if k == len(rows) or rows[k] != i:
        raise KeyError(f"row {i} is not in its stream's rows")
    return k
