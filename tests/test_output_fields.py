"""-T fields answers some MQTT fields from the framed PDUs without building trees;
those answers must equal the tree's, frame by frame, on every capture we have."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CORPUS, REPO

from sniffer.net.pcapfile import open_capture
from sniffer.output.fields import PDU_FAST, FieldPrinter, collect
from sniffer.pipeline import Dissector


def frames_of(path: str):
    d = Dissector()
    for no, (ts, data, orig_len, lt) in enumerate(open_capture(path), 1):
        yield d.frame(no, ts, lt, data, orig_len)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("gen") / "gen.pcap"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_capture.py"), str(out), "--frames", "20000", "--seed", "7"],
        check=True,
        capture_output=True,
    )
    return str(out)


def test_pdu_fast_path_equals_tree(generated: str) -> None:
    names = sorted(PDU_FAST)
    fast = FieldPrinter(["frame.number", *names])
    assert fast.pdu_fast
    paths = [generated, *(str(p) for p in sorted(CORPUS.glob("*.pcap*")))]
    checked = timed = 0
    for path in paths:
        for frame in frames_of(path):
            tree = collect(frame.tree({"mqtt"}), set(names), False)
            expected = "\t".join([str(frame.number)] + [",".join(tree.get(n, [])) for n in names])
            assert fast.line(frame) == expected, f"{path} frame {frame.number}"
            checked += bool(frame.pdus)
            timed += bool(tree.get("mqtt.time")) and bool(tree.get("mqtt.client"))
    assert checked > 5000, "the generated capture must exercise the fast path"
    assert timed > 1000, "and the session fields (responses with their time, on named clients)"


@pytest.mark.parametrize("sessions", [False, True])
def test_fields_dissector_lines_equal_the_printers(generated: str, sessions: bool) -> None:
    """sniffer.output.summary.FieldsDissector writes the -T fields line of DIRECT_FIELDS without a Frame:
    frame by frame the FieldPrinter's line of the Frame, malformed PDUs and (with the session layer)
    the notes of a connection's end included, with another separator and aggregator too."""
    from sniffer.output.summary import DIRECT_FIELDS, FieldsDissector

    names = ["mqtt.topic", *DIRECT_FIELDS]
    printer = FieldPrinter(names, separator="|", aggregator=";")
    assert printer.direct and not FieldPrinter(names, quote='"').direct
    assert not FieldPrinter(["frame.number", "mqtt.client"]).direct
    paths = [generated, *(str(p) for p in sorted(CORPUS.glob("*.pcap*")))]
    slow = 0
    for path in paths:
        frames = Dissector(sessions=sessions)
        lines = FieldsDissector(frames.ports, names, printer.line, "|", ";", sessions=sessions)
        for no, (ts, data, orig_len, lt) in enumerate(open_capture(path), 1):
            frame = frames.frame(no, ts, lt, data, orig_len)
            assert lines.frame(no, ts, lt, data, orig_len) == printer.line(frame), f"{path} frame {no}"
            slow += frame.malformed or bool(frame.seg is not None and frame.seg.session_notes)
    assert slow >= (100 if sessions else 1), "malformed PDUs (and connection ends) must take the Frame's way"
