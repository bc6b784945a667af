"""The Linux AF_PACKET receive path: BPF in the kernel, a TPACKET_V3 mmap ring, recvmsg as fallback.

Why this shape: measured on a 2-core machine, scapy's sniff() costs ~220 µs of CPU per packet and a
plain socket recv ~5 µs, while a TPACKET_V3 ring costs ~0.2 µs (compiled): the kernel fills whole
blocks of packets, we copy a block's used bytes out at once, hand the block back, and cut each
frame's ``bytes`` from the copy (sniffer.capture.blocks).

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

from sniffer.capture import blocks, bpf
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

# tpacket_hdr_v1's block_status, then (after num_pkts, offset_to_first_pkt) blk_len: see sniffer.capture.blocks.
_BLOCK = struct.Struct("<I8xI")
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
        if (
            self.ring is not None
            and self.ring[self._block * self.block_size + blocks.BLOCK_STATUS_OFF] & TP_STATUS_USER
        ):
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
        raw = self.read_blocks(max_blocks)  # (it checks the socket's error when the ring is empty)
        if raw is not None:
            for blk in raw:
                blocks.split_block(blk, self.linktype, self.cooked, self.snaplen, frames, stamps)
            return frames, stamps
        self._read_recvmsg(frames, stamps)
        if not frames:
            self._check_error()
        return frames, stamps

    def read_blocks(self, max_blocks: int = 8) -> list[bytes] | None:
        """The ring's retired blocks, copied out and handed back to the kernel (may be empty; cut them into
        frames with sniffer.capture.blocks); None without a ring (use read()). Raises InterfaceDown."""
        ring = self.ring
        if ring is None:
            return None
        out: list[bytes] = []
        for _ in range(max_blocks):
            base = self._block * self.block_size
            status, used = _BLOCK.unpack_from(ring, base + blocks.BLOCK_STATUS_OFF)
            if not status & TP_STATUS_USER:
                break
            # One copy of the block's used bytes, and the block goes straight back to the kernel.
            out.append(ring[base : base + min(used, self.block_size)])
            struct.pack_into("<I", ring, base + blocks.BLOCK_STATUS_OFF, TP_STATUS_KERNEL)
            self._block = (self._block + 1) % self.block_nr
        if not out:
            self._check_error()
        return out

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
            kept = plen = len(data)
            status = tci = tpid = 0
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack_from("<qq", cdata)
                    ts_ns = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, plen, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(cdata)
            at = 12
            if self.cooked:
                _ifname, proto, pkttype, hatype, hwaddr = addr
                head = _SLL_HDR.pack(pkttype, hatype, len(hwaddr), hwaddr, struct.pack(">H", proto))
                data, plen, at = head + data, plen + 16, 14
            data, plen = blocks.as_libpcap(data, plen, status, tci, tpid, kept, at, self.snaplen)
            frames.append((ts_ns / 1e9, self.linktype, data, plen))  # as the -w file reads back
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
