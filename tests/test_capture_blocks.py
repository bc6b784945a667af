"""sniffer.capture.blocks: TPACKET_V3 blocks laid out as the kernel lays them out, cut into the frames that went in;
frames written as pcapng EPBs that read back as they were. Compiled (as installed) and from its source alike."""

from __future__ import annotations

import importlib.util
import itertools
import struct
from pathlib import Path
from types import ModuleType

import pytest
from librt.strings import BytesWriter

import sniffer.capture.blocks as installed
from sniffer.capture.pcapng import header
from sniffer.net.pcapfile import open_capture

CAPTURES = Path(__file__).parent / "captures"
HDR = struct.Struct("<IIIIIIHHIIH")  # struct tpacket3_hdr with hv1, as linux/if_packet.h has it
SOCKADDR_LL = struct.Struct("<H2siHBB8s")
TP_STATUS_USER, VLAN_VALID, TPID_VALID = 1, 0x10, 0x40
SNAP = 262144  # the default snapshot length: nothing cut


def _source_module() -> ModuleType:
    """The module run from its .py file, whatever build is installed."""
    spec = importlib.util.spec_from_file_location("blocks_source", Path(installed.__file__).parent / "blocks.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(params=["installed", "source"])
def blocks(request) -> ModuleType:
    return installed if request.param == "installed" else _source_module()


def _frames(n: int) -> list[tuple[float, bytes, int]]:
    """Real frames of all sizes: the corpus's big and small Ethernet frames."""
    out = []
    for path in (
        CAPTURES / "mqtt311_publish-100KB-both-directions__suricata-verify.pcap",  # frames up to 65,549 bytes
        CAPTURES / "mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap",
        Path(installed.__file__).parents[1] / "data" / "demo.pcap",
    ):
        out += [(r[0], r[1], r[2]) for r in itertools.islice(iter(open_capture(str(path))), n)]
    return out


def _block(
    frames: list,
    vlan: dict[int, tuple[int, int | None]],
    cooked: bool = False,
    ends: list | None = None,
    kept: int = SNAP,
) -> bytes:
    """A retired block as the kernel writes it: descriptor, then per frame a tpacket3_hdr (sockaddr_ll at
    48), the frame at tp_mac 82 (Ethernet; the network header at tp_net 96, where a SOCK_DGRAM socket's data
    starts), each record 8-byte aligned (V3_ALIGNMENT); blk_len = bytes used. `vlan` maps a frame's index to
    the (TCI, TPID or None) the kernel stripped from it; `kept`: the bytes the filter's snap length left of
    each frame; `ends` gets where each frame's bytes end in the block."""
    body = bytearray(48)
    off = 48
    for i, (ts, data, orig) in enumerate(frames):
        sec, nsec = int(ts), round((ts - int(ts)) * 1e9) % 1_000_000_000
        status, tci, tpid = TP_STATUS_USER, 0, 0
        if i in vlan:
            tci, maybe_tpid = vlan[i]
            status |= VLAN_VALID | (TPID_VALID if maybe_tpid is not None else 0)
            tpid = maybe_tpid or 0
        mac, net = (96, 96) if cooked else (82, 96)
        payload = (data[14:] if cooked else data)[:kept]
        snap, wire = len(payload), orig - 14 if cooked else orig
        rec = bytearray((mac + snap + 7) & ~7)
        last = i == len(frames) - 1
        HDR.pack_into(rec, 0, 0 if last else len(rec), sec, nsec, snap, wire, status, mac, net, 7, tci, tpid)
        SOCKADDR_LL.pack_into(rec, 48, 17, data[12:14], 2, 1, i % 5, 6, data[6:12] + b"\0\0")
        rec[mac : mac + snap] = payload
        if ends is not None:
            ends.append(off + mac + snap)
        body += rec
        off += len(rec)
    struct.pack_into("<IIIIII", body, 0, 3, 0, TP_STATUS_USER, len(frames), 48, off)
    return bytes(body)


def _libpcap(i: int, data: bytes, orig: int, tag: tuple[int, int | None] | None, cooked: bool, kept: int, snaplen: int):
    """The (frame, original length) libpcap gives for a frame the kernel kept `kept` bytes of (pcap-linux.c's
    pcap_handle_packet_mmap): the SLL header first if cooked; the tag put back at vlan_offset (12, or 14 in
    an SLL header) if the kernel's length reaches it; then cut to the snapshot length."""
    if cooked:
        body = data[14:][:kept]
        out, wire, at = struct.pack(">HHH", i % 5, 1, 6) + data[6:12] + b"\0\0" + data[12:14] + body, orig + 2, 14
    else:
        body = data[:kept]
        out, wire, at = body, orig, 12
    if tag is not None and len(body) >= at:
        out = out[:at] + struct.pack(">HH", tag[1] or 0x8100, tag[0]) + out[at:]
        wire += 4
    return out[:snaplen], wire


def test_a_block_gives_back_every_frame_with_its_time_and_length(blocks: ModuleType) -> None:
    frames = _frames(40)
    got: list = []
    stamps: list = []
    assert blocks.split_block(_block(frames, {}), 1, False, SNAP, got, stamps) == len(frames)
    assert [g[2] for g in got] == [f[1] for f in frames]
    assert [g[3] for g in got] == [f[2] for f in frames]
    assert {g[1] for g in got} == {1}
    for (ts, _d, _o), g, ns in zip(frames, got, stamps, strict=True):
        assert abs(g[0] - ts) < 1e-6 and ns == int(ts) * 10**9 + round((ts - int(ts)) * 1e9) % 10**9
        assert g[0] == ns / 1e9  # the float the -w file's ns ticks read back as (sniffer.net.pcapfile)


@pytest.mark.parametrize("cooked", [False, True], ids=["ethernet", "cooked"])
@pytest.mark.parametrize("snaplen", [SNAP, 200, 60, 18, 16, 14, 12, 10])
def test_a_stripped_vlan_tag_goes_back_where_it_was_within_the_snap_length(
    blocks: ModuleType, cooked: bool, snaplen: int
) -> None:
    frames = _frames(6)
    vlan = {1: (0x0005, None), 2: (0xE00A, 0x88A8), 4: (0x0FFF, 0x8100)}
    kept = max(snaplen - 16, 0) if cooked and snaplen != SNAP else snaplen  # (the SLL header counts in it)
    for kept_now in sorted({kept, 11, 12, 13, 14, 15}):  # also lengths either side of where the tag goes
        got: list = []
        blocks.split_block(_block(frames, vlan, cooked, kept=kept_now), 113 if cooked else 1, cooked, snaplen, got, [])
        want = [_libpcap(i, d, o, vlan.get(i), cooked, kept_now, snaplen) for i, (_t, d, o) in enumerate(frames)]
        assert [(g[2], g[3]) for g in got] == want


def test_cooked_frames_get_the_sll_header_from_the_sockaddr(blocks: ModuleType) -> None:
    frames = _frames(10)
    got: list = []
    blocks.split_block(_block(frames, {}, cooked=True), 113, True, SNAP, got, [])
    assert len(got) == len(frames)
    for i, ((_ts, data, orig), g) in enumerate(zip(frames, got, strict=True)):
        # LINKTYPE_LINUX_SLL: packet type, ARPHRD, address length, 8 address bytes, protocol; then layer 3
        assert g[2] == struct.pack(">HHH", i % 5, 1, 6) + data[6:12] + b"\0\0" + data[12:14] + data[14:]
        assert g[3] == orig - 14 + 16 and g[1] == 113


def test_a_short_copy_ends_at_the_last_whole_frame(blocks: ModuleType) -> None:
    frames = _frames(8)
    ends: list[int] = []
    blk = _block(frames, {}, ends=ends)
    whole: list = []
    blocks.split_block(blk, 1, False, SNAP, whole, [])
    for cut in (ends[-1] - 1, ends[len(ends) // 2], ends[len(ends) // 2] - 1, ends[0], 60, 10, 0):
        got: list = []
        n = blocks.split_block(blk[:cut], 1, False, SNAP, got, [])
        assert n == sum(1 for e in ends if e <= cut) == len(got) and got == whole[:n]


def test_epbs_read_back_as_the_frames_they_hold(blocks: ModuleType, tmp_path: Path) -> None:
    frames = [(ts, 1, data, orig) for ts, data, orig in _frames(50)]
    stamps = [int(ts * 1e6) * 1000 for ts, *_ in frames]
    path = tmp_path / "epb.pcapng"
    path.write_bytes(header(1, 262144, "lo") + blocks.encode(frames, stamps))
    back = list(open_capture(str(path)))
    assert [(r[1], r[2]) for r in back] == [(f[2], f[3]) for f in frames]
    assert [round(r[0] * 1e6) for r in back] == [s // 1000 for s in stamps]


def test_an_epb_field_out_of_range_is_an_error(blocks: ModuleType) -> None:
    with pytest.raises(OverflowError):
        blocks.encode([(0.0, 1, b"x", 1 << 32)], [0])
    with pytest.raises(OverflowError):
        blocks.encode([(0.0, 1, b"x", 1)], [-1])


@pytest.mark.parametrize("cooked", [False, True])
def test_epbs_from_a_block_are_those_of_its_frames(blocks: ModuleType, cooked: bool) -> None:
    """The -w path (a block straight to EPBs) writes what the frames the dissector gets would write."""
    frames = _frames(30)
    ends: list[int] = []
    blk = _block(frames, {} if cooked else {0: (0x0005, None), 3: (0xE00A, 0x88A8)}, cooked=cooked, ends=ends)
    assert blocks.frame_count(blk) == len(frames)
    for cut in (len(blk), ends[len(ends) // 2] - 1):
        got: list = []
        stamps: list = []
        n = blocks.split_block(blk[:cut], 113 if cooked else 1, cooked, SNAP, got, stamps)
        w = BytesWriter()
        w.write(b"before")  # a writer that still holds the last block's bytes until it is emptied
        w.truncate(0)
        assert blocks.encode_block(w, blk[:cut], cooked, SNAP) == n and w.getvalue() == blocks.encode(got, stamps)
    w = BytesWriter()
    assert blocks.encode_block(w, b"", cooked, SNAP) == 0 == len(w) and blocks.frame_count(b"") == 0
