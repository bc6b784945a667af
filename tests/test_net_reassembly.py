"""sniffer.net.reassembly: stream indexes, in-order delivery, holes, and Info text vs tshark."""

from __future__ import annotations

import itertools
import random
import subprocess

from sniffer.net.frame import parse, tcp_options
from sniffer.net.pcapfile import open_capture
from sniffer.net.reassembly import ACK, FIN, PSH, RST, SYN, TcpStreams, options_info, seg_info, tcp_info
from tests.conftest import CORPUS, require_tool

C, S = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
ISN = 0xFFFFFFF0  # close to the wrap: sequence arithmetic must be modulo 2**32


def client(ts, seq_off, data=b"", flags=PSH | ACK, sport=40000, isn=ISN, at=None):
    seq = (isn + 1 + seq_off) & 0xFFFFFFFF
    return ts.segment(4, C, S, sport, 1883, seq, 1, flags, memoryview(data), at=at)


def handshake(ts, sport=40000, isn=ISN):
    a = ts.segment(4, C, S, sport, 1883, isn, 0, SYN, b"", window=64240, options=b"\x03\x03\x07")
    b = ts.segment(4, S, C, 1883, sport, 5000, (isn + 1) & 0xFFFFFFFF, SYN | ACK, b"", window=65160,
                   options=b"\x03\x03\x02")  # fmt: skip
    return a, b


def delivered(segs) -> tuple[bytes, list]:
    out, gaps = b"", []
    for seg in segs:
        for ev in seg.events:
            if ev[0] == "data":
                out += ev[1]
            else:
                gaps.append(ev[1])
    return out, gaps


def test_handshake_relative_numbers_and_window_scale():
    ts = TcpStreams()
    a, b = handshake(ts)
    assert (a.stream, a.direction, a.seq, a.nxtseq) == (0, 0, 0, 1)
    assert (b.stream, b.direction, b.seq, b.ack) == (0, 1, 0, 1)
    c = ts.segment(4, C, S, 40000, 1883, (ISN + 1) & 0xFFFFFFFF, 5001, ACK, b"", window=502)
    assert (c.seq, c.ack, c.win, c.win_scale) == (1, 1, 502 * 128, 128)
    d = ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 1) & 0xFFFFFFFF, ACK, b"", window=100)
    assert (d.win, d.win_scale) == (400, 4)


def test_in_order_and_offsets():
    ts = TcpStreams()
    handshake(ts)
    s1 = client(ts, 0, b"hello ")
    s2 = client(ts, 6, b"world")
    assert s1.events == [("data", b"hello ", 0)] and s2.events == [("data", b"world", 0)]
    assert (s2.seq, s2.nxtseq) == (7, 12)


def test_retransmission_and_partial_overlap():
    ts = TcpStreams()
    handshake(ts)
    client(ts, 0, b"abcdef")
    r = client(ts, 0, b"abcdef")
    assert r.events == [] and "retransmission" in r.analysis
    o = client(ts, 3, b"defghi")  # overlaps 3 bytes: only the new tail comes out
    assert o.events == [("data", b"ghi", 3)]


def test_hole_declared_lost_at_once_and_a_late_segment_fills_it():
    ts = TcpStreams()
    handshake(ts)
    beyond = client(ts, 4, b"EFGH", at=1_000_000)  # 4 bytes never seen: decoding must not wait for them
    assert beyond.events == [("gap", 4), ("data", b"EFGH", 0)] and "lost_segment" in beyond.analysis
    # the hole's bytes 1 ms later: out of order (tshark: within 3 ms of the highest segment while the
    # handshake's RTT is unknown), delivered as "late"
    fill = client(ts, 0, b"ABCD", at=2_000_000)
    assert fill.events == [("late", b"ABCD", 0)] and "out_of_order" in fill.analysis
    again = client(ts, 0, b"ABCD", at=300_000_000)  # a second copy, 0.3 s later: a retransmission
    assert again.events == [] and "retransmission" in again.analysis
    nxt = client(ts, 8, b"IJ")
    assert nxt.events == [("data", b"IJ", 0)] and "lost_segment" not in nxt.analysis


