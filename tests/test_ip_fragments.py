"""TCP segments carried in IP fragments are reassembled as tshark reassembles them (sniffer.net.ipfrag).

A device stack that clears Don't Fragment behind a link with a smaller MTU (a tunnel, a cellular modem) gets
its segments fragmented by a router; IPv6 senders fragment themselves. tshark reassembles the datagram and
decodes TCP and MQTT in the frame of the fragment that completed it, under a "Reassembled IPv4" data source;
the other fragments stay `Fragmented IP protocol` rows with their bytes as Data. Before, mqttsniff showed every
fragment that way and lost what the segment carried (the next frame read `[TCP Previous segment not captured]`,
the broker's ACK `[TCP ACKed unseen segment]`).

Generated captures (IPv4 and IPv6, fragments in order and out of order, a CONNECT whose password lies in
reassembled bytes, a datagram whose last fragment never came) against tshark field by field; the UI's store
rebuilding such rows as they were loaded; the defragmenter's bounds; and a real router (network namespaces,
nftables) fragmenting paho's traffic to a real mosquitto, captured by tcpdump.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import sniff_out as run
from conftest import tshark_out
from test_lossy_router import routed_capture
from test_tcp_analysis import ANALYSIS, OURS, fields
from test_ui_store_file import _load, _same

from sniffer import source
from sniffer.net import ipfrag
from sniffer.synth import impair
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList
from sniffer.ui.sources import FileSource

PASSWORD = b"fragmented-secret"
MQTT_FIELDS = ["frame.number", "_ws.col.Protocol", "_ws.col.Info", "frame.protocols", "ip.fragment",
               "ip.fragment.count", "ip.reassembled.length", "ip.reassembled.data", "ip.fragments", "ipv6.fragment",
               "ipv6.fragment.count", "ipv6.reassembled.length", "ipv6.fraghdr.offset", "ipv6.fraghdr.ident",
               "ip.frag_offset", "data.len", "data.data", "tcp.stream", "tcp.seq", "tcp.len", "tcp.nxtseq",
               "tcp.pdu.size", "mqtt.msgtype", "mqtt.topic", "mqtt.msgid", "mqtt.len", "mqtt.msg",
               "mqtt.username"]  # fmt: skip


def _flow(sink: FrameList, ipv6: bool) -> None:
    """A client's connection (IPv4 topics dev/..., IPv6 ones v6/...) with every kind of exchange, segments of a
    full MSS among them."""
    client = ("2001:db8::20", 50001) if ipv6 else ("192.168.1.20", 50000)
    server = ("2001:db8::1", 1883) if ipv6 else ("10.0.0.1", 1883)
    v = 5 if ipv6 else 4
    dev = "v6" if ipv6 else "dev"
    f = TcpFlow(sink, client, server, mss=1460 if not ipv6 else 1440)
    t = f.open(1_000_000 if not ipv6 else 2_000_000)
    # a CONNECT long enough to be fragmented: its password lies in the reassembled bytes
    t = f.send(0, E.connect("frag-dev" + "-" * 600, version=v, username="u", password=PASSWORD), t + 1000)
    t = f.send(1, E.connack(version=v), t + 1000)
    t = f.send(0, E.publish(f"{dev}/big", b"x" * 1300, qos=1, msgid=7, version=v), t + 1000)  # 3 fragments
    t = f.send(1, E.puback(7, version=v), t + 1000)
    # 4 KB over three segments, each fragmented: a PDU reassembled from segments reassembled from fragments
    t = f.send(0, E.publish(f"{dev}/huge", bytes(range(256)) * 16, qos=2, msgid=8, version=v), t + 1000)
    t = f.send(1, E.pubrec(8, version=v), t + 1000)
    t = f.send(0, E.pubrel(8, version=v), t + 1000)
    t = f.send(1, E.pubcomp(8, version=v), t + 1000)
    t = f.send(
        0, [E.publish(f"{dev}/small", b"hello", version=v), E.publish(f"{dev}/two", b"y" * 900, version=v)], t + 1000
    )
    t = f.send(0, E.disconnect(version=v), t + 1000)
    f.close(t + 1000)


def capture(path: Path, lose: bool = False) -> Path:
    """IPv4 fragments in order, IPv6 fragments last first; `lose`: without the last fragment of the 1300-byte
    PUBLISH's segment (its datagram never completes: the segment is lost)."""
    v4, v6 = FrameList(), FrameList()
    _flow(v4, False)
    _flow(v6, True)
    frames = impair.fragment(v4.frames_list, 576) + impair.fragment(
        v6.frames_list, 600, order=lambda n: list(reversed(range(n)))
    )
    if lose:
        at = next(i for i, (_ts, fr) in enumerate(frames) if b"x" * 200 in fr)  # the PUBLISH's second fragment
        frames = impair.drop(frames, [at + 1])
    out = FrameList()
    out.frames_list = frames
    out.save(str(path))
    return path


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("frag") / "fragmented.pcap")


