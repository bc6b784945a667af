"""Incremental framing: any chunking gives the same PDUs, spans map back to the fed
chunks, big PDUs across many chunks, the memory cap, resynchronisation and gaps;
random bytes never raise (hypothesis)."""

from __future__ import annotations

import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mqtt_vectors import VECTORS, check_ranges, decode_all, packet, publish, vbi

from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PREFIX, DirectionDecoder, Session
from sniffer.mqtt.dissect import dissect, info

STREAM4 = b"".join(raw for _n, v, raw, _t, _e in VECTORS if v == 4)
STREAM5 = b"".join(raw for _n, v, raw, _t, _e in VECTORS if v == 5)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def summary(pdus):
    return [(p.data, p.msgtype, p.flags, p.hdr_len, p.remaining, p.error, p.topic, p.msgid, p.version) for p in pdus]


def assert_spans_map_back(pdus, chunks):
    for p in pdus:
        rebuilt = b"".join(chunks[tag][coff : coff + ln] for tag, coff, _poff, ln in p.spans)
        assert rebuilt == p.data
        assert [sp[2] for sp in p.spans] == [sum(sp[3] for sp in p.spans[:i]) for i in range(len(p.spans))]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([(STREAM4, 4), (STREAM5, 5)]), st.lists(st.integers(0, 10_000), max_size=60))
def test_random_splits_same_pdus(stream_version, cuts):
    stream, version = stream_version
    whole = decode_all([stream], version)
    chunks = split(stream, cuts)
    pieces = decode_all(chunks, version)
    assert summary(pieces) == summary(whole)
    assert all(p.error is None for p in whole) and len(whole) == sum(1 for v in VECTORS if v[1] == version)
    assert_spans_map_back(pieces, chunks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=400),
    st.lists(st.integers(0, 400), max_size=8),
    st.sampled_from([None, 3, 4, 5]),
    st.integers(0, 3),
)
def test_random_bytes_never_raise(blob, cuts, version, gap_at):
    chunks = split(blob, cuts)
    dec = DirectionDecoder(Session(version), bool(gap_at & 1), max_pdu=300)
    out = []
    for i, c in enumerate(chunks):
        if i == gap_at:
            dec.gap(i + 3)
        dec.feed(c, i)
        while (p := dec.next_pdu()) is not None:
            out.append(p)
    p = dec.close()
    while p is not None:
        out.append(p)
        p = dec.next_pdu()
    for p in out:
        text = info(p)
        assert isinstance(text, str) and text
        root = dissect(p, base=7)
        check_ranges(root, 7, len(p.data))
        assert not any("Dissector bug" in n.text for n in root.walk())
        # the decoder's verdict and the tree agree
        malformed = any(n.text == "[Malformed Packet: MQTT]" for n in root.walk())
        assert malformed == (p.error is not None), (p, [n.text for n in root.walk()])
        assert text.endswith("[Malformed Packet]") == (p.error is not None)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VECTORS), st.binary(max_size=40), st.sampled_from([3, 4, 5]))
def test_mutated_vectors_agree(vector, noise, version):
    """Valid packets with body bytes overwritten: decoder verdict and tree agree."""
    raw = bytearray(vector[2])
    for i, b in enumerate(noise):
        pos = 2 + (i * 7 + b) % max(1, len(raw) - 2)
        if pos < len(raw):
            raw[pos] = b
    for p in decode_all([bytes(raw)], version):
        root = dissect(p)
        malformed = any(n.text == "[Malformed Packet: MQTT]" for n in root.walk())
        assert malformed == (p.error is not None), (p, [n.text for n in root.walk()])
        assert not any("Dissector bug" in n.text for n in root.walk())


def test_300kb_publish_across_many_chunks():
    payload = bytes(range(256)) * 1200  # 307,200 bytes
    raw = publish("big/one", payload, qos=1, msgid=2)
    chunks = [raw[i : i + 1460] for i in range(0, len(raw), 1460)] + [publish("next", b"n")]
    pdus = decode_all(chunks, 4)
    assert [info(p) for p in pdus] == ["Publish Message (id=2) [big/one]", "Publish Message [next]"]
    assert pdus[0].data == raw and len(pdus[0].spans) == len(chunks) - 1
    assert_spans_map_back(pdus, chunks)


def test_remaining_length_varint_split_across_chunks():
    raw = publish("t", b"x" * 20000)  # 3-byte varint
    assert raw[1] & 0x80 and raw[2] & 0x80
    for cut in (1, 2, 3):
        pdus = decode_all([raw[:cut], raw[cut:]], 4)
        assert len(pdus) == 1 and pdus[0].data == raw and pdus[0].hdr_len == 4