def test_late_segment_across_two_holes_and_inside_one():
    ts = TcpStreams()
    handshake(ts)
    client(ts, 0, b"AB")
    client(ts, 4, b"EF")  # hole CD
    client(ts, 10, b"KL")  # hole GHIJ
    span = client(ts, 3, b"DEFGH")  # D fills the end of hole 1, GH the start of hole 2
    assert span.events == [("late", b"D", 0), ("late", b"GH", 3)]
    mid = client(ts, 8, b"I")  # the middle of what is left (IJ): J stays a hole
    assert mid.events == [("late", b"I", 0)]
    assert client(ts, 9, b"J").events == [("late", b"J", 0)]
    assert client(ts, 2, b"C").events == [("late", b"C", 0)]
    assert client(ts, 2, b"CDEFGHIJ").events == []  # nothing left unseen


def test_gap_before_fin_and_segment_cut_by_snaplen():
    ts = TcpStreams()
    handshake(ts)
    client(ts, 0, b"AB")
    fin = client(ts, 5, b"", flags=FIN | ACK)  # the last 3 bytes before FIN were never captured
    assert fin.events == [("gap", 3)] and fin.closing and fin.closed
    ts2 = TcpStreams()
    handshake(ts2)
    cut = ts2.segment(4, C, S, 40000, 1883, (ISN + 1) & 0xFFFFFFFF, 1, ACK, memoryview(b"head"), cut=96)
    assert cut.events == [("data", b"head", 0), ("cut", 96)] and cut.length == 100 and cut.nxtseq == 101
    nxt = client(ts2, 100, b"next")  # Len counts the bytes on the wire: no segment looks lost
    assert nxt.events == [("data", b"next", 0)] and "lost_segment" not in nxt.analysis


def test_rst_closes_both_directions():
    ts = TcpStreams()
    handshake(ts)
    client(ts, 0, b"abc")
    rst = client(ts, 3, b"", flags=RST | ACK)
    assert rst.closed and rst.events == []
    late = ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 4) & 0xFFFFFFFF, ACK | PSH, memoryview(b"zz"))
    assert late.closed


def test_new_stream_on_port_reuse_and_retransmitted_syn():
    ts = TcpStreams()
    handshake(ts)
    again, _ = handshake(ts)  # retransmitted SYN: same stream
    assert again.stream == 0 and not again.new_stream
    client(ts, 0, b"", flags=FIN | ACK)
    ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 2) & 0xFFFFFFFF, FIN | ACK, b"")
    reuse, _ = handshake(ts, isn=12345)
    assert reuse.stream == 1 and reuse.new_stream
    other, _ = handshake(ts, sport=40001)
    assert other.stream == 2


def test_direction_without_syn_uses_server_ports():
    ts = TcpStreams(server_ports={1883})
    s = ts.segment(4, S, C, 1883, 40000, 77, 99, ACK | PSH, memoryview(b"\x20\x02\x00\x00"))
    assert s.direction == 1 and (s.seq, s.ack) == (1, 1)  # mid-stream: Wireshark's seq-1 / ack-1 bases
    ts2 = TcpStreams(server_ports=set())
    s2 = ts2.segment(4, S, C, 80, 40000, 77, 99, ACK, memoryview(b"x"))
    assert s2.direction == 1  # lower port serves