def _layers(path: Path, cmd: list[str]) -> list[dict]:
    """-T json's layers (tshark's repeated keys as our arrays: --no-duplicate-keys)."""
    extra = ["--show-secrets"] if cmd == OURS else ["--no-duplicate-keys"]
    out = subprocess.run([*cmd, "-r", str(path), "-T", "json", *extra], capture_output=True, text=True, check=True)
    return [p["_source"]["layers"] for p in json.loads(out.stdout)]


def test_fields_equal_tsharks(fragmented: Path, tshark: str) -> None:
    args = ["-r", str(fragmented), "-T", "fields", *[a for f in MQTT_FIELDS for a in ("-e", f)]]
    ours = run(*args, "--show-secrets").splitlines()  # (the CONNECT's password in ip.reassembled.data)
    assert ours == tshark_out(tshark, *args).splitlines()
    rows = [r.split("\t") for r in ours]
    # the case is there: segments reassembled from fragments in both IP versions, MQTT decoded in them
    v4 = [r for r in rows if r[MQTT_FIELDS.index("ip.fragment.count")]]
    v6 = [r for r in rows if r[MQTT_FIELDS.index("ipv6.fragment.count")]]
    assert len(v4) >= 5 and len(v6) >= 5
    topics = {t for r in rows for t in r[MQTT_FIELDS.index("mqtt.topic")].split(",") if t}
    assert topics == {f"{dev}/{t}" for dev in ("dev", "v6") for t in ("big", "huge", "small", "two")}
    assert sum(r[1] == "IPv4" for r in rows) >= 5  # the fragments before the last: "Fragmented IP protocol"


def test_summary_tree_and_hex_equal_tsharks(fragmented: Path, tshark: str) -> None:
    assert run("-r", str(fragmented)) == tshark_out(tshark, "-r", str(fragmented))
    # every layer below MQTT expanded (MQTT's own fields are compared above; its tree adds the session layer's)
    args = ["-r", str(fragmented), "-V", "-x", "-O", "eth,ip,ipv6,tcp,data"]
    ours, session = [], False
    for ln in run(*args, "--show-secrets").splitlines():  # (less the session layer's "[MQTT session]" item)
        session = ln.startswith("[MQTT session]") or session and ln.startswith(" ")
        if not session:
            ours.append(ln)
    assert ours == tshark_out(tshark, *args).splitlines()
    assert "Reassembled IPv4 (1346 bytes):" in ours and any(ln.startswith("Reassembled IPv6 (") for ln in ours)


def test_json_layers_equal_tsharks(fragmented: Path, tshark: str) -> None:
    ours, theirs = _layers(fragmented, OURS), _layers(fragmented, [tshark])
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True), 1):
        for name in ("ip", "ipv6", "data"):
            assert a.get(name) == b.get(name), (k, name)
        if "tcp" in b:  # (its flags' expert items are listed apart in our JSON, as on every SYN and FIN)
            assert {x: y for x, y in a["tcp"].items() if x != "tcp.flags_tree"} == {
                x: y for x, y in b["tcp"].items() if x != "tcp.flags_tree"
            }, k


