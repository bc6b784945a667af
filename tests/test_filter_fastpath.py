"""Every fast path of the filter gives exactly the values of the detail tree.

The filter answers frame.*, tcp ports/flags/stream/len, ip/ipv6 addresses and
several mqtt.* fields without building the tree; here, frame by frame over the
corpus and a generated capture (MQTT 3.1.1/5, IPv4/IPv6, multi-PDU and
multi-segment frames), each of those getters must equal the tree's values.
"""

from __future__ import annotations

import pytest
from conftest import CORPUS

from sniffer.fields import REGISTRY
from sniffer.filter import access
from sniffer.net.pcapfile import open_capture
from sniffer.pipeline import Dissector
from sniffer.synth.pcap_write import PcapWriter
from sniffer.synth.traffic import generate

FAST_FIELDS = sorted(
    {"mqtt", "mqtt.msgtype", "mqtt.topic", *access._PDU_EXTRACT, *access._SEG_EXTRACT}
    | {a for a, attr in access.FRAME_ATTRS.items() if attr}
)


def _frames(path: str) -> list:
    d = Dissector()
    return [d.frame(n, ts, lt, data, ol) for n, (ts, data, ol, lt) in enumerate(open_capture(path), 1)]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list]]:
    out = [(p.name, _frames(str(p))) for p in sorted(CORPUS.glob("*.pcap*"))]
    path = tmp_path_factory.mktemp("fastpath") / "gen.pcap"
    sink = PcapWriter(str(path))
    generate(sink, 1500, clients=30, seed=11, v5_share=0.5, ipv6_share=0.3, large_share=0.02)
    sink.close()
    out.append(("generated", _frames(str(path))))
    return out


def test_fast_fields_are_registered() -> None:
    missing = [a for a in FAST_FIELDS if a not in REGISTRY]
    assert not missing, f"fast paths for unregistered fields: {missing}"


@pytest.fixture(scope="module")
def values(frames: list[tuple[str, list]]) -> dict[tuple[str, bool], list[tuple[str, int, list, list]]]:
    """(abbrev, wants_value) -> per frame (capture, number, fast values, tree values); one tree per frame."""
    out: dict = {}
    for wants_value in (True, False):
        fast_plan, tree_plan = access.TreePlan(), access.TreePlan()
        getters = {
            a: (access.getter(a, fast_plan, wants_value), access.tree_getter(tree_plan, REGISTRY[a], wants_value))
            for a in FAST_FIELDS
        }
        for name, fl in frames:
            for f in fl:
                for a, (fast, slow) in getters.items():
                    out.setdefault((a, wants_value), []).append((name, f.number, fast(f), slow(f)))
    return out


@pytest.mark.parametrize("wants_value", [True, False])
@pytest.mark.parametrize("abbrev", FAST_FIELDS)
def test_fast_path_equals_tree(abbrev: str, wants_value: bool, values: dict) -> None:
    diffs = []
    seen = 0
    for name, number, a, b in values[abbrev, wants_value]:
        seen += bool(b)
        if (a != b) if wants_value else (len(a) != len(b)):  # presence: the count of occurrences
            diffs.append(f"{name} frame {number}: fast={a!r} tree={b!r}")
    assert not diffs, f"{abbrev} (wants_value={wants_value}): {len(diffs)} frames differ:\n" + "\n".join(diffs[:10])
    assert seen, f"{abbrev} occurs in no frame: the comparison would be vacuous"
