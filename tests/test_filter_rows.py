"""Filters over stored rows give exactly the answers they give over the dissected Frames.

sniffer.filter.rows answers the common fields from the packet store's columns and prunes
tree-only MQTT fields by packet type; here, row by row over the demo, the corpus and a
generated capture (MQTT 3.1/3.1.1/5, IPv4/IPv6, multi-PDU and multi-segment frames, malformed
PDUs), every fast getter, every pruned getter, and whole expressions must agree with the
Frame path, and the pruned Frame getters must agree with the unpruned tree getters.
"""

from __future__ import annotations

import pytest
from conftest import CORPUS

from sniffer.fields import REGISTRY
from sniffer.filter import access, compile_filter
from sniffer.filter.rows import RowAccess
from sniffer.net.pcapfile import open_capture
from sniffer.pipeline import Dissector
from sniffer.store import PacketStore
from sniffer.synth.pcap_write import PcapWriter
from sniffer.synth.traffic import generate
from tests.ui_helpers import DEMO

FAST_FIELDS = sorted(
    {"mqtt", "mqtt.msgtype", "mqtt.topic", *access._PDU_EXTRACT, *access._SEG_EXTRACT}
    | set(access.FRAME_ATTRS)
    | {"frame.cap_len"}
)
PRUNED_FIELDS = sorted(
    a for a in REGISTRY if a.startswith("mqtt.") and access.pdu_admits(a) is not None and a not in FAST_FIELDS
)

EXPRESSIONS = [
    "mqtt",
    "!mqtt",
    "mqtt.msgtype == 3 && mqtt.qos == 1",
    "mqtt.msgtype != 3",
    "mqtt.msgtype > 8",
    "all mqtt.msgtype == 4",
    "mqtt.msgtype in {8, 9, 10, 11} || frame.number < 100",
    "count(mqtt.msgtype) >= 2",
    'mqtt.topic contains "a"',
    'topic_match(mqtt.topic, "+/#")',
    "mqtt.qos > 0 && mqtt.retain == 1",
    "mqtt.dupflag",
    "mqtt.msgid in {1..10}",
    "mqtt.len > 100",
    "mqtt.hdrflags == 0x30",
    "frame.len > 100 && frame.cap_len < 1000",
    "tcp.stream == 3",
    "tcp.port == 1883",
    "tcp.srcport != 1883",
    "tcp.flags.syn == 1 || tcp.flags.fin",
    "tcp.len > 0",
    "ip.addr == 10.0.0.0/8",
    "ip.src == 127.0.0.1",
    "ipv6",
    "ipv6.addr",
    "mqtt.kalive > 30",
    "mqtt.clientid",
    'mqtt.username contains "&"',
    "mqtt.conack.val == 0",
    "mqtt.suback.qos == 0x80",
    "mqtt.sub.qos >= 1",
    'mqtt.property.content_type == "application/json"',
    "mqtt.property.topic_alias",
    "mqtt.prop_key",
    "mqtt.puback.reason_code",
    "mqtt.msg contains 7b",
    "mqtt.topic_len > 5",
    "mqtt.ver == 5 || mqtt.willtopic",
    "tcp.analysis.retransmission",
    "frame.time_relative > 1",
]


def _store(path: str) -> tuple[PacketStore, list]:
    d, s, frames = Dissector(), PacketStore(), []
    for n, (ts, data, ol, lt) in enumerate(open_capture(path), 1):
        f = d.frame(n, ts, lt, data, ol)
        s.add(f)
        frames.append(f)
    return s, frames


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, PacketStore, list]]:
    path = tmp_path_factory.mktemp("rows") / "gen.pcap"
    sink = PcapWriter(str(path))
    generate(sink, 2000, clients=30, seed=5, v5_share=0.5, ipv6_share=0.3, large_share=0.02)
    sink.close()
    paths = [DEMO, *sorted(CORPUS.glob("*.pcap*")), path]
    return [(p.name, *_store(str(p))) for p in paths]


def test_the_generated_capture_has_what_the_columns_describe(captures) -> None:
    _, store, _ = captures[-1]
    assert store.index.more, "no multi-PDU frame: the overflow path would be untested"
    assert len(store.index.topics) > 5
    assert any(a is not None and a[0] == 6 for a in store.addresses())


@pytest.mark.parametrize("wants_value", [True, False])
def test_row_getters_equal_frame_getters(captures, wants_value: bool) -> None:
    diffs, seen = [], dict.fromkeys(FAST_FIELDS + PRUNED_FIELDS, 0)
    for name, store, frames in captures:
        rows = RowAccess(store)
        plan_r, plan_f = access.TreePlan(), access.TreePlan()
        getters = {a: (rows.getter(a, plan_r, wants_value), access.getter(a, plan_f, wants_value)) for a in seen}
        for i, f in enumerate(frames):
            for a, (row_get, frame_get) in getters.items():
                r, v = row_get(i), frame_get(f)
                seen[a] += bool(v)
                if (r != v) if wants_value else (len(r) != len(v)):
                    diffs.append(f"{name} frame {f.number} {a}: row={r!r} frame={v!r}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:20])
    vacuous = [a for a in FAST_FIELDS if not seen[a]]
    assert not vacuous, f"fields occurring in no frame (the comparison is vacuous): {vacuous}"


def test_pruned_getters_equal_the_tree(captures) -> None:
    """Pruning by packet type never hides an occurrence the detail tree has."""
    diffs, seen = [], dict.fromkeys(PRUNED_FIELDS, 0)
    for name, _, frames in captures:
        plan_p, plan_t = access.TreePlan(), access.TreePlan()
        getters = {a: (access.tree_getter(plan_p, REGISTRY[a]), access._tree_getter(plan_t, REGISTRY[a])) for a in seen}
        for f in frames:
            for a, (pruned, full) in getters.items():
                p, t = pruned(f), full(f)
                seen[a] += bool(t)
                if p != t:
                    diffs.append(f"{name} frame {f.number} {a}: pruned={p!r} tree={t!r}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:20])
    assert sum(1 for n in seen.values() if n) >= 20, "too few pruned fields occur for the check to mean much"


def test_expressions_over_rows_equal_frames(captures) -> None:
    diffs, hits = [], dict.fromkeys(EXPRESSIONS, 0)
    for name, store, frames in captures:
        for expr in EXPRESSIONS:
            by_frame = compile_filter(expr).matches
            by_row = compile_filter(expr, store).matches
            for i, f in enumerate(frames):
                want = bool(by_frame(f))
                hits[expr] += want
                if bool(by_row(i)) != want:
                    diffs.append(f"{name} frame {f.number}: {expr!r} row={not want} frame={want}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:20])
    never = [e for e, n in hits.items() if not n and not e.startswith("!")]
    assert len(never) <= 3, f"expressions matching nothing anywhere: {never}"


def test_stored_frames_keep_their_raw_addresses(captures) -> None:
    """The Frame getters of ip.* read Frame.addrs: a Frame rebuilt from the store must have them."""
    for name, store, frames in captures:
        for i, f in enumerate(frames):
            assert store.frame(i).addrs == f.addrs, (name, f.number)
