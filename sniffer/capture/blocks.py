"""Live capture's per-packet work, compiled: a TPACKET_V3 block into frames, blocks and frames into pcapng EPBs.

Why: the capture thread shares the GIL with the dissector, so every microsecond it spends on a packet lowers
the rate at which the kernel starts to drop (bench/bench_knee.py). It used to walk the ring's packet headers
with struct on the mmap (~0.7 µs a packet) and pack each Enhanced Packet Block (~0.5 µs). Now it copies each
retired block out of the ring at once (one memcpy; the block goes straight back to the kernel) and hands the
copy on; the consumer cuts it into frames here (split_block), and with -w the capture thread writes the EPBs
straight from the copy (encode_block). Compiled with mypyc, the headers are read with librt's native reads
and the EPBs written with its native writers. Frames come out as libpcap gives them (as_libpcap): VLAN tags
the kernel moved into metadata put back, SLL headers for cooked sockets, cut to the snapshot length. Nothing
here touches the socket or the mmap.
"""

from __future__ import annotations

import struct
from typing import Final

from librt.strings import BytesWriter, read_i16_le, read_i32_le, write_i32_le

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1's block_status, num_pkts,
# offset_to_first_pkt, blk_len (the bytes of the block in use, its header included), ...
BLOCK_STATUS_OFF: Final = 8
BLOCK_LEN_OFF: Final = 20
_NUM_PKTS_OFF: Final = 12
_FIRST_OFF: Final = 16
# struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status (u32 each), tp_mac,
# tp_net (u16), then hv1: tp_rxhash (u32), tp_vlan_tci (u32), tp_vlan_tpid (u16).
_HDR_LEN: Final = 38
SLL_OFF: Final = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): the sockaddr_ll follows
TP_STATUS_VLAN_VALID: Final = 0x10
TP_STATUS_VLAN_TPID_VALID: Final = 0x40
_SOCKADDR_LL = struct.Struct("<H2siHBB8s")  # family, protocol (network order), ifindex, hatype, pkttype, halen, addr
_SLL_HDR = struct.Struct(">HHH8s2s")  # LINKTYPE_LINUX_SLL header: pkttype, hatype, halen, addr, protocol
_PAD: Final = (b"", b"\0\0\0", b"\0\0", b"\0")  # indexed by len % 4


def _u32(b: bytes, p: int) -> int:
    v: int = read_i32_le(b, p)
    return v & 0xFFFF_FFFF


def _u16(b: bytes, p: int) -> int:
    v: int = read_i16_le(b, p)
    return v & 0xFFFF


def frame_count(blk: bytes) -> int:
    """How many frames the kernel put in a block (the copy of it)."""
    return _u32(blk, _NUM_PKTS_OFF) if len(blk) >= _FIRST_OFF else 0


def _frame_at(blk: bytes, off: int, cooked: bool, snaplen: int) -> tuple[bytes, int, int, int, int]:
    """The frame whose tpacket3_hdr is at `off`: (data, orig_len, sec, nsec, offset of the next header), as
    libpcap gives it: an SLL header for a cooked socket; a tag the kernel moved into metadata put back where
    it was (before the Ethernet type, or the SLL protocol), if the kernel kept that much of the frame; then
    cut to the snapshot length. The next offset is 0 after the last frame, -1 if this one reaches past the
    copy (then data is empty)."""
    size = len(blk)
    nxt = _u32(blk, off)
    sec = _u32(blk, off + 4)
    nsec = _u32(blk, off + 8)
    snap = _u32(blk, off + 12)
    plen = _u32(blk, off + 16)
    status = _u32(blk, off + 20)
    if cooked:
        net = _u16(blk, off + 26)
        if off + net + snap > size or off + SLL_OFF + _SOCKADDR_LL.size > size:
            return b"", 0, 0, 0, -1
        _fam, proto, _idx, hatype, pkttype, halen, addr = _SOCKADDR_LL.unpack_from(blk, off + SLL_OFF)
        data = _SLL_HDR.pack(pkttype, hatype, halen, addr, proto) + blk[off + net : off + net + snap]
        plen += 16
        at = 14  # (libpcap's vlan_offset: before the SLL protocol; it compares it with the kernel's length)
    else:
        mac = _u16(blk, off + 24)
        if off + mac + snap > size:
            return b"", 0, 0, 0, -1
        data = blk[off + mac : off + mac + snap]
        at = 12  # (after the two MAC addresses)
    data, plen = as_libpcap(data, plen, status, _u32(blk, off + 32), _u16(blk, off + 36), snap, at, snaplen)
    return data, plen, sec, nsec, nxt


