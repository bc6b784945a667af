"""The Linux AF_PACKET receive path: BPF in the kernel, a TPACKET_V3 mmap ring, recvmsg as fallback.

Why this shape: measured on a 2-core machine, scapy's sniff() costs ~220 µs of CPU per packet and a
plain socket recv ~5 µs, while walking a TPACKET_V3 ring costs ~0.6 µs: the kernel fills whole
blocks of packets, we copy each frame's bytes once into a ``bytes`` object and hand the block back.

Rules of this module:
* the socket is created with protocol 0 (it receives nothing), the filter is attached and the ring
  mapped, and only then ``bind`` starts reception, so no unfiltered packet ever slips in;
* on loopback the kernel's PACKET_OUTGOING copy is rejected by the BPF prefix (see bpf.py);
* ``read()`` returns whole batches; it never calls the consumer; stats come from the socket itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import mmap
import os
import select
import socket
import struct

from sniffer.capture import bpf
from sniffer.capture.interfaces import ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE, Interface

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1's
# block_status, num_pkts, offset_to_first_pkt (all u32).
_BLOCK = struct.Struct("<III")
_BLOCK_STATUS_OFF = 8
# struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status, tp_mac, tp_net,
# then hv1: tp_rxhash, tp_vlan_tci, tp_vlan_tpid.
_HDR = struct.Struct("<IIIIIIHHIIH")
_SLL_OFF = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): the sockaddr_ll follows
_SOCKADDR_LL = struct.Struct("<H2siHBB8s")  # family, protocol (network order), ifindex, hatype, pkttype, halen, addr
_SLL_HDR = struct.Struct(">HHH8s2s")  # LINKTYPE_LINUX_SLL header: pkttype, hatype, halen, addr, protocol
_AUXDATA = struct.Struct("<IIIHHHH")  # struct tpacket_auxdata
_STATS_V3 = struct.Struct("<III")  # struct tpacket_stats_v3: tp_packets, tp_drops, tp_freeze_q_cnt
# A partly filled block reaches us after at most this long. Each retired block is a whole ring slot,
# so at high rates a short timeout leaves blocks mostly empty and shrinks the ring's real capacity.
RETIRE_BLOCK_MS = 10

Frame = tuple[float, int, bytes, int]  # (ts, linktype, data, orig_len)


class InterfaceDown(Exception):
    """The interface went down or vanished while capturing."""


class PacketSocket:
    """One capturing socket on ``iface``; ``read()`` returns batches of frames and their ns timestamps."""

    def __init__(
        self,
        iface: Interface,
        program: list[bpf.Insn],
        snaplen: int = 262144,
        promisc: bool = True,
        buffer_bytes: int = 8 << 20,
        use_ring: bool = True,
        retire_ms: int = RETIRE_BLOCK_MS,
    ) -> None:
        self.iface = iface
        self.retire_ms = retire_ms
        self.snaplen = snaplen
        self.cooked = iface.name == "any" or iface.arphrd not in (ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE)
        if self.cooked:
            self.linktype = bpf.LINKTYPE_LINUX_SLL
        elif iface.arphrd == ARPHRD_NONE:
            self.linktype = bpf.LINKTYPE_RAW
        else:
            self.linktype = bpf.LINKTYPE_ETHERNET
        self.kernel_packets = 0  # passed the filter, as the kernel counts them (includes its drops)
        self.kernel_drops = 0
        self.ring: mmap.mmap | None = None
        self.mode = "recvmsg"
        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        # PermissionError propagates: the caller turns it into the tcpdump-like message.
        self.sock = socket.socket(socket.AF_PACKET, kind, 0)
        try:
            bpf.attach(self.sock, program)
            if use_ring:
                self._setup_ring(buffer_bytes)
            if self.ring is None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
                # Beyond rmem_max (needs CAP_NET_ADMIN, as tcpdump's -B does); SO_RCVBUFFORCE = 33.
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(socket.SOL_SOCKET, 33, buffer_bytes)
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            if promisc and iface.index:
                mreq = struct.pack("<iHH8s", iface.index, PACKET_MR_PROMISC, 0, b"")
                self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            _bind(self.sock, iface.index)
            self.sock.setblocking(False)
        except BaseException:
            self.close()
            raise
        self._poll = select.poll()
        self._poll.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        self._block = 0

    # -- set-up -------------------------------------------------------------------------------------

    def _setup_ring(self, buffer_bytes: int) -> None:
        # A block must hold one whole snaplen frame plus headers (the kernel truncates to
        # block_size - block header otherwise): loopback frames reach 65,549 bytes.
        page = mmap.PAGESIZE
        block_size = page
        while block_size < max(self.snaplen + 4096, 128 * 1024):
            block_size <<= 1
        block_nr = max(4, buffer_bytes // block_size)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            # tpacket_req3: block_size, block_nr, frame_size, frame_nr, retire_blk_tov, sizeof_priv, feature_req_word
            req = struct.pack("<7I", block_size, block_nr, block_size, block_nr, self.retire_ms, 0, 0)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self.ring = mmap.mmap(
                self.sock.fileno(), block_size * block_nr, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError:
            self.ring = None  # old kernel or no memory: fall back to recvmsg with a big buffer
            return
        self.block_size = block_size
        self.block_nr = block_nr
        self.mode = "tpacket_v3"

    # -- reading ------------------------------------------------------------------------------------

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait(self, timeout_ms: int, extra_fd: int | None = None) -> bool:
        """Block until there is something to read (True) or ``timeout_ms`` passes / ``extra_fd`` is readable."""
        if self.ring is not None and self.ring[self._block * self.block_size + _BLOCK_STATUS_OFF] & TP_STATUS_USER:
            return True
        poller = self._poll
        if extra_fd is not None:
            poller = select.poll()
            poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
            poller.register(extra_fd, select.POLLIN)
        try:
            events = poller.poll(timeout_ms)
        except InterruptedError:
            return False
        return any(fd == self.sock.fileno() for fd, _ in events)

    def read(self, max_blocks: int = 8) -> tuple[list[Frame], list[int]]:
        """Frames ready now (may be empty), with their timestamps in ns; raises InterfaceDown."""
        frames: list[Frame] = []
        stamps: list[int] = []
        if self.ring is not None:
            self._read_ring(frames, stamps, max_blocks)
        else:
            self._read_recvmsg(frames, stamps)
        if not frames:
            self._check_error()
        return frames, stamps

    def _read_ring(self, frames: list[Frame], stamps: list[int], max_blocks: int) -> None:
        ring = self.ring
        assert ring is not None
        hdr_unpack = _HDR.unpack_from
        linktype = self.linktype
        cooked = self.cooked
        append, stamp = frames.append, stamps.append
        for _ in range(max_blocks):
            base = self._block * self.block_size
            status, num_pkts, first = _BLOCK.unpack_from(ring, base + _BLOCK_STATUS_OFF)
            if not status & TP_STATUS_USER:
                break
            off = base + first
            for _ in range(num_pkts):
                nxt, sec, nsec, snap, plen, st, mac, net, _h, tci, tpid = hdr_unpack(ring, off)
                if cooked:
                    data, plen = self._cooked(ring, off, net, snap, plen)
                else:
                    data = ring[off + mac : off + mac + snap]  # the one copy, out of the ring
                    if st & TP_STATUS_VLAN_VALID:
                        # The kernel stripped the 802.1Q tag into metadata; put it back like libpcap.
                        tag = struct.pack(">HH", tpid if st & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
                        data = data[:12] + tag + data[12:]
                        plen += 4
                append((sec + nsec * 1e-9, linktype, data, plen))
                stamp(sec * 1_000_000_000 + nsec)
                off += nxt
            # Hand the block back to the kernel only after every frame was copied out.
            struct.pack_into("<I", ring, base + _BLOCK_STATUS_OFF, TP_STATUS_KERNEL)
            self._block = (self._block + 1) % self.block_nr

    def _cooked(self, ring: mmap.mmap, off: int, net: int, snap: int, plen: int) -> tuple[bytes, int]:
        _fam, proto, _idx, hatype, pkttype, halen, addr = _SOCKADDR_LL.unpack_from(ring, off + _SLL_OFF)
        head = _SLL_HDR.pack(pkttype, hatype, halen, addr, proto)
        return head + ring[off + net : off + net + snap], plen + 16

    def _read_recvmsg(self, frames: list[Frame], stamps: list[int], limit: int = 4096) -> None:
        cmsg_space = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(_AUXDATA.size)
        for _ in range(limit):
            try:
                data, ancdata, _flags, addr = self.sock.recvmsg(self.snaplen, cmsg_space)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
                    if frames:
                        break
                    raise InterfaceDown(os.strerror(exc.errno)) from exc
                raise
            ts_ns = 0
            plen = len(data)
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack_from("<qq", cdata)
                    ts_ns = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                    plen = _AUXDATA.unpack_from(cdata)[1]
            if self.cooked:
                _ifname, proto, pkttype, hatype, hwaddr = addr
                head = _SLL_HDR.pack(pkttype, hatype, len(hwaddr), hwaddr, struct.pack(">H", proto))
                data, plen = head + data, plen + 16
            frames.append((ts_ns * 1e-9, self.linktype, data, plen))
            stamps.append(ts_ns)

    def _check_error(self) -> None:
        """A NETDEV_DOWN/UNREGISTER sets the socket error ENETDOWN: surface it (the ring is drained)."""
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            raise InterfaceDown(os.strerror(err))
        if err:
            raise OSError(err, os.strerror(err))

    # -- stats and closing --------------------------------------------------------------------------

    def update_stats(self) -> None:
        """Add the kernel's counters (each getsockopt resets them, so they accumulate here)."""
        try:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS_V3.size)
        except OSError:
            return
        if self.ring is not None:
            packets, drops, _freeze = _STATS_V3.unpack_from(raw)
        else:  # struct tpacket_stats: tp_packets, tp_drops
            packets, drops = struct.unpack_from("<II", raw)
        self.kernel_packets += packets
        self.kernel_drops += drops

    def close(self) -> None:
        if self.ring is not None:
            with contextlib.suppress(BufferError, ValueError):
                self.ring.close()
            self.ring = None
        self.sock.close()


def _bind(sock: socket.socket, ifindex: int) -> None:
    """bind(2) to (ifindex, ETH_P_ALL); done through libc because Python refuses ifindex 0 (``any``)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    addr = _SOCKADDR_LL.pack(socket.AF_PACKET, struct.pack(">H", ETH_P_ALL), ifindex, 0, 0, 0, b"")
    if libc.bind(sock.fileno(), addr, len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
