"""The session layer on real traffic: mosquitto, paho and raw-socket clients captured live on lo
(tests/session_scenarios.py), read back with mqttsniff, and checked against pairs computed from
tshark's own fields, and against what each scenario did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import session_scenarios as S
from conftest import REPO

FIELDS = (
    "frame.number",
    "tcp.srcport",
    "tcp.dstport",
    "mqtt.msgtype",
    "mqtt.client",
    "mqtt.response_in",
    "mqtt.response_to",
    "mqtt.time",
    "mqtt.publisher",
    "mqtt.published_in",
    "mqtt.delivered_in",
    "_ws.expert.message",
)


def mqttsniff(pcap: Path, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", str(pcap), *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return res


def rows(pcap: Path, *extra: str) -> list[dict[str, str]]:
    cmd = ["-T", "fields", "-E", "separator=\t", "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = mqttsniff(pcap, *cmd, *extra).stdout.splitlines()
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out]


def notes_of(r: dict[str, str]) -> str:
    return r["_ws.expert.message"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def check_pairs(pcap: Path, two_pass: bool = False) -> list[dict[str, str]]:
    """Every response names its request and the time between them exactly as tshark's epochs do."""
    got = rows(pcap)
    by_frame = {int(r["frame.number"]): r for r in got}
    pairs = S.pairs_from_tshark(pcap)
    assert pairs, "the scenario has request/response pairs"
    for req, resp, dt in pairs:
        r = by_frame[resp]
        tos = r["mqtt.response_to"].split("|")
        assert str(req) in tos, (req, resp, r)
        times = [float(t) for t in r["mqtt.time"].split("|")]
        assert any(abs(t - dt) < 1e-6 for t in times), (req, resp, dt, times)
        # single pass: a request learns its response only later (the UI and -2 fill it in)
    return got


def test_pairs_and_client_ids_on_qos2_flows(workdir: Path) -> None:
    sc = S.qos2_flow(workdir)
    got = check_pairs(sc.pcap)
    mqtt_rows = [r for r in got if r["mqtt.msgtype"]]
    for r in mqtt_rows:
        port = int(r["tcp.srcport"]) if int(r["tcp.dstport"]) == sc.port else int(r["tcp.dstport"])
        want = {sc.publisher_port: sc.publisher_id, sc.subscriber_port: sc.subscriber_id}.get(port)
        if want is not None:
            assert set(r["mqtt.client"].split("|")) == {want}, r
    # mqtt.time filters like any field
    timed = {
        int(x) for x in mqttsniff(sc.pcap, "-Y", "mqtt.time >= 0", "-T", "fields", "-e", "frame.number").stdout.split()
    }
    # every response, and each PUBREL (it answers the PUBREC in the QoS 2 chain; tshark's pairs skip it)
    pubrels = {int(r["frame.number"]) for r in got if r["mqtt.msgtype"] == "6"}
    assert timed == {resp for _req, resp, _dt in S.pairs_from_tshark(sc.pcap)} | pubrels
    assert len(pubrels) == 2 * sc.count


def test_takeover_names_the_other_connection(workdir: Path) -> None:
    sc = S.takeover(workdir)
    got = rows(sc.pcap)
    takeover = [r for r in got if "is held by the open connection" in notes_of(r)]
    assert len(takeover) == 1 and int(takeover[0]["tcp.srcport"]) == sc.second_port
    ended = [r for r in got if "was taken over by TCP stream" in notes_of(r)]
    assert len(ended) == 1 and int(ended[0]["tcp.dstport"]) == sc.first_port  # the broker's FIN to the first
    hits = mqttsniff(sc.pcap, "-Y", "mqtt.analysis.takeover", "-T", "fields", "-e", "mqtt.client").stdout.split()
    assert hits == [sc.client_id]


def test_keepalive_expiry_is_explained(workdir: Path) -> None:
    sc = S.keepalive_expiry(workdir)
    got = rows(sc.pcap)
    expired = [r for r in got if "Keep-alive exceeded" in notes_of(r)]
    assert len(expired) == 1 and int(expired[0]["tcp.srcport"]) == sc.port  # closed by the broker
    assert f"keep-alive {sc.keepalive} s" in notes_of(expired[0]) and "the broker closed the connection" in notes_of(
        expired[0]
    )
    tree = mqttsniff(sc.pcap, "-V", "-Y", "mqtt.analysis.keepalive_expired").stdout
    assert "[MQTT session]" in tree and "Expert Info (Warning/Sequence): Keep-alive exceeded" in tree


