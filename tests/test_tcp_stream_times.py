"""tcp.time_relative and tcp.time_delta (tshark's [Timestamps] under TCP, on by default in tshark 4): the time
since the stream's first frame and since its previous one, to the nanosecond, in -T fields, -V, JSON, -Y and the
UI's tree, compared with tshark on every public capture, a nanosecond capture with a frame out of order, captures
cut by a short snapshot length and one with lost frames."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import CORPUS, REPO, tshark_out
from conftest import sniff_out as run
from test_nanosecond_times import ns_pcap

FIELDS = ("-T", "fields", "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.time_relative", "-e", "tcp.time_delta")
TIMES = re.compile(r"^\s+(\[Timestamps\]|\[Time since (first|previous) frame in this TCP stream: .*)$", re.M)
DEMO = REPO / "sniffer" / "data" / "demo.pcap"


def captures(tmp_path: Path, tshark: str) -> list[Path]:
    """The public captures, the demo, a nanosecond capture, two cut by a snapshot length, one with frames lost."""
    out = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng"))
    out += [DEMO, ns_pcap(tmp_path / "ns.pcap")]
    editcap = Path(tshark).with_name("editcap")
    src = CORPUS / "mqtt5_publish-35KB-jpeg_multisegment__suricata-verify.pcap"
    for snap in (60, 100):
        subprocess.run([editcap, "-s", str(snap), str(src), str(tmp_path / f"cut{snap}.pcap")], check=True)
        out.append(tmp_path / f"cut{snap}.pcap")
    subprocess.run([editcap, str(src), str(tmp_path / "lost.pcap"), "5", "9", "12"], check=True)
    return [*out, tmp_path / "lost.pcap"]


def test_stream_times_equal_tsharks(tmp_path: Path, tshark: str) -> None:
    checked = 0
    for path in captures(tmp_path, tshark):
        ours = run("-r", str(path), *FIELDS).splitlines()
        assert ours == tshark_out(tshark, "-r", str(path), *FIELDS).splitlines(), path.name
        assert TIMES.findall(run("-r", str(path), "-V")) == TIMES.findall(tshark_out(tshark, "-r", str(path), "-V"))
        checked += sum(1 for ln in ours if ln.split("\t")[2])
    assert checked > 300
    # JSON keys the subtree as tshark does, and a filter sees the exact value
    ours = json.loads(run("-r", str(DEMO), "-c", "3", "-T", "json"))
    theirs = json.loads(tshark_out(tshark, "-r", str(DEMO), "-c", "3", "-T", "json"))
    assert [p["_source"]["layers"]["tcp"]["Timestamps"] for p in ours] == [
        p["_source"]["layers"]["tcp"]["Timestamps"] for p in theirs
    ]
    path = tmp_path / "ns.pcap"
    delta = run("-r", str(path), "-T", "fields", "-e", "tcp.time_delta").split()[5]
    args = ("-r", str(path), "-Y", f"tcp.time_delta == {delta}", "-T", "fields", "-e", "frame.number")
    assert run(*args).split() == tshark_out(tshark, *args).split() != []


def _stamped(tree: list) -> list[str]:
    """The [Timestamps] lines of a frame's tree."""
    tcp = next((t for t in tree if t.text.startswith("Transmission Control Protocol")), None)
    node = next((c for c in tcp.children if c.text == "[Timestamps]"), None) if tcp is not None else None
    return [] if node is None else ["[Timestamps]", *(c.text for c in node.children)]


def test_the_ui_tree_shows_the_stream_times(tmp_path: Path, tshark: str) -> None:
    """The UI rebuilds a frame from its file offset and its stream's checkpoint: the tree's [Timestamps] are
    tshark's, to the nanosecond, last frame first (each rebuilt from its stream's checkpoint)."""
    from sniffer.pipeline import Dissector
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.sources import FileSource
    from tests.ui_helpers import run as run_ui
    from tests.ui_helpers import settle

    path = ns_pcap(tmp_path / "ns.pcap")
    want = [m[0] for m in TIMES.findall(tshark_out(tshark, "-r", str(path), "-V"))]
    n = len(run("-r", str(path)).splitlines())

    async def go() -> None:
        app = SnifferApp(FileSource(str(path)), Dissector())
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, n)
            got = {row: _stamped(app.store.frame(row).tree()) for row in reversed(range(n))}
            assert [ln for row in range(n) for ln in got[row]] == want and len(want) == 3 * n

    run_ui(go())


def test_a_bounded_live_ui_counts_stream_times_across_its_stores(tmp_path: Path, tshark: str) -> None:
    """A live capture in a bounded UI (--keep-frames): frames go to the spill, stores follow one another and carry
    the streams' checkpoints; every kept frame's [Timestamps] are tshark's."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource
    from tests.test_ui_keep_frames import _load

    path = ns_pcap(tmp_path / "ns.pcap")
    want = [m[0] for m in TIMES.findall(tshark_out(tshark, "-r", str(path), "-V"))]
    reader = open_capture(str(path))
    reader.exact = True
    recs = [(r[0], bytes(r[1]), r[2], r[3], reader.ticks, reader.tsresol) for r in reader]
    src = MemorySource(None, live=True)
    src.exact_stamps = True  # (as a live capture's: the kernel's ns)
    for k in range(0, len(recs), 2):
        src.push(recs[k : k + 2])
    src.finish()
    _last, stores = _load(src, keep=4)
    assert len(stores) > 2
    got: dict[int, list[str]] = {}
    for st in stores:  # (a store begins with copies of the last rows of the one before)
        for row in range(st.count):
            lines = _stamped(st.frame(row).tree())
            assert got.setdefault(st.number(row), lines) == lines
    assert [ln for k in sorted(got) for ln in got[k]] == want and len(want) == 3 * len(recs)
