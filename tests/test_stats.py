"""Statistics (-z mqtt,clients / mqtt,topics / mqtt,latency / expert), -q and the two-pass -2.

Every expected number is computed here, independently of mqttsniff, from tshark's `-T fields`
output on the same capture (frame times, streams, ports, message types and ids, topics), or from
tshark's own `-z expert`; the captures are generated with sniffer.synth (known content) or are
the public ones in tests/captures.
"""

from __future__ import annotations

import math
import re
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import CORPUS, REPO

from sniffer.filter.topic import compile_topic_filter
from sniffer.synth import impair
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList, PcapWriter

T0 = 1_700_000_000_000_000
BROKER = 1883


def mqttsniff(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", *args], capture_output=True, input=stdin, cwd=REPO, timeout=120
    )
    res.stdout, res.stderr = res.stdout.decode(), res.stderr.decode()  # type: ignore[assignment]
    return res


def save(frames: list[tuple[int, bytes]], path: Path) -> str:
    with PcapWriter(str(path)) as w:
        for ts, fr in sorted(frames, key=lambda x: x[0]):
            w.write(ts, fr)
    return str(path)


def scenario(path: Path) -> str:
    """Three connections: a publisher (QoS 0/1/2, retained, one message never acknowledged, a ping,
    DISCONNECT), a subscriber that receives the QoS 1 message and resets without DISCONNECT, and
    the publisher's second connection, still open at the end."""
    fl = FrameList()
    pub = TcpFlow(fl, client=("192.168.1.20", 50000))
    t = pub.open(T0)
    t = pub.send(0, E.connect("pub-1", keepalive=30), t + 1000, ack=False)
    t = pub.send(1, E.connack(), t + 3000)
    sub = TcpFlow(fl, client=("192.168.1.21", 50001))
    s = sub.open(t + 500)
    s = sub.send(0, E.connect("sub-1", keepalive=10), s + 1000, ack=False)
    s = sub.send(1, E.connack(), s + 2500)
    s = sub.send(0, E.subscribe(1, [("home/+/temp", 1), ("home/garage/#", 0)]), s + 1000, ack=False)
    s = sub.send(1, E.suback(1, [1, 0]), s + 4100)
    s = sub.send(0, E.unsubscribe(2, ["old/topic"]), s + 1000, ack=False)
    s = sub.send(1, E.unsuback(2), s + 3300)
    t = max(t, s) + 10_000
    t = pub.send(0, E.publish("home/kitchen/temp", b"21.5", qos=1, msgid=1), t, ack=False)
    d = sub.send(1, E.publish("home/kitchen/temp", b"21.5", qos=1, msgid=7), t + 800, ack=False)
    sub.send(0, E.puback(7), d + 1900)
    t = pub.send(1, E.puback(1), t + 5200)
    t = pub.send(0, E.publish("home/kitchen/hum", b"48 percent", qos=2, msgid=2), t + 10_000, ack=False)
    t = pub.send(1, E.pubrec(2), t + 6100, ack=False)
    t = pub.send(0, E.pubrel(2), t + 1300, ack=False)
    t = pub.send(1, E.pubcomp(2), t + 7300)
    t = pub.send(0, E.publish("home/garage/door", b"open", retain=True), t + 10_000)
    t = pub.send(0, E.publish("home/garage/door", b"closed!", retain=True), t + 10_000)
    t = pub.send(0, E.publish("home/kitchen/temp", b"22.0", qos=1, msgid=3), t + 10_000)  # never acknowledged
    t = pub.send(0, E.pingreq(), t + 10_000, ack=False)
    t = pub.send(1, E.pingresp(), t + 900)
    t = pub.send(0, E.disconnect(), t + 10_000)
    t = pub.close(t + 1000)
    t = sub.reset(t + 20_000)
    again = TcpFlow(fl, client=("192.168.1.20", 50002))
    t = again.open(t + 50_000)
    t = again.send(0, E.connect("pub-1", keepalive=45), t + 1000, ack=False)
    t = again.send(1, E.connack(), t + 2000)
    t = again.send(0, E.publish("office/light", b"on"), t + 10_000)
    return save(fl.frames_list, path)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    return scenario(tmp_path_factory.mktemp("stats") / "scenario.pcap")


# ---- the reference: tshark's fields, paired here -----------------------------------------------