def test_unacknowledged_messages_listed_at_close(workdir: Path) -> None:
    sc = S.unacknowledged(workdir)
    got = rows(sc.pcap)
    unacked = [r for r in got if "unacknowledged" in notes_of(r)]
    assert len(unacked) == 1 and f"with {len(sc.msgids)} QoS 1/2 messages unacknowledged" in notes_of(unacked[0])
    delivered = [
        int(r["frame.number"]) for r in got if r["mqtt.msgtype"] == "3" and int(r["tcp.dstport"]) == sc.subscriber_port
    ]
    for f in delivered:
        assert str(f) in notes_of(unacked[0])


def test_fan_out_names_the_publisher_and_marks_the_ambiguous(workdir: Path) -> None:
    sc = S.fan_out(workdir)
    got = rows(sc.pcap)
    originals = {
        int(r["frame.number"]): r
        for r in got
        if r["mqtt.msgtype"] == "3" and int(r["tcp.srcport"]) == sc.publisher_port and r["mqtt.msgtype"]
    }
    deliveries = [r for r in got if r["mqtt.msgtype"] == "3" and int(r["tcp.dstport"]) in sc.subscriber_ports]
    plain = [r for r in deliveries if r["mqtt.publisher"]]
    assert len(plain) == 2 * len(sc.subscriber_ports)  # QoS 0 and QoS 1, to each subscriber
    for r in plain:
        assert r["mqtt.publisher"] == sc.publisher_id and int(r["mqtt.published_in"]) in originals
    twins = [r for r in deliveries if not r["mqtt.publisher"]]
    assert twins and all("publications match this delivery" in notes_of(r) for r in twins)
    # -2: the original PUBLISH lists the frames that delivered it
    two = {int(r["frame.number"]): r for r in rows(sc.pcap, "-2")}
    for f in originals:
        if f in {int(r["mqtt.published_in"]) for r in plain}:
            listed = sorted(int(x) for x in two[f]["mqtt.delivered_in"].split("|"))
            want = sorted(int(r["frame.number"]) for r in plain if int(r["mqtt.published_in"]) == f)
            assert listed == want


def test_refused_connack_says_why(workdir: Path) -> None:
    sc = S.refused(workdir)
    got = rows(sc.pcap)
    refusals = [r for r in got if "The broker refused the connection" in notes_of(r)]
    assert len(refusals) == len(sc.refused)
    for r in refusals:
        cid, version, code = sc.refused[int(r["tcp.dstport"])]
        assert r["mqtt.client"] == cid
        assert (f"(0x{code:02x})" if version == 5 else f"({code})") in notes_of(r)
    errors = mqttsniff(sc.pcap, "-Y", '_ws.expert.group == "Response"', "-T", "fields", "-e", "frame.number").stdout
    assert sorted(errors.split()) == sorted(r["frame.number"] for r in refusals)


def test_v5_disconnect_reason(workdir: Path) -> None:
    sc = S.v5_disconnect(workdir)
    got = rows(sc.pcap)
    bye = [r for r in got if "DISCONNECT from the broker" in notes_of(r)]
    assert len(bye) == 1 and f"(0x{sc.reason:02x})" in notes_of(bye[0]) and bye[0]["mqtt.client"] == sc.client_id


def test_misbehaving_client(workdir: Path) -> None:
    sc = S.misbehaving(workdir)
    got = rows(sc.pcap)
    text = "\n".join(notes_of(r) for r in got)
    assert "without the DUP flag" in text and "is still in flight" in text


def test_protocol_violations(workdir: Path) -> None:
    sc = S.protocol_violations(workdir)
    got = rows(sc.pcap)
    text = "\n".join(notes_of(r) for r in got)
    assert "PUBLISH before the connection was acknowledged" in text and "Second CONNECT" in text


def test_many_short_connections_leave_the_tracker(workdir: Path) -> None:
    sc = S.many_connections(workdir)
    from sniffer.net.pcapfile import open_capture
    from sniffer.pipeline import Dissector

    d = Dissector()
    clients = set()
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(sc.pcap)), 1):
        f = d.frame(n, ts, lt, data, ol)
        clients.update(p.ann.client for p in f.pdus if p.ann is not None and p.ann.client)
    assert clients == set(sc.client_ids)
    assert d.tracker is not None and len(d.tracker.conns) == 0 and len(d.tracker.clients) == 0
