"""Compile a tcpdump filter expression into a classic BPF program for the kernel.

The compiler is libpcap's own ``pcap_compile`` (reached through ctypes, exactly as scapy's
``compile_filter`` does, without paying for scapy's 0.3 s import), so an expression means what it
means to tcpdump and a bad one gets libpcap's message. Two rewrites adapt the program to how we
open the socket:

* on loopback every packet is seen twice by AF_PACKET (the ``PACKET_OUTGOING`` copy and the
  incoming one); a prefix rejects the outgoing copy in the kernel, so it is never copied nor counted;
* for ``-i any`` the socket is SOCK_DGRAM (the kernel hands the network layer) while the expression
  is compiled for the Linux cooked header (DLT_LINUX_SLL): loads are shifted past the 16-byte SLL
  header and loads of its packet-type/protocol fields become the kernel's ancillary loads, as
  libpcap does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct

# DLT values given to pcap_open_dead (the compiler's link type), and the LINKTYPE written in files.
DLT_EN10MB = 1
DLT_RAW = 12  # Linux's DLT_RAW; written to files as LINKTYPE_RAW (101)
DLT_LINUX_SLL = 113
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

# Classic BPF opcodes and the kernel's ancillary data offsets (linux/filter.h).
BPF_LD_W_ABS = 0x20
BPF_LD_H_ABS = 0x28
BPF_LD_B_ABS = 0x30
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SKF_AD_OFF = -0x1000 & 0xFFFFFFFF
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
PACKET_OUTGOING = 4
SLL_HDR_LEN = 16
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF

Insn = tuple[int, int, int, int]  # (code, jt, jf, k)


class FilterError(Exception):
    """The expression does not compile; the message is libpcap's."""


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libpcap: ctypes.CDLL | None = None


def _pcap() -> ctypes.CDLL:
    global _libpcap
    if _libpcap is None:
        name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise FilterError(f"libpcap is needed to compile capture filters ({exc}); install libpcap0.8") from exc
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_BpfProgram),
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        _libpcap = lib
    return _libpcap


def compile_filter(expr: str, dlt: int, snaplen: int) -> list[Insn]:
    """The optimised BPF program for ``expr`` on link type ``dlt``; raises FilterError."""
    lib = _pcap()
    handle = lib.pcap_open_dead(dlt, snaplen)
    if not handle:
        raise FilterError("libpcap could not open a compiler handle")
    prog = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            msg = (lib.pcap_geterr(handle) or b"syntax error").decode(errors="replace")
            raise FilterError(f"invalid capture filter {expr!r}: {msg}")
        insns = [(i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len]]
        lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)
    return insns


def reject_outgoing(prog: list[Insn], lo_ifindex: int | None = None) -> list[Insn]:
    """Prefix ``prog`` so PACKET_OUTGOING copies are rejected (only those on ``lo_ifindex`` if given).

    BPF jumps are relative and only go forward, so the original program runs unchanged after the prefix.
    """
    pkttype = [
        (BPF_LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_PKTTYPE) & 0xFFFFFFFF),
        (BPF_JEQ_K, 0, 1, PACKET_OUTGOING),
        (BPF_RET_K, 0, 0, 0),
    ]
    if lo_ifindex is None:
        return pkttype + prog
    ifindex = [
        (BPF_LD_W_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_IFINDEX) & 0xFFFFFFFF),
        (BPF_JEQ_K, 0, len(pkttype), lo_ifindex),
    ]
    return ifindex + pkttype + prog


def cook(prog: list[Insn]) -> list[Insn]:
    """Adapt a DLT_LINUX_SLL program to a SOCK_DGRAM socket (data starts at the network header).

    Raises FilterError when the expression reads parts of the cooked header the kernel cannot
    supply (link-layer addresses): libpcap would then filter in user space, which we refuse to do.
    """
    out: list[Insn] = []
    for code, jt, jf, k in prog:
        cls, mode = code & 0x07, code & 0xE0
        # BPF_LD / BPF_LDX with BPF_ABS (0x20), BPF_IND (0x40) or BPF_MSH (0xa0) read packet bytes.
        if cls in (0x00, 0x01) and mode in (0x20, 0x40, 0xA0):
            if k >= SLL_HDR_LEN:
                k -= SLL_HDR_LEN
            elif k == 0 and mode == 0x20:
                k = (SKF_AD_OFF + SKF_AD_PKTTYPE) & 0xFFFFFFFF
            elif k == 14 and mode == 0x20:
                k = (SKF_AD_OFF + SKF_AD_PROTOCOL) & 0xFFFFFFFF
            else:
                raise FilterError("this filter reads link-layer fields that -i any cannot provide")
        out.append((code, jt, jf, k))
    return out


def attach(sock, prog: list[Insn]) -> None:
    """Attach ``prog`` to ``sock`` with SO_ATTACH_FILTER (the kernel copies it)."""
    raw = b"".join(struct.pack("HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.addressof(buf))
    so_attach_filter = 26
    sock.setsockopt(1, so_attach_filter, bytes(fprog))  # SOL_SOCKET


def reject_all() -> list[Insn]:
    return [(BPF_RET_K, 0, 0, 0)]