def as_libpcap(
    data: bytes, plen: int, status: int, tci: int, tpid: int, kept: int, at: int, snaplen: int
) -> tuple[bytes, int]:
    """A frame as libpcap's pcap_handle_packet_mmap finishes it: a tag the kernel moved into metadata (status
    TP_STATUS_VLAN_VALID, its TCI, its TPID if TP_STATUS_VLAN_TPID_VALID) put back at `at` (12 on Ethernet, 14
    in an SLL header) if the kernel kept `kept` >= `at` bytes, then cut to the snapshot length."""
    if status & TP_STATUS_VLAN_VALID and kept >= at:
        tci &= 0xFFFF
        if not status & TP_STATUS_VLAN_TPID_VALID:
            tpid = 0x8100
        data = data[:at] + bytes((tpid >> 8, tpid & 0xFF, tci >> 8, tci & 0xFF)) + data[at:]
        plen += 4
    if len(data) > snaplen:  # the SLL header or the tag made it longer than asked for: libpcap cuts it
        data = data[:snaplen]
    return data, plen


def split_block(blk: bytes, linktype: int, cooked: bool, snaplen: int, frames: list, stamps: list) -> int:
    """Append the frames of one retired block (a copy of it, from its descriptor on) as (ts, linktype, data,
    orig_len) to `frames` and their ns timestamps to `stamps`; returns how many. A header or frame that
    would reach past the copy ends the block there (the kernel never writes one; a copy could be short)."""
    return _walk(blk, cooked, snaplen, linktype, frames, stamps, None)


def encode_block(w: BytesWriter, blk: bytes, cooked: bool, snaplen: int) -> int:
    """Write to `w` the Enhanced Packet Blocks (interface 0) of the frames split_block() finds in a block;
    returns how many: the -w file's bytes straight from the ring, without a frame object in between. (One
    writer for every block, emptied with truncate(0), keeps its buffer: no growing it block after block.)"""
    return _walk(blk, cooked, snaplen, 0, None, None, w)


def _walk(
    blk: bytes,
    cooked: bool,
    snaplen: int,
    linktype: int,
    frames: list | None,
    stamps: list | None,
    w: BytesWriter | None,
) -> int:
    """split_block() into `frames` and `stamps`, or encode_block() into `w`."""
    size = len(blk)
    if size < BLOCK_LEN_OFF + 4:
        return 0
    num = _u32(blk, _NUM_PKTS_OFF)
    off = _u32(blk, _FIRST_OFF)
    done = 0
    while done < num and off + _HDR_LEN <= size:
        data, plen, sec, nsec, nxt = _frame_at(blk, off, cooked, snaplen)
        if nxt < 0:
            break
        if w is not None:
            _put_epb(w, data, plen, sec * 1_000_000_000 + nsec)
        elif frames is not None and stamps is not None:
            ns = sec * 1_000_000_000 + nsec
            # ns / 1e9, as sniffer.net.pcapfile reads the -w file's ns ticks: the same float both ways
            frames.append((ns / 1e9, linktype, data, plen))
            stamps.append(ns)
        done += 1
        if not nxt:
            break
        off += nxt
    return done


def _put_u32(w: BytesWriter, v: int) -> None:
    if v >> 32:  # (negative or too large: one test)
        raise OverflowError(f"{v} does not fit a pcapng 32-bit field")
    write_i32_le(w, v - 0x1_0000_0000 if v > 0x7FFF_FFFF else v)


def _put_epb(w: BytesWriter, data: bytes, orig_len: int, ns: int) -> None:
    n = len(data)
    pad = _PAD[n & 3]
    total = 32 + n + len(pad)
    _put_u32(w, 6)
    _put_u32(w, total)
    _put_u32(w, 0)
    _put_u32(w, ns >> 32)
    _put_u32(w, ns & 0xFFFF_FFFF)
    _put_u32(w, n)
    _put_u32(w, orig_len)
    w.write(data)
    w.write(pad)
    _put_u32(w, total)


def encode(frames: list, stamps: list) -> bytes:
    """The Enhanced Packet Blocks (interface 0) for a batch of (ts, linktype, data, orig_len) frames with ns
    timestamps."""
    w = BytesWriter()
    for i in range(min(len(frames), len(stamps))):
        frame: tuple = frames[i]
        _put_epb(w, frame[2], frame[3], stamps[i])
    return w.getvalue()