class Pdu:
    def __init__(self, frame: int, ts: Decimal, stream: int, d: int, mtype: int, msgid: int, qos: int) -> None:
        self.frame, self.ts, self.stream, self.d = frame, ts, stream, d
        self.mtype, self.msgid, self.qos = mtype, msgid, qos
        self.topic, self.retain, self.msg_len, self.client, self.size = "", False, 0, "", 0
        self.filters: list[str] = []


def _flat(obj: object, out: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every field of a tshark JSON object (kept as (key, value) pairs: names repeat) in order."""
    for key, value in obj:  # type: ignore[attr-defined]
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            _flat(value, out)
        elif isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def tshark_pdus(tshark: str, path: str) -> list[Pdu]:
    """One Pdu per MQTT PDU, from tshark's JSON (several PDUs of one frame kept apart)."""
    import json

    out = subprocess.run([tshark, "-r", path, "-Y", "mqtt", "-T", "json", "-J", "frame tcp mqtt"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    pdus = []
    for pkt in json.loads(out, object_pairs_hook=list):
        layers = dict(dict(pkt)["_source"])["layers"]
        frame = _flat([(k, v) for k, v in layers if k == "frame"], {})
        tcp = _flat([(k, v) for k, v in layers if k == "tcp"], {})
        for key, mqtt in layers:
            if key != "mqtt":
                continue
            f = _flat(mqtt, {})

            def one(name: str, default: str = "", f: dict[str, list[str]] = f) -> str:
                return f.get(name, [default])[0]

            d = 0 if int(tcp["tcp.srcport"][0]) != BROKER else 1
            qos = int(one("mqtt.qos", "0"))
            p = Pdu(int(frame["frame.number"][0]), Decimal(frame["frame.time_epoch"][0]), int(tcp["tcp.stream"][0]), d,
                    int(one("mqtt.msgtype")), int(one("mqtt.msgid", "-1")), qos)  # fmt: skip
            if p.mtype == 3:
                p.topic, p.retain = one("mqtt.topic"), one("mqtt.retain") in ("1", "True")
                p.msg_len = len(one("mqtt.msg").split(":")) if one("mqtt.msg") else 0
            elif p.mtype == 8:
                p.filters = f.get("mqtt.topic", [])
            p.client = one("mqtt.clientid")
            n = int(one("mqtt.len"))
            p.size = 1 + (1 if n < 128 else 2 if n < 16384 else 3) + n
            pdus.append(p)
    return pdus


def pairs(pdus: list[Pdu]) -> dict[str, list[tuple[Pdu, Pdu]]]:
    """(request, response) pairs by the MQTT rules, per stream: ids for the flows, order for pings."""
    out: dict[str, list[tuple[Pdu, Pdu]]] = {k: [] for k in ("CONNECT", "Q1", "Q2", "REC", "FLOW", "PUBREL",
                                                              "SUB", "UNSUB", "PING")}  # fmt: skip
    waiting: dict[tuple, Pdu] = {}
    pings: dict[int, list[Pdu]] = {}
    for p in pdus:
        s, t = p.stream, p.mtype
        if t == 1:
            waiting[(s, "c")] = p
        elif t == 2 and (s, "c") in waiting:
            out["CONNECT"].append((waiting.pop((s, "c")), p))
        elif t == 3 and p.qos:
            waiting[(s, p.d, p.msgid)] = p
        elif t in (4, 5) and (s, 1 - p.d, p.msgid) in waiting:
            req = waiting.pop((s, 1 - p.d, p.msgid))
            out["Q1" if t == 4 else "Q2"].append((req, p))
            if t == 5:
                waiting[(s, "flow", 1 - p.d, p.msgid)] = req
                waiting[(s, "rec", p.d, p.msgid)] = p
        elif t == 6:
            waiting[(s, "rel", p.d, p.msgid)] = p
            if (s, "rec", 1 - p.d, p.msgid) in waiting:
                out["REC"].append((waiting.pop((s, "rec", 1 - p.d, p.msgid)), p))
        elif t == 7 and (s, "rel", 1 - p.d, p.msgid) in waiting:
            out["PUBREL"].append((waiting.pop((s, "rel", 1 - p.d, p.msgid)), p))
            out["FLOW"].append((waiting.pop((s, "flow", 1 - p.d, p.msgid)), p))
        elif t in (8, 10):
            waiting[(s, t, p.msgid)] = p
        elif t in (9, 11) and (s, t - 1, p.msgid) in waiting:
            out["SUB" if t == 9 else "UNSUB"].append((waiting.pop((s, t - 1, p.msgid)), p))
        elif t == 12:
            pings.setdefault(s, []).append(p)
        elif t == 13 and pings.get(s):
            out["PING"].append((pings[s].pop(0), p))
    return out


def nearest_rank(v: list[Decimal], pct: int) -> Decimal:
    return sorted(v)[max(math.ceil(pct / 100 * len(v)), 1) - 1]


def block(out: str, title: str) -> list[str]:
    """The lines of the block titled `title` (between its header and its closing ruler)."""
    lines = out.splitlines()
    i = lines.index(title)
    assert lines[i - 1] == "=" * 80 and lines[i + 1] == "Filter:<No Filter>"
    end = lines.index("=" * 80, i)
    return lines[i + 2 : end]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def close_to(printed: str, expected: Decimal) -> bool:
    return abs(Decimal(printed) - expected) <= Decimal("0.000001")


# ---- -z mqtt,latency -------------------------------------------------------------------------

LATENCY_ROWS = {
    "CONNECT": "CONNECT",
    "PUBLISH QoS 1": "Q1",
    "PUBLISH QoS 2 (PUBREC)": "Q2",
    "PUBLISH QoS 2 (whole flow)": "FLOW",
    "PUBREL": "PUBREL",
    "SUBSCRIBE": "SUB",
    "UNSUBSCRIBE": "UNSUB",
    "PINGREQ": "PING",
}


def check_latency(tshark: str, path: str) -> int:
    res = mqttsniff("-r", path, "-q", "-z", "mqtt,latency")
    assert res.returncode == 0, res.stderr
    rows = {cells(x)[0]: cells(x)[1:] for x in block(res.stdout, "MQTT Response Times (seconds, request to "
                                                                   "response: mqtt.time)")[1:]}  # fmt: skip
    assert list(rows) == [*LATENCY_ROWS, "AUTH"]
    ref = pairs(tshark_pdus(tshark, path))
    seen = 0
    for title, key in LATENCY_ROWS.items():
        times = [resp.ts - req.ts for req, resp in ref[key]]
        count, lo, med, p95, p99, hi = rows[title]
        assert int(count) == len(times), title
        if not times:
            assert (lo, med, hi) == ("-", "-", "-")
            continue
        seen += 1
        med_ref = Decimal(statistics.median(times))
        for printed, want in ((lo, min(times)), (med, med_ref), (p95, nearest_rank(times, 95)),
                              (p99, nearest_rank(times, 99)), (hi, max(times))):  # fmt: skip
            assert close_to(printed, want), (title, printed, want)
    return seen


def test_latency_on_generated_capture(tshark: str, capture: str) -> None:
    assert check_latency(tshark, capture) == 8  # every row but AUTH


@pytest.mark.parametrize(
    "name",
    [
        "mqtt31_publish-qos2_mosquitto_ipv6__suricata-verify.pcap",
        "mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap",
        "mqtt31_paho-python_pubsub-retain-ping__zeek.pcap",
    ],
)
def test_latency_on_public_captures(tshark: str, name: str) -> None:
    assert check_latency(tshark, str(CORPUS / name)) >= 2


# ---- -z mqtt,clients -------------------------------------------------------------------------


def test_clients(tshark: str, capture: str) -> None:
    res = mqttsniff("-r", capture, "-q", "-z", "mqtt,clients")
    assert res.returncode == 0, res.stderr
    lines = block(res.stdout, "MQTT Clients")
    head = lines.index(next(x for x in lines if x.startswith("Client ID")))
    clients: dict[str, list[str]] = {}
    conns: dict[str, list[str]] = {}
    current = ""
    for line in lines[head + 1 :]:
        if line.startswith("  "):
            conns.setdefault(current, []).append(line.strip())
        else:
            current = cells(line)[0]
            clients[current] = cells(line)[1:]
    pdus = tshark_pdus(tshark, capture)
    client_of = {p.stream: p.client for p in pdus if p.mtype == 1}
    assert sorted(clients) == sorted(set(client_of.values())) == ["pub-1", "sub-1"]
    ref = pairs(pdus)
    for client, row in clients.items():
        mine = [p for p in pdus if client_of[p.stream] == client]
        connects = sum(p.mtype == 1 for p in mine)
        each_way = [
            str(n) for d in (0, 1) for n in (sum(p.d == d for p in mine), sum(p.size for p in mine if p.d == d))
        ]
        acked = {(req.stream, req.d, req.msgid) for k in ("Q1", "Q2") for req, _ in ref[k]}
        unacked = sum(1 for p in mine if p.mtype == 3 and p.qos and (p.stream, p.d, p.msgid) not in acked)
        acks = sorted(resp.ts - req.ts for k in ("Q1", "Q2") for req, resp in ref[k] if client_of[req.stream] == client)
        assert row[:6] == [str(connects), each_way[0], each_way[1], each_way[2], each_way[3], str(unacked)], client
        assert close_to(row[6], acks[0]) and close_to(row[7], Decimal(statistics.median(acks)))
        assert close_to(row[8], acks[-1])
    assert clients["pub-1"][:1] == ["2"] and clients["pub-1"][5] == "1"  # two connects, msgid 3 never acked
    # how each connection ended, with its address and keep-alive
    assert conns["pub-1"][0].startswith("192.168.1.20:50000  MQTT 3.1.1  keep-alive 30 s")
    assert conns["pub-1"][0].endswith("ended: DISCONNECT by client")
    assert conns["pub-1"][1].startswith("192.168.1.20:50002  MQTT 3.1.1  keep-alive 45 s")
    assert conns["pub-1"][1].endswith("ended: still open at the end")
    assert conns["sub-1"] == [conns["sub-1"][0]] and conns["sub-1"][0].endswith("RST by client without DISCONNECT")


# ---- -z mqtt,topics --------------------------------------------------------------------------


def test_topics(tshark: str, capture: str) -> None:
    res = mqttsniff("-r", capture, "-q", "-z", "mqtt,topics")
    assert res.returncode == 0, res.stderr
    lines = block(res.stdout, "MQTT Topics")
    head = next(i for i, x in enumerate(lines) if x.startswith("Topic "))
    # rebuild each node's full topic from the indentation
    got: dict[str, list[str]] = {}
    path: list[str] = []
    for line in lines[head + 1 :]:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        c = cells(line)
        path[depth:] = [c[0]]
        got["/".join(path)] = c[1:]
    pdus = tshark_pdus(tshark, capture)
    publishes = [p for p in pdus if p.mtype == 3]
    client_of = {p.stream: p.client for p in pdus if p.mtype == 1}
    subs = {client_of[p.stream]: p.filters for p in pdus if p.mtype == 8}
    times = sorted(p.ts for p in pdus)
    all_frames = subprocess.run([tshark, "-r", capture, "-T", "fields", "-e", "frame.time_epoch"], capture_output=True,
                                text=True, check=True).stdout.split()  # fmt: skip
    duration = Decimal(all_frames[-1]) - Decimal(all_frames[0])
    assert times
    expected_nodes = {"/".join(p.topic.split("/")[: i + 1]) for p in publishes for i in range(p.topic.count("/") + 1)}
    assert set(got) == expected_nodes
    for node, row in got.items():
        under = [p for p in publishes if p.topic == node or p.topic.startswith(node + "/")]
        count, size, rate, retained = row[:4]
        assert int(count) == len(under), node
        assert int(size) == sum(p.msg_len for p in under), node
        assert abs(Decimal(rate) - len(under) / duration) < Decimal("0.0001"), node
        assert int(retained) == sum(p.retain for p in under), node
        own = [p for p in publishes if p.topic == node]
        if own:
            pubs = sorted({client_of[p.stream] for p in own if p.d == 0})
            matching = sorted(c for c, fl in subs.items() if any(compile_topic_filter(f)(node) for f in fl))
            want = [", ".join(pubs)] if pubs else []
            want += [", ".join(matching)] if matching else []
            assert row[4:] == want, node
    assert got["home/kitchen/temp"][4:] == ["pub-1", "sub-1"]
    assert got["home/garage/door"][3:] == ["2", "pub-1", "sub-1"]


# ---- -z expert -------------------------------------------------------------------------------


def expert_counts(out: str) -> dict[tuple[str, str, str, str], int]:
    """(severity block, group, protocol, summary) -> frequency, from tshark's -z expert layout."""
    counts: dict[tuple[str, str, str, str], int] = {}
    sev = ""
    for line in out.splitlines():
        m = re.fullmatch(r"(Errors|Warns|Notes|Chats|Comments) \(\d+\)", line)
        if m:
            sev = m.group(1)
        elif line.startswith("Notes by frame"):
            sev = ""
        elif sev:
            m = re.fullmatch(r"\s*(\d+)\s+(\S+)\s+(\S+)  (.*)", line)
            if m:
                counts[(sev, m.group(2), m.group(3), m.group(4))] = int(m.group(1))
    return counts


TCP_SUMMARIES = {
    "This frame is a (suspected) retransmission",
    "This frame is a (suspected) spurious retransmission",
    "This frame is a (suspected) out-of-order segment",
    "Previous segment(s) not captured (common at capture start)",
    "ACKed segment that wasn't captured (common at capture start)",
    "TCP window update",
    "TCP window specified by the receiver is now completely full",
    "TCP keep-alive segment",
    "TCP Zero Window segment",
}


TCP_ANALYSIS_NAMES = ("retransmission", "spurious_retransmission", "out_of_order", "lost_segment", "ack_lost_segment",
                      "window_update", "window_full", "keep_alive", "zero_window")  # fmt: skip


def lossy(path: Path) -> str:
    """A publisher whose capture lost two data segments."""
    fl = FrameList()
    f = TcpFlow(fl)
    t = f.open(T0)
    t = f.send(0, E.connect("lossy"), t + 1000, ack=False)
    t = f.send(1, E.connack(), t + 1000)
    for i in range(12):
        t = f.send(0, E.publish(f"s/{i}", b"y" * 300), t + 5000)
    f.close(t + 1000)
    frames = fl.frames_list
    data = impair.data_frames(frames, sport=50000)
    # (not data[8]: its ACK then precedes the next data segment, and reassembly.py flags that ACK
    # "ACKed unseen" where tshark 4.0 does not; the premise here is that both flag the same frames)
    frames = impair.drop(frames, [data[4]])
    return save(frames, path)


def closes(path: Path) -> str:
    """Two connections: one the broker closes (FIN, the client's FIN after it), one the client resets."""
    fl = FrameList()
    t = T0
    for port, how in ((50001, "fin"), (50002, "rst")):
        f = TcpFlow(fl, ("10.0.0.1", port), ("10.0.0.2", 1883))
        t = f.open(t)
        t = f.send(0, E.connect(f"c{port}"), t + 1000)
        t = f.send(1, E.connack(), t + 1000)
        t = f.close(t + 1000, side=1) if how == "fin" else f.reset(t + 1000, side=0)
    return save(fl.frames_list, path)


@pytest.mark.parametrize(
    "name",
    [
        "mqtt311_invalid_publish-qos3__suricata-verify.pcap",
        "mqtt311_publish-100KB-both-directions__suricata-verify.pcap",
        "lossy",
        "closes",
    ],
)
def test_expert_tcp_counts_agree_with_tshark(tshark: str, tmp_path: Path, name: str) -> None:
    if name == "closes":
        path = closes(tmp_path / "closes.pcap")
        tcp_notes = mqttsniff("-r", path, "-T", "fields", "-e", "_ws.expert.message").stdout
        assert "Connection reset (RST)" in tcp_notes and "This frame undergoes the connection closing" in tcp_notes
    else:
        path = lossy(tmp_path / "lossy.pcap") if name == "lossy" else str(CORPUS / name)
    flags = [
        "-T",
        "fields",
        "-e",
        "frame.number",
        *[x for n in TCP_ANALYSIS_NAMES for x in ("-e", f"tcp.analysis.{n}")],
    ]
    per_frame = mqttsniff("-r", path, *flags).stdout
    assert per_frame == subprocess.run([tshark, "-r", path, *flags], capture_output=True, text=True).stdout
    ours = expert_counts(mqttsniff("-r", path, "-q", "-z", "expert").stdout)
    theirs = expert_counts(subprocess.run([tshark, "-r", path, "-q", "-z", "expert"], capture_output=True, text=True,
                                          check=True).stdout)  # fmt: skip
    ours_tcp = {k: n for k, n in ours.items() if k[2] == "TCP"}
    theirs_tcp = {k: n for k, n in theirs.items() if k[2] == "TCP"}
    assert name == "closes" or any(k[3] in TCP_SUMMARIES for k in theirs_tcp), "it must hold TCP analysis notes"
    # every TCP note, the connection's start and end too (SYN, SYN+ACK, FIN, RST, who closes)
    assert ours_tcp == theirs_tcp


def test_expert_lists_every_note_with_its_frame(tshark: str, capture: str) -> None:
    res = mqttsniff("-r", capture, "-q", "-z", "expert")
    assert res.returncode == 0, res.stderr
    counts = expert_counts(res.stdout)
    # the subscriber's reset: the session's note, on the RST frame tshark finds
    rst = subprocess.run([tshark, "-r", capture, "-Y", "tcp.flags.reset == 1", "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(rst) == 1
    assert counts[("Warns", "Sequence", "MQTT", "Connection closed without DISCONNECT")] == 1
    notes = block(res.stdout, "Expert Information")
    listing = notes[notes.index(next(x for x in notes if x.startswith("Notes by frame"))) + 3 :]
    assert sum(counts.values()) == len(listing)
    assert any(cells(x)[:4] == [rst[0], "Warning", "Sequence", "MQTT"] and "without DISCONNECT" in x for x in listing)
    # the never acknowledged QoS 1 message is named on the close of the publisher's connection
    assert any("1 QoS 1/2 messages unacknowledged" in x for x in listing)


# ---- several -z, -q, bad -z ------------------------------------------------------------------


def test_several_blocks_in_order_after_the_packets(capture: str) -> None:
    plain = mqttsniff("-r", capture)
    res = mqttsniff("-r", capture, "-z", "expert", "-z", "mqtt,clients", "-z", "mqtt,topics")
    assert res.returncode == 0, res.stderr
    n = len(plain.stdout.splitlines())
    assert res.stdout.splitlines()[:n] == plain.stdout.splitlines()  # the packets first, unchanged
    rest = res.stdout.splitlines()[n:]
    head = ["Filter:<No Filter>"]
    titles = [rest[i + 1] for i, x in enumerate(rest[:-1]) if x == "=" * 80 and rest[i + 2 : i + 3] == head]
    assert titles == ["Expert Information", "MQTT Clients", "MQTT Topics"]
    quiet = mqttsniff("-r", capture, "-q", "-z", "expert", "-z", "mqtt,clients", "-z", "mqtt,topics")
    assert quiet.stdout.splitlines() == rest  # -q: the statistics only
    assert mqttsniff("-r", capture, "-q").stdout == ""  # -q alone prints nothing, as tshark's
    # and no packets in any format (tshark's -q would still print these)
    for fmt in (
        ["-V"],
        ["-x"],
        ["-T", "json"],
        ["-T", "ndjson"],
        ["-T", "fields", "-e", "frame.number", "-E", "header=y"],
    ):
        res = mqttsniff("-r", capture, *fmt, "-q", "-z", "expert", "-z", "mqtt,clients", "-z", "mqtt,topics")
        assert res.returncode == 0 and res.stdout.splitlines() == rest, fmt


def test_statistics_from_stdin_and_with_other_outputs(capture: str) -> None:
    want = mqttsniff("-r", capture, "-q", "-z", "mqtt,clients", "-z", "mqtt,latency").stdout
    data = Path(capture).read_bytes()
    assert mqttsniff("-r", "-", "-q", "-z", "mqtt,clients", "-z", "mqtt,latency", stdin=data).stdout == want
    # after the lines of another output, unchanged
    latency = mqttsniff("-r", capture, "-q", "-z", "mqtt,latency").stdout
    numbers = mqttsniff("-r", capture, "-T", "fields", "-e", "frame.number").stdout
    both = mqttsniff("-r", capture, "-T", "fields", "-e", "frame.number", "-z", "mqtt,latency").stdout
    assert both == numbers + latency and numbers.startswith("1\n")


def test_unknown_statistic_is_one_line_and_exit_2(capture: str) -> None:
    res = mqttsniff("-r", capture, "-z", "mqtt,clients", "-z", "conv,tcp")
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert "conv,tcp" in res.stderr and "mqtt,clients, mqtt,topics, mqtt,latency, expert" in res.stderr


# ---- -2 --------------------------------------------------------------------------------------


def two_pass_fields(path: str, *extra: str) -> list[list[str]]:
    res = mqttsniff(*extra, "-r", path, "-T", "fields", "-e", "frame.number", "-e", "mqtt.response_in",
                    "-e", "mqtt.response_to", "-e", "mqtt.delivered_in", "-e", "mqtt.published_in")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


def test_two_passes_fill_earlier_frames(tshark: str, capture: str) -> None:
    one, two = two_pass_fields(capture), two_pass_fields(capture, "-2")
    assert not any(r[1] or r[3] for r in one)  # one pass: nothing known of a later frame
    assert [(r[0], r[2], r[4]) for r in one] == [(r[0], r[2], r[4]) for r in two]
    response_in = {int(r[0]): int(r[1]) for r in two if r[1]}
    response_to = {int(r[2]): int(r[0]) for r in two if r[2]}
    assert response_in == response_to and len(response_in) == 11
    # the pairs tshark's own fields give
    ref = pairs(tshark_pdus(tshark, capture))
    want = {
        req.frame: resp.frame
        for k in ("CONNECT", "Q1", "Q2", "REC", "PUBREL", "SUB", "UNSUB", "PING")
        for req, resp in ref[k]
    }
    assert response_in == want
    delivered = {int(r[0]): int(r[3]) for r in two if r[3]}
    published = {int(r[4]): int(r[0]) for r in two if r[4]}
    assert delivered == published and len(delivered) == 1


def test_two_passes_in_every_output(capture: str) -> None:
    verbose = mqttsniff("-2", "-r", capture, "-V", "-c", "8").stdout
    assert "[Response In: " in verbose
    ndjson = mqttsniff("-2", "-r", capture, "-T", "ndjson").stdout
    assert '"mqtt.response_in"' in ndjson
    filtered = mqttsniff("-2", "-r", capture, "-Y", "mqtt.response_in", "-T", "fields", "-e", "frame.number")
    assert len(filtered.stdout.split()) == 11


@pytest.mark.parametrize("source", [["-r", "-"], ["-i", "lo"]])
def test_two_passes_need_a_file(capture: str, source: list[str]) -> None:
    res = mqttsniff("-2", *source, stdin=Path(capture).read_bytes())
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and "-2 reads the capture twice: only with -r FILE" in res.stderr


# ---- live capture ------------------------------------------------------------------------------


def test_live_statistics_match_the_written_capture(mosquitto_broker, tmp_path: Path) -> None:
    """-i lo as root with a real mosquitto and clients: the statistics printed at the stop (SIGINT)
    are those of reading back the very frames it wrote with -w."""
    import os
    import select
    import signal
    import time

    assert os.geteuid() == 0, "live capture needs root"
    port = mosquitto_broker.port
    pcap = tmp_path / "live.pcapng"
    zs = ["-z", "mqtt,clients", "-z", "mqtt,topics", "-z", "mqtt,latency"]
    cmd = [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", "-d", f"tcp.port=={port},mqtt"]
    proc = subprocess.Popen(
        [*cmd, "-w", str(pcap), "-q", *zs], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while not pcap.exists() or pcap.stat().st_size == 0:  # the pcapng header: capturing
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        # -d: its debug lines say when the SUBACK came (stdbuf: line by line); the messages are published
        # only then, or a slow start misses them and waits for ever (a fixed sleep raced under load)
        argv = ["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-i", "live-sub", "-t", "live/#", "-q", "1"]
        sub = subprocess.Popen([*argv, "-C", "2", "-d"], stdout=subprocess.PIPE)
        seen = b""
        deadline = time.monotonic() + 20
        while b"SUBACK" not in seen:
            assert sub.poll() is None and time.monotonic() < deadline, f"mosquitto_sub got no SUBACK: {seen!r}"
            if select.select([sub.stdout], [], [], 0.2)[0]:
                seen += os.read(sub.stdout.fileno(), 4096)
        for topic, qos in (("live/a", "1"), ("live/b", "2")):
            subprocess.run(["mosquitto_pub", "-p", str(port), "-i", "live-pub", "-t", topic, "-m", "hi", "-q", qos],
                           check=True, timeout=10)  # fmt: skip
        sub.communicate(timeout=10)  # both messages came (-C 2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    live = out.decode()
    assert "live-pub" in live and "live-sub" in live
    again = mqttsniff("-r", str(pcap), "-q", *zs, "-d", f"tcp.port=={port},mqtt")
    assert again.returncode == 0, again.stderr
    # the same text, but for times: the pcapng file keeps microseconds, the live clock nanoseconds;
    # so do the rates (messages / the capture's duration, 4 decimals): over a short capture a microsecond
    # less of duration moves the 4th decimal (90.8399 live, 90.8394 read back: a slow start did it)
    times = mqttsniff("-r", str(pcap), "-T", "fields", "-e", "frame.time_relative").stdout.split()
    duration = Decimal(times[-1])
    mine, back = live.split(), again.stdout.split()
    assert len(mine) == len(back)
    for a, b in zip(mine, back, strict=True):
        if re.fullmatch(r"\d+\.\d{6}", a) and re.fullmatch(r"\d+\.\d{6}", b):
            assert abs(Decimal(a) - Decimal(b)) <= Decimal("0.000002"), (a, b)
        elif re.fullmatch(r"\d+\.\d{4}", a) and re.fullmatch(r"\d+\.\d{4}", b):
            rate = max(Decimal(a), Decimal(b))
            assert abs(Decimal(a) - Decimal(b)) <= rate * Decimal("0.000002") / duration + Decimal("0.0001"), (a, b)
        else:
            assert a == b


def test_text_from_the_wire_is_escaped(tmp_path: Path) -> None:
    """Client ids, topics and notes are the device's text: no ESC or bidi override reaches the terminal."""
    fl = FrameList()
    f = TcpFlow(fl)
    t = f.open(T0)
    t = f.send(0, E.connect("evil\x1b]0;pwned\x07"), t + 1000, ack=False)
    t = f.send(1, E.connack(), t + 1000)
    t = f.send(0, E.subscribe(1, [("a/\u202e/#", 0)]), t + 1000, ack=False)
    t = f.send(1, E.suback(1, [0x80]), t + 1000)
    t = f.send(0, E.publish("a/\u202e/\x1b[2J", b"x"), t + 1000)
    f.close(t + 1000)
    path = save(fl.frames_list, tmp_path / "evil.pcap")
    res = mqttsniff("-r", path, "-q", "-z", "mqtt,clients", "-z", "mqtt,topics", "-z", "expert")
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout and "\x07" not in res.stdout
    assert "evil\\033]0;pwned\\a" in res.stdout  # tshark's escapes, as in every other output
    assert "\\u202E" in res.stdout and "\\033[2J" in res.stdout


def test_expert_finds_every_note_of_the_full_trees(tshark: str, capture: str, tmp_path: Path) -> None:
    """-z expert builds trees only where notes can be: it still lists exactly the notes that the full
    trees of -T fields hold (one _ws.expert item per note, one flag per TCP analysis note)."""
    paths = [capture, lossy(tmp_path / "lossy.pcap"), *sorted(str(p) for p in CORPUS.glob("*.pcap*"))]
    total = 0
    for path in paths:
        names = ["-e", "_ws.expert.severity", *[x for n in TCP_ANALYSIS_NAMES for x in ("-e", f"tcp.analysis.{n}")]]
        res = mqttsniff("-r", path, "-T", "fields", "-E", "aggregator=;", "-e", "frame.number", *names)
        want: list[str] = []
        for line in res.stdout.splitlines():
            c = line.split("\t")
            n_expert = len(c[1].split(";")) if c[1] else 0  # TCP analysis flags are expert notes too
            n_tcp = sum(len(x.split(";")) for x in c[2:] if x)
            assert n_tcp <= n_expert, line
            want += [c[0]] * n_expert
        out = mqttsniff("-r", path, "-q", "-z", "expert").stdout
        notes = block(out, "Expert Information")
        listing = notes[notes.index(next(x for x in notes if x.startswith("Notes by frame"))) + 3 :]
        assert sorted(cells(x)[0] for x in listing) == sorted(want), path
        total += len(want)
    assert total > 20


def test_statistics_count_every_frame_whatever_the_display_filter(capture: str) -> None:
    """As tshark's (its -z conv,tcp is the same with and without -Y): -Y picks the printed packets only."""
    zs = ["-z", "mqtt,clients", "-z", "mqtt,latency"]
    everything = mqttsniff("-r", capture, "-q", *zs).stdout
    res = mqttsniff("-r", capture, "-Y", "mqtt.msgtype == 12", *zs)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len([x for x in lines if "Ping Request" in x]) == 1 and lines[1] == "=" * 80
    assert "\n".join(lines[1:]) + "\n" == everything