def test_multi_pdu_chunk_fast_path_spans():
    a, b = publish("a", b"1"), packet(C.PINGREQ, 0, b"")
    pdus = decode_all([a + b + a], 4)
    assert [p.spans for p in pdus] == [
        ((0, 0, 0, len(a)),),
        ((0, len(a), 0, 2),),
        ((0, len(a) + 2, 0, len(a)),),
    ]


def test_memoryview_over_mutable_buffer_is_copied():
    buf = bytearray(publish("a/b", b"hello")[:6])
    dec = DirectionDecoder(Session(4), True)
    dec.feed(memoryview(buf))
    assert dec.next_pdu() is None
    buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer
    dec.feed(publish("a/b", b"hello")[6:])
    p = dec.next_pdu()
    assert p is not None and p.topic == "a/b" and p.error is None


def test_declared_256mb_does_not_allocate():
    header = bytes([0x30]) + vbi(C.VARINT_MAX)
    tracemalloc.start()
    try:
        dec = DirectionDecoder(Session(4), True)
        dec.feed(header + b"\x00\x01t")
        assert dec.next_pdu() is None
        for _ in range(200):
            dec.feed(b"z" * 1460)
            while (p := dec.next_pdu()) is not None:
                assert p.error is not None and "268435460" in p.error and "16777216" in p.error
                assert len(p.data) == PREFIX
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak


def test_declared_256mb_then_nothing():
    tracemalloc.start()
    try:
        pdus = decode_all([bytes([0x30]) + vbi(C.VARINT_MAX)], 4)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert len(pdus) == 1 and "oversized" in pdus[0].error and info(pdus[0]).endswith("[Malformed Packet]")


def test_oversized_is_skipped_without_buffering_and_next_pdu_frames():
    big = publish("big", b"B" * 5000)
    nxt = publish("after", b"ok")
    for chunks in ([big + nxt], [big[i : i + 100] for i in range(0, len(big), 100)] + [nxt]):
        pdus = decode_all(chunks, 4, max_pdu=2048)
        assert len(pdus) == 2
        assert pdus[0].error.startswith("oversized") and pdus[0].data == big[:PREFIX]
        assert pdus[0].remaining == len(big) - 3 and pdus[0].topic == "big"
        assert pdus[1].error is None and pdus[1].topic == "after"
        root = dissect(pdus[0])
        assert any(n.text == "[Malformed Packet: MQTT]" for n in root.walk())


def test_invalid_varint_resyncs_deterministically():
    junk = bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) + b"\x00\x00"
    good = publish("t", b"x")
    stream = junk + good + good
    whole = decode_all([stream], 4)
    bytewise = decode_all([stream[i : i + 1] for i in range(len(stream))], 4)
    assert summary(whole) == summary(bytewise)
    assert "longer than 4 bytes" in whole[0].error
    assert whole[1].msgtype == -1 and "3 bytes skipped" in whole[1].error
    assert [p.topic for p in whole[2:]] == ["t", "t"] and all(p.error is None for p in whole[2:])
    notes = [n.value for n in dissect(whole[0]).walk() if n.severity == "Error"]
    assert any("longer than 4 bytes" in n for n in notes)


def test_gap_inside_known_pdu_stays_in_step():
    a = publish("a", b"0123456789")
    b = publish("b", b"x")
    dec = DirectionDecoder(Session(4), True)
    dec.feed(a[:6])
    dec.gap(4)
    dec.feed(a[10:] + b)
    first, second = dec.next_pdu(), dec.next_pdu()
    assert "TCP gap" in first.error and first.data == a[:6]
    assert second.error is None and second.topic == "b"


def test_gap_at_boundary_resyncs():
    b = publish("b", b"x")
    dec = DirectionDecoder(Session(4), True)
    dec.gap(100)
    dec.feed(b"\x00\x07garbage" + b)
    out = []
    while (p := dec.next_pdu()) is not None:
        out.append(p)
    assert out[0].msgtype == -1 and out[-1].topic == "b" and out[-1].error is None


def test_close_emits_truncated_partial():
    raw = publish("a/b", b"payload")
    pdus = decode_all([raw[:-3]], 4)
    assert len(pdus) == 1 and pdus[0].error.startswith("truncated") and pdus[0].topic == "a/b"
    assert info(pdus[0]) == "Publish Message [a/b][Malformed Packet]"  # the topic was captured
    pdus = decode_all([raw[:1]], 4)
    assert len(pdus) == 1 and "fixed header" in pdus[0].error