def test_a_password_in_reassembled_bytes_is_masked(fragmented: Path) -> None:
    shown = run("-r", str(fragmented), "-V", "-x")
    assert "Reassembled IPv4 (" in shown and PASSWORD.decode() not in shown
    assert PASSWORD.hex(" ")[:23] not in shown and "Password: " in shown
    revealed = run("-r", str(fragmented), "-V", "-x", "--show-secrets")
    assert PASSWORD.decode() in revealed


def test_a_datagram_that_never_completes_loses_its_segment_as_tshark_does(tmp_path: Path, tshark: str) -> None:
    lossy = capture(tmp_path / "lost.pcap", lose=True)
    names = ("_ws.col.Info",)
    # the TCP frames, analysis notes included, as tshark's (MQTT rows after a loss: the README's differences)
    assert fields(OURS, lossy, names, "-Y", "!mqtt") == fields([tshark], lossy, names, "-Y", "!mqtt")
    info = run("-r", str(lossy))
    assert "Fragmented IP protocol (proto=TCP 6, off=0, ID=" in info and "[TCP Previous segment not captured]" in info
    assert "dev/big" not in info and "dev/huge" in info  # the lost PUBLISH is gone, the next one decoded


def test_the_ui_store_rebuilds_reassembled_rows_as_loaded(fragmented: Path) -> None:
    """A reassembled row needs frames outside its TCP stream: it keeps its context, its stream gets a checkpoint
    right after it, and every row read from the file in any order is the frame the load made."""
    copied = _load(source.FileSource(str(fragmented), exact=True))
    for batch in (2, 5, 2000):
        src = FileSource(str(fragmented))
        src.batch_size = batch
        offsets = _load(src)
        n = copied.count
        assert offsets.count == n
        reassembled = [i for i in range(n) if copied.frame(i).seg is not None and copied.frame(i).seg.ipfrag]
        assert len(reassembled) >= 10 and not any(offsets.is_file_row(i) for i in reassembled)
        if batch == 2:  # (checkpoints after batches of 2 frames: the other rows are read from the file)
            assert sum(offsets.is_file_row(i) for i in range(n)) > n // 2
        _same(copied, offsets, reversed(range(n)), (batch, "backwards"))
        _same(copied, offsets, random.Random(batch).sample(range(n), n), (batch, "random"))


