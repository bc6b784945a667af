"""Where mqttsniff and Wireshark 4.0 disagree, Wireshark is wrong: each case here builds
(or reads) the capture, asserts what tshark prints and what mqttsniff prints, and says why.

If a test fails because tshark started answering right, Wireshark fixed its bug: update the
README's "Where mqttsniff and Wireshark differ" section and drop the case.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import CORPUS, REPO

from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter


def fields(cmd: list[str], *names: str) -> list[list[str]]:
    args = [a for n in names for a in ("-e", n)]
    res = subprocess.run([*cmd, "-T", "fields", *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


def ours(path: Path) -> list[str]:
    return [sys.executable, "-m", "sniffer", "-r", str(path), "--show-secrets"]


def split_varint_capture(path: Path) -> None:
    """A 200-byte PUBLISH (Remaining Length = 2 bytes) whose segment ends after its first length byte."""
    connect = m.connect("splitter", version=4)
    big = m.publish("sensors/split", b"x" * 180, qos=1, msgid=7)
    assert len(big) > 130 and big[1] & 0x80, "Remaining Length must take two bytes"
    with PcapWriter(str(path)) as sink:
        flow = TcpFlow(sink)
        t = flow.open(1_000_000)
        t = flow.send(0, connect, t + 1000)
        t = flow.send(1, m.connack(), t + 1000)
        t = flow.send(0, big, t + 1000, split=[2])  # cut between the two length bytes
        t = flow.send(1, m.puback(7), t + 1000)
        t = flow.send(0, m.publish("sensors/after", b"ok"), t + 1000)
        flow.close(t + 1000)


def test_remaining_length_split_across_segments(tmp_path: Path, tshark: str) -> None:
    cap = tmp_path / "split.pcap"
    split_varint_capture(cap)
    names = ("frame.number", "mqtt.msgtype", "mqtt.topic")
    mine = [r for r in fields(ours(cap), *names) if r[1]]
    theirs = [r for r in fields([tshark, "-r", str(cap)], *names) if r[1]]
    assert [r[1:] for r in mine] == [
        ["1", ""],
        ["2", ""],
        ["3", "sensors/split"],
        ["4", ""],
        ["3", "sensors/after"],
    ]
    # Wireshark 4.0 cannot resume a PDU whose Remaining Length varint is cut: it loses the PUBLISH
    # and everything after it in that direction.
    their_topics = [r[2] for r in theirs]
    assert "sensors/split" not in their_topics and "sensors/after" not in their_topics, theirs


def test_property_length_is_a_variable_byte_integer(tshark: str) -> None:
    cap = CORPUS / "mqtt5_malformed_connect-excessive-property-length__suricata-verify.pcap"
    names = ("frame.number", "mqtt.property_len")
    mine = {r[0]: r[1] for r in fields(ours(cap), *names)}
    theirs = {r[0]: r[1] for r in fields([tshark, "-r", str(cap)], *names)}
    # bytes ff 21: 127 + 33 * 128 = 4351 (MQTT 5.0 sec. 1.5.5); Wireshark shows 0xff21.
    assert mine["4"] == "4351"
    assert theirs["4"] == "65313"


def test_qos3_and_reserved_type_are_flagged(tshark: str) -> None:
    qos3 = CORPUS / "mqtt311_invalid_publish-qos3__suricata-verify.pcap"
    type0 = CORPUS / "mqtt311_malformed_reserved-type-0__suricata-verify.pcap"
    for cap, what in ((qos3, "QoS 3"), (type0, "reserved")):
        mine = subprocess.run([*ours(cap), "-V"], capture_output=True, text=True, cwd=REPO).stdout
        theirs = subprocess.run([tshark, "-r", str(cap), "-V"], capture_output=True, text=True).stdout
        notes = [line for line in mine.splitlines() if "Expert Info" in line and what.lower() in line.lower()]
        assert notes, f"mqttsniff must flag {what} in {cap.name}"
        # tshark's only notes there are TCP sequence analysis ("/Sequence"): nothing about MQTT
        mqtt_notes = [line for line in theirs.splitlines() if "Expert Info" in line and "/Sequence)" not in line]
        assert not mqtt_notes, f"Wireshark now flags {cap.name}: {mqtt_notes}"


def test_a_long_string_label_is_whole(tshark: str) -> None:
    """tshark cuts every -V label at 240 bytes (`Topic [truncated]: oversize/ttt…`): an 8 KB topic loses all but
    its first ~220 characters, and with them what a user looks for at its end. Ours shows the whole topic (a bytes
    label, by contrast, is cut at 36 bytes as tshark's: tests/test_mqtt_tshark.py)."""
    cap = next(CORPUS.glob("*8KB-topic*"))
    theirs = subprocess.run([tshark, "-r", str(cap), "-V"], capture_output=True, text=True, timeout=60).stdout
    cut = [ln.strip() for ln in theirs.splitlines() if ln.strip().startswith("Topic [truncated]: oversize/")]
    assert cut and all(len(ln.encode()) < 240 for ln in cut)
    mine = subprocess.run([*ours(cap), "-V"], capture_output=True, text=True, timeout=60, cwd=REPO).stdout
    topics = {t for (t,) in fields(ours(cap), "mqtt.topic") if t.startswith("oversize/")}
    assert topics and min(len(t) for t in topics) > 8000
    labels = {ln.strip() for ln in mine.splitlines()}
    assert all(f"Topic: {t}" in labels for t in topics)
    assert not any("[truncated]" in ln for ln in labels)


def connected(sink: PcapWriter, client_id: str) -> tuple[TcpFlow, int]:
    """A client connected to the broker (handshake, CONNECT, CONNACK): its flow and the time after."""
    flow = TcpFlow(sink)
    t = flow.open(1_000_000)
    t = flow.send(0, m.connect(client_id, version=4), t + 1000)
    return flow, flow.send(1, m.connack(), t + 1000)


def both(tshark: str, cap: Path, *names: str) -> tuple[list[list[str]], list[list[str]]]:
    """tshark's and our -T fields rows of `names` on a capture."""
    return fields([tshark, "-r", str(cap)], *names), fields(ours(cap), *names)


def fast_retransmission_capture(path: Path) -> None:
    """Two PUBLISH segments; the broker acknowledges only up to the first, three times (two duplicate ACKs),
    and the client sends the first segment again at once: a fast retransmission of bytes already captured."""
    with PcapWriter(str(path)) as sink:
        flow, t = connected(sink, "resender")
        client, broker = flow.sides
        first = client.seq
        t = flow.send(0, m.publish("sensors/a", b"1", qos=1, msgid=1), t + 1000, ack=False)
        after = client.seq
        t = flow.send(0, m.publish("sensors/b", b"2", qos=1, msgid=2), t + 100, ack=False)
        end = client.seq
        broker.rcv = first  # the broker never got the first: each ACK repeats its start
        for _ in range(3):
            t += 100
            flow._frame(1, t, 0x10)
        client.seq = first
        t = flow.send(0, m.publish("sensors/a", b"1", qos=1, msgid=1), t + 100, ack=False)
        assert client.seq == after
        client.seq = end
        broker.rcv = end
        t = flow.send(1, [m.puback(1), m.puback(2)], t + 1000)
        flow.close(t + 1000)


def test_a_fast_retransmission_is_not_decoded_again(tmp_path: Path, tshark: str) -> None:
    """tshark hands a fast retransmission's bytes to MQTT a second time, so the one PUBLISH the client sent
    (once, DUP flag clear) is listed twice, as if message id 1 were reused; a plain retransmission it shows
    as `Retransmitted TCP segment data` only. mqttsniff delivers a stream's bytes once: the frame is TCP,
    `[TCP Fast Retransmission]`, and the session layer counts one PUBLISH."""
    cap = tmp_path / "fastrt.pcap"
    fast_retransmission_capture(cap)
    theirs, mine = both(
        tshark, cap, "frame.number", "tcp.analysis.fast_retransmission", "_ws.col.Protocol", "mqtt.topic"
    )
    fast = [r for r in theirs if r[1]]
    assert len(fast) == 1 and [r for r in mine if r[1]][0][0] == fast[0][0]
    assert fast[0][2:] == ["MQTT", "sensors/a"]  # tshark: the PUBLISH again
    assert [r for r in mine if r[1]][0][2:] == ["TCP", ""]  # mqttsniff: a TCP frame
    assert [r[3] for r in theirs if r[3]] == ["sensors/a", "sensors/b", "sensors/a"]
    assert [r[3] for r in mine if r[3]] == ["sensors/a", "sensors/b"]
    info = fields(ours(cap), "_ws.col.Info")
    assert any(r[0].startswith("[TCP Fast Retransmission] ") for r in info)


def resent_tail_capture(path: Path) -> None:
    """A PUBLISH over two segments, the next PUBLISH, then the first PUBLISH's second segment again 0.3 ms later
    (out of order by tshark's clock: within 3 ms of the highest segment)."""
    with PcapWriter(str(path)) as sink:
        flow, t = connected(sink, "resender")
        client = flow.sides[0]
        big = m.publish("sensors/big", b"x" * 2000, qos=0)
        start = client.seq
        t = flow.send(0, big, t + 1000, ack=False)  # two segments: the MSS, then the rest
        t = flow.send(0, m.publish("sensors/next", b"1"), t + 100, ack=False)
        end = client.seq
        client.seq = start + flow.seg_payload
        flow._frame(0, t + 300, 0x18, big[flow.seg_payload :])
        client.seq = end
        t = flow.ack(1, t + 1000)
        flow.close(t + 1000)


def test_a_resent_segment_of_a_reassembled_pdu_is_no_reassembly_error(tmp_path: Path, tshark: str) -> None:
    """tshark adds the copy to the PDU it has already reassembled and reports `[Reassembly error, protocol TCP:
    New fragment overlaps old data (retransmission?)]`, an Error (Malformed), on bytes identical to those it
    has; mqttsniff shows the TCP frame with its `[TCP Out-Of-Order]` flag and no error."""
    cap = tmp_path / "resent.pcap"
    resent_tail_capture(cap)
    theirs, mine = both(tshark, cap, "frame.number", "tcp.analysis.out_of_order", "_ws.col.Info", "tcp.payload")
    copy = [r for r in theirs if r[1]]
    assert len(copy) == 1 and copy[0][2].endswith(
        "[Reassembly error, protocol TCP: New fragment overlaps old data (retransmission?)]"
    )
    first = next(r for r in theirs if r[0] == str(int(copy[0][0]) - 2))  # the PDU's second segment, sent first
    assert first[3] == copy[0][3]  # byte for byte the same
    mine_copy = [r for r in mine if r[1]]
    assert [r[0] for r in mine_copy] == [copy[0][0]]
    assert mine_copy[0][2] == copy[0][2].split("[Reassembly error")[0]
    assert mine_copy[0][2].startswith("[TCP Out-Of-Order] ")
    expert = subprocess.run([*ours(cap), "-q", "-z", "expert"], capture_output=True, text=True, cwd=REPO).stdout
    assert "Malformed" not in expert and "Error" not in expert


def test_a_duplicate_ip_in_an_arp_reply_is_in_the_info_column(tmp_path: Path, tshark: str) -> None:
    # Two hosts answer one ARP request for the same address (the common IP conflict): tshark flags the second
    # reply in its tree but not in Info, because the reply's target (the asker) is checked after the sender
    # and that check's "no duplicate" overwrites the sender's finding. mqttsniff's Info says it.
    from test_arp import _arp, _eth

    asker, owner, impostor = "24:0a:c4:00:00:02", "28:cf:e9:00:00:01", "02:42:ac:11:00:02"
    cap = tmp_path / "conflict.pcap"
    w = PcapWriter(str(cap))
    w.write(1_000_000, _eth("ff:ff:ff:ff:ff:ff", asker, b"\x08\x06",
                            _arp(1, asker, "10.0.0.2", "00:00:00:00:00:00", "10.0.0.1")))  # fmt: skip
    for i, who in enumerate((impostor, owner)):
        w.write(1_000_020 + i, _eth(asker, who, b"\x08\x06", _arp(2, who, "10.0.0.1", asker, "10.0.0.2")))
    w.close()
    theirs = subprocess.run([tshark, "-r", str(cap)], capture_output=True, text=True, check=True).stdout.splitlines()
    tree = subprocess.run([tshark, "-r", str(cap), "-V"], capture_output=True, text=True, check=True).stdout
    assert "[Duplicate IP address detected for 10.0.0.1 (28:cf:e9:00:00:01)" in tree  # tshark knows...
    assert "duplicate" not in theirs[2]  # ... and its Info does not say so
    mine = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(cap)], capture_output=True, text=True,
                          cwd=REPO).stdout.splitlines()  # fmt: skip
    assert mine[2] == theirs[2] + " (duplicate use of 10.0.0.1 detected!)"
    assert mine[:2] == theirs[:2]