def test_any_order_delivers_every_byte_once():
    """Permutations of the segments (duplicates and overlaps included): every byte of the stream
    comes out exactly once, in order as "data" or filling a declared hole as "late"."""
    stream = bytes(range(256)) * 3
    cuts = [(0, 100), (100, 250), (90, 300), (300, 500), (450, 700), (700, 768), (100, 250)]
    rng = random.Random(1)
    orders = list(itertools.permutations(range(len(cuts))))
    for order in rng.sample(orders, 300):
        ts = TcpStreams()
        handshake(ts)
        segs = [client(ts, cuts[i][0], stream[cuts[i][0] : cuts[i][1]]) for i in order]
        got = bytearray(len(stream))
        seen = 0
        for i, seg in zip(order, segs, strict=True):
            for ev in seg.events:
                if ev[0] in ("data", "late"):
                    at = cuts[i][0] + ev[2]
                    got[at : at + len(ev[1])] = ev[1]
                    seen += len(ev[1])
        assert bytes(got) == stream and seen == len(stream), order
        if list(order) == sorted(order):
            assert delivered(segs) == (stream, [])


def test_tcp_info_format():
    assert tcp_info(
        38764, 1883, SYN, 0, 0, 65476, 0, b"\x02\x04\xff\xc4\x04\x02\x08\x0a\0\0\0\x05\0\0\0\0\x01\x03\x03\x07"
    ) == ("38764 → 1883 [SYN] Seq=0 Win=65476 Len=0 MSS=65476 SACK_PERM TSval=5 TSecr=0 WS=128")
    assert tcp_info(1883, 1, RST | ACK, 5, 6, 0, 0) == "1883 → 1 [RST, ACK] Seq=5 Ack=6 Win=0 Len=0"
    assert tcp_info(1, 2, PSH | ACK, 1, 1, 10, 3, pdu_segment=True).endswith("Len=3 [TCP segment of a reassembled PDU]")
    assert tcp_info(1, 2, ACK, 1, 1, 10, 3, analysis=("retransmission",)).startswith("[TCP Retransmission] 1 → 2")