def test_the_defragmenter_is_bounded() -> None:
    """A datagram waits TIMEOUT seconds of capture time at most; what waits is at most MAX_HELD bytes (the
    oldest go first); a copy of a fragment changes nothing; a fragment past 64 KiB is not taken."""
    v4 = FrameList()
    f = TcpFlow(v4, ("10.1.1.1", 40000), ("10.1.1.2", 1883))
    t = f.open(1_000_000)
    f.send(0, E.publish("a/b", b"z" * 1400), t + 1000)
    frames = impair.fragment(v4.frames_list, 576)
    parts = [fr for _ts, fr in frames if len(fr) > 100 and fr[20] & 0x3F | fr[21]]  # the fragments (MF or offset)
    assert len(parts) == 3

    def feed(d: ipfrag.Defragmenter, pieces: list[bytes], t0: float = 0.0, step: float = 0.0):
        return [d.add(k, t0 + k * step, 1, p) for k, p in enumerate(pieces, 1)]

    got = feed(ipfrag.Defragmenter(), parts)
    assert (
        got[:2] == [None, None] and got[2] is not None and got[2].parts == [(1, 0, 552), (2, 552, 552), (3, 1104, 336)]
    )
    whole = got[2].payload
    assert feed(ipfrag.Defragmenter(), [parts[0], parts[0], parts[2], parts[1]])[-1].payload == whole  # a copy
    late = feed(ipfrag.Defragmenter(), parts, step=ipfrag.TIMEOUT / 1.5)  # the last one 2 × TIMEOUT / 1.5 later
    assert late == [None, None, None]
    d = ipfrag.Defragmenter()
    feed(d, parts[:2])
    assert d.held == 1104
    d.add(9, 0.0, 1, parts[0][:18] + b"\x77\x77" + parts[0][20:])  # an IP id of its own, waiting too
    bomb = bytearray(parts[1])
    bomb[20:22] = (0x1FFF).to_bytes(2, "big")  # offset 65528: past the largest datagram
    assert d.add(10, 0.0, 1, bytes(bomb)) is None and d.held == 1104 + 552 and len(d.waiting) == 2
    many = ipfrag.Defragmenter()
    for k in range(ipfrag.MAX_HELD // 552 + 50):  # as many first fragments as fit, each of its own datagram
        p = bytearray(parts[0])
        p[18:20] = (k % 65536).to_bytes(2, "big")
        p[26:30] = (k // 65536 + 1).to_bytes(4, "big")  # (and its own source address past 65,536 ids)
        many.add(k, 0.0, 1, bytes(p))
    assert many.held <= ipfrag.MAX_HELD and len(many.waiting) < ipfrag.MAX_HELD // 552 + 50


@pytest.fixture(scope="module")
def router_fragments(tmp_path_factory: pytest.TempPathFactory, root: None) -> Iterator[Path]:
    """Real routers fragmenting: clients and mosquitto on links of MTU 1500 (an MSS of 1460 each way), a link of
    MTU 1000 between two routers on the path, both ends leaving Don't Fragment clear (no path MTU discovery, as
    many device stacks): every full segment, both ways, arrives in two fragments."""
    yield from routed_capture(
        tmp_path_factory.mktemp("fragrouter"), [], narrow=1000, sysctls=("net.ipv4.ip_no_pmtu_disc=1",), live=True
    )


def test_a_real_router_s_fragments_decode_as_tsharks(router_fragments: Path, tshark: str) -> None:
    theirs = fields([tshark], router_fragments, ANALYSIS)
    assert fields(OURS, router_fragments, ANALYSIS) == theirs
    names = ("ip.fragment.count", "ip.reassembled.length", "mqtt.msgtype", "mqtt.topic", "mqtt.msgid", "tcp.len")
    rows = fields(OURS, router_fragments, names)
    assert rows == fields([tshark], router_fragments, names)
    info = ("_ws.col.Info",)  # (MQTT rows: tshark puts TCP's analysis notes first, the README's differences)
    assert fields(OURS, router_fragments, info, "-Y", "!mqtt") == fields(
        [tshark], router_fragments, info, "-Y", "!mqtt"
    )
    split = [r.split("\t") for r in rows]
    assert sum(1 for r in split if r[1]) >= 50  # segments reassembled from fragments: the case is there
    types = [t for r in split for t in r[3].split(",") if t]
    # every PUBLISH both ways and every PUBREL, unless tcpdump missed a frame on a loaded machine (then tshark
    # says a segment was not captured, and the PDUs above are the same in both, as compared above)
    holes = sum(1 for r in theirs if r.split("\t")[ANALYSIS.index("tcp.analysis.lost_segment") + 1])
    assert holes or types.count("3") == 600 and types.count("6") == 100, (holes, types.count("3"))
    assert types.count("3") >= 570
    clients = subprocess.run([*OURS, "-r", str(router_fragments), "-q", "-z", "mqtt,clients"], capture_output=True,
                             text=True)  # fmt: skip
    assert clients.stdout.count("ended: DISCONNECT by client") == 2, clients.stdout


def test_a_live_capture_takes_the_fragments_and_decodes_them(router_fragments: Path) -> None:
    """mqttsniff -i beside tcpdump, its default capture filter: every frame tcpdump kept (fragments after the
    first carry no port: `tcp port 1883` alone would have lost them), and its live summary is its file's."""
    from sniffer.net.pcapfile import open_capture

    work = router_fragments.parent
    assert (work / "live.rc").read_text() == "0"
    ours = Counter((data, orig) for _ts, data, orig, _lt in open_capture(str(work / "live.pcapng")))
    theirs = Counter((data, orig) for _ts, data, orig, _lt in open_capture(str(router_fragments)))
    assert not theirs - ours  # (tcpdump may miss a few on a loaded machine: then ours has more)
    later = sum(n for (data, _orig), n in ours.items() if data[14] == 0x45 and data[20] & 0x1F | data[21])
    assert later >= 50  # fragments with an offset: no port in them
    live = (work / "live.txt").read_text()
    assert live == run("-r", str(work / "live.pcapng"))
    assert live.count("Publish Message") >= 570 and live.count("Fragmented IP protocol") >= 50