def test_info_and_numbers_equal_tshark_on_corpus():
    """Info of every TCP-only corpus frame, and tcp.stream/seq/ack/nxtseq/window fields, as tshark."""
    tshark = require_tool("tshark")
    checked = 0
    for f in sorted(CORPUS.glob("*.pcap*")):
        cols = ["_ws.col.Protocol", "_ws.col.Info", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.nxtseq", "tcp.window_size"]
        cmd = [tshark, "-r", str(f), "-T", "fields", "-E", "separator=\t"]
        for c in cols:
            cmd += ["-e", c]
        rows = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
        ts = TcpStreams()
        for row, (_t, data, _ol, lt) in zip(rows, open_capture(str(f)), strict=True):
            p = parse(lt, data)
            opts = tcp_options(data, p)
            seg = ts.segment(*p[:8], memoryview(data)[p[9] : p[9] + p[10]], window=p[8], options=opts)
            proto, info, *nums = row.split("\t")
            assert nums == [str(v) for v in (seg.stream, seg.seq, seg.ack, seg.nxtseq, seg.win)], (f.name, row)
            if proto == "TCP" and info != "[TCP segment of a reassembled PDU]":
                pdu = info.endswith(" [TCP segment of a reassembled PDU]")
                assert seg_info(seg, p[3], p[4], p[7], p[10], opts, pdu_segment=pdu) == info, f.name
                if not pdu:
                    assert seg.info == info
                checked += 1
    assert checked > 100


def test_closed_conversations_are_forgotten_after_a_while():
    """Millions of short connections in a days-long capture: closed conversations are kept for their late
    segments (the last ACK) and then forgotten, so the table stays bounded; stream indexes keep counting."""
    from sniffer.net.reassembly import LINGER

    ts = TcpStreams()
    n = LINGER + 500
    for i in range(n):
        sport = 10000 + i
        handshake(ts, sport=sport)
        client(ts, 0, b"", flags=FIN | ACK, sport=sport)
        ts.segment(4, S, C, 1883, sport, 5001, (ISN + 2) & 0xFFFFFFFF, FIN | ACK, b"")
        last_ack = client(ts, 1, b"", flags=ACK, sport=sport)
        assert last_ack.stream == i  # a late segment still finds its closed conversation
    assert len(ts) == n and len(ts._table) == 2 * LINGER
    assert ts.forgotten == list(range(500))


def test_options_info_reads_every_field():
    # each option's numbers read from the bytes, as Wireshark's Info shows them
    syn = bytes.fromhex("020405b40402080a0001e240000000000103030a")  # MSS, SACK_PERM, TS, NOP, WS
    assert options_info(syn) == " MSS=1460 SACK_PERM TSval=123456 TSecr=0 WS=1024"
    assert options_info(bytes.fromhex("0303ff")) == " WS=16384"  # shifts above 14 count as 14
    assert options_info(bytes.fromhex("0204ffff080a80000001fffffffe")) == " MSS=65535 TSval=2147483649 TSecr=4294967294"
    # SACK edges relative to the acked side's base, modulo 2**32, two blocks
    sack = bytes.fromhex("01010512000002000000030000000000000001ff")
    assert options_info(sack, sack_base=0x100) == " SLE=256 SRE=512 SLE=4294967040 SRE=255"
    # the walk stops at End of Option List, a length below 2 and a length past the end
    assert options_info(bytes.fromhex("020405b400020405b4")) == " MSS=1460"
    assert options_info(bytes.fromhex("020405b4080a0001")) == " MSS=1460"
    assert options_info(bytes.fromhex("0201020405b4")) == ""


def test_conversations_on_the_same_ports_are_told_apart_by_address():
    """Two clients behind the same source port (NAT, several captures merged): the table finds each
    conversation by its ports and then its addresses, in both directions, and forgets only its own."""
    c2 = b"\x0a\x00\x00\x03"
    ts = TcpStreams()
    one = ts.segment(4, C, S, 40000, 1883, 100, 0, SYN, b"")
    two = ts.segment(4, c2, S, 40000, 1883, 900, 0, SYN, b"")
    assert (one.stream, two.stream) == (0, 1) and one.new_stream and two.new_stream
    back2 = ts.segment(4, S, c2, 1883, 40000, 7000, 901, SYN | ACK, b"")
    back1 = ts.segment(4, S, C, 1883, 40000, 5000, 101, SYN | ACK, b"")
    assert (back1.stream, back1.direction, back2.stream, back2.direction) == (0, 1, 1, 1)
    data2 = ts.segment(4, c2, S, 40000, 1883, 901, 7001, PSH | ACK, memoryview(b"\x20\x02\x00\x00"))
    assert (data2.stream, data2.seq, data2.ack) == (1, 1, 1)
    # port reuse by the first client only: a new stream for it, the second's is untouched
    again = ts.segment(4, C, S, 40000, 1883, 5555, 0, SYN, b"")
    assert again.stream == 2 and again.new_stream
    assert ts.segment(4, c2, S, 40000, 1883, 905, 7001, ACK, b"").stream == 1
    assert ts.segment(4, S, C, 1883, 40000, 8000, 5556, SYN | ACK, b"").stream == 2


def test_a_conversation_adopted_from_a_checkpoint_has_the_entries_it_had(corpus_files):
    """sniffer.replay saves a stream's conversation (pickled) and a fresh TcpStreams adopts it: both of
    its keys must give the direction and the _Dir pair the original table gave."""
    import pickle

    from sniffer.net.pcapfile import open_capture
    from sniffer.net.reassembly import TcpStreams
    from sniffer.pipeline import Dissector

    checked = 0
    for path in corpus_files:
        d = Dissector(sessions=False)
        for n, (ts, data, ol, lt) in enumerate(open_capture(str(path)), 1):
            d.frame(n, ts, lt, data, ol)
        for ports, cands in d.streams._table.items():
            for src, dst, (conv, direction, mine, other) in cands:
                copy = pickle.loads(pickle.dumps(conv))
                fresh = TcpStreams()
                fresh.adopt(copy)
                got = fresh._find(src, ports >> 16, dst, ports & 0xFFFF)
                assert got is not None and got[0] is copy and got[1] == direction
                assert got[2] is copy.dirs[conv.dirs.index(mine)] and got[3] is copy.dirs[conv.dirs.index(other)]
                assert fresh.conversation(src, ports >> 16, dst, ports & 0xFFFF) is copy
                checked += 1
    assert checked >= 20


def test_seq_ack_analysis_names_the_acked_segment_its_rtt_and_the_bytes_in_flight():
    """tshark's [SEQ/ACK analysis] values (tests/test_tcp_analysis.py compares them with tshark on real links)."""
    ts = TcpStreams()
    ms = 1_000_000
    # (at 1 ms: a SYN stamped 0 would be "no SYN seen" to tshark, whose zero time means unset)
    ts.segment(4, C, S, 40000, 1883, ISN, 0, SYN, b"", window=64240, options=b"\x03\x03\x07", at=1, num=1)
    ts.segment(4, S, C, 1883, 40000, 5000, (ISN + 1) & 0xFFFFFFFF, SYN | ACK, b"", window=65160,
               options=b"\x03\x03\x02", at=1 * ms, num=2)  # fmt: skip
    last = ts.segment(4, C, S, 40000, 1883, (ISN + 1) & 0xFFFFFFFF, 5001, ACK, b"", window=502, at=2 * ms, num=3)
    assert (last.acks_frame, last.ack_rtt, last.irtt) == (2, 1 * ms, 2 * ms - 1)  # the handshake's RTT: SYN to ACK
    a = ts.segment(4, C, S, 40000, 1883, (ISN + 1) & 0xFFFFFFFF, 5001, ACK, b"x" * 100, window=502, at=3 * ms, num=4)
    b = ts.segment(4, C, S, 40000, 1883, (ISN + 101) & 0xFFFFFFFF, 5001, PSH | ACK, b"y" * 50, window=502,
                   at=4 * ms, num=5)  # fmt: skip
    assert (a.bif, a.push_bytes, b.bif, b.push_bytes) == (100, 100, 150, 150)
    part = ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 101) & 0xFFFFFFFF, ACK, b"", window=502, at=5 * ms, num=6)
    assert (part.acks_frame, part.ack_rtt) == (4, 2 * ms)
    whole = ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 151) & 0xFFFFFFFF, ACK, b"", window=502, at=9 * ms, num=7)
    assert (whole.acks_frame, whole.ack_rtt, whole.ta) == (5, 5 * ms, True)
    # the same ACK again, same window, nothing sent: a duplicate ACK, named after the ACK it repeats
    dup = ts.segment(4, S, C, 1883, 40000, 5001, (ISN + 151) & 0xFFFFFFFF, ACK, b"", window=502, at=10 * ms, num=8)
    assert "duplicate_ack" in dup.analysis and (dup.dupack_num, dup.dupack_frame) == (1, 7)
    assert dup.info.startswith("[TCP Dup ACK 7#1] 1883 \u2192 40000 [ACK]")
    assert dup.completeness == 1 | 2 | 4 | 8  # SYN, SYN-ACK, ACK, data: before this frame


def test_unacknowledged_segments_are_bounded_per_direction():
    """A one-way capture (the peer's ACKs never seen) keeps at most tshark's 10,000 segments a direction: a tap
    on one direction runs for days without growing."""
    from sniffer.net.reassembly import MAX_UNACKED

    ts = TcpStreams()
    handshake(ts)
    for i in range(MAX_UNACKED + 500):
        seg = client(ts, 10 * i, b"0123456789", at=i)
    conv = ts.conversation(C, 40000, S, 1883)
    ual = conv.dirs[0].ual
    assert len(ual) == MAX_UNACKED
    assert seg.bif == 10 * MAX_UNACKED  # tshark's figure once its list is full


def test_a_syn_sent_again_after_the_syn_ack_shows_its_ack_field_raw():
    ts = TcpStreams()
    handshake(ts)
    again = ts.segment(4, C, S, 40000, 1883, ISN, 0, SYN, b"", window=64240, options=b"\x03\x03\x07")
    assert again.ack == 0 and "retransmission" in again.analysis
