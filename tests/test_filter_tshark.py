"""Display filters agree with Wireshark's: same expression, same frame numbers.

For every expression below, `mqttsniff -r F -Y EXPR -T fields -e frame.number`
must print exactly what `tshark -r F -Y EXPR -T fields -e frame.number` prints,
over one capture: the public captures tests/captures/*.pcap* followed by
two captures written by sniffer.synth (MQTT 3.1.1 + 5 on IPv4 and IPv6; MQTT 5
only, rich in properties), concatenated with mergecap (one run per tool and
expression instead of one per file keeps this test fast; both tools read the
same file). Every expression must select at least one frame, so no agreement
is vacuous.
The one documented Wireshark bug that changes a filter's answer is pinned in
test_known_wireshark_difference, with its reason.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import CORPUS, REPO, require_tool

from sniffer.synth.pcap_write import PcapWriter
from sniffer.synth.traffic import generate

EXPRESSIONS = [
    # presence of protocols and fields
    "mqtt",
    "!mqtt",
    "ip",
    "ipv6",
    "mqtt.topic",
    "mqtt.passwd",
    "mqtt.username and not mqtt.passwd",
    "mqtt.property_id",
    # message types, by number and by value name; multi-PDU frames (any/all semantics)
    "mqtt.msgtype == 3",
    'mqtt.msgtype == "Publish Message"',
    "mqtt.msgtype eq 12 || mqtt.msgtype eq 13",
    "mqtt.msgtype in {8, 9, 10, 11}",
    "mqtt.msgtype != 3",
    "mqtt.msgtype !== 3",
    "mqtt.msgtype === 3",
    "count(mqtt.msgtype) > 1",
    "mqtt.msgtype == 0",
    # topics
    'mqtt.topic contains "/"',
    'mqtt.topic contains "sensor"',
    'mqtt.topic matches "^plant-[ab]/"',
    'mqtt.topic matches "TELEMETRY$"',
    'mqtt.topic matches "(?-i)^[A-Z]"',
    'mqtt.topic == "SampleTopic"',
    "len(mqtt.topic) > 30",
    # QoS, flags, ids
    "mqtt.qos == 1",
    "mqtt.qos >= 1 and mqtt.msgtype == 3",
    "mqtt.qos == 3",
    "mqtt.retain == 1",
    "mqtt.dupflag",
    "mqtt.msgid in {1..3}",
    "mqtt.msgid in {2, 7, 12}",
    "mqtt.msgid > 10 and mqtt.msgid <= 14",
    "mqtt.hdrflags & 0x01",
    # CONNECT / CONNACK / SUBSCRIBE details
    "mqtt.kalive > 30",
    "mqtt.conflag.cleansess == 1",
    "mqtt.ver == 5",
    'mqtt.clientid contains "a"',
    "mqtt.conack.val == 0",
    "mqtt.sub.qos == 1",
    "mqtt.suback.qos",
    "mqtt.len > 1000",
    # MQTT 5 properties
    "mqtt.property_id == 0x26",
    "mqtt.property_id == 0x23 and mqtt.msgtype == 3",
    'mqtt.property.content_type == "application/json"',
    "mqtt.property.topic_alias",
    'mqtt.prop_key == "fw"',
    # network layers
    "ip.addr == 10.0.0.0/8",
    "ip.addr == 192.168.0.0/16",
    "ip.src == 10.0.1.4",
    "ip.dst != 10.0.1.4",
    "ipv6.addr == ::1",
    "ipv6.src == fd00::/8 or ipv6.dst == fd00::/8",
    "tcp.port == 1883",
    "tcp.srcport == 1883",
    "tcp.dstport != 1883",
    "tcp.port in {1883, 8883}",
    "tcp.flags.syn == 1",
    "tcp.flags.syn == 1 && tcp.flags.ack == 0",
    "tcp.flags.fin == 1 or tcp.flags.reset == 1",
    "tcp.flags & 0x02",
    "tcp.len > 0",
    "tcp.len == 0 and !mqtt",
    "tcp.stream == 1",
    # frame fields, ranges, precedence
    "frame.len > 100",
    "frame.len in {60..80}",
    "frame.len <= 66",
    "frame.number in {1..5} or frame.number > 20",
    "frame.number in {1..5} or frame.number > 20 and mqtt",
    "not (mqtt.msgtype == 3 or mqtt.msgtype == 12 or mqtt.msgtype == 13)",
    "mqtt and not tcp.flags.push == 1",
    "!(tcp.port == 1883) || mqtt.msgtype == 1 && mqtt.ver == 4",
    # bytes of protocols
    'mqtt contains "MQTT"',
    'frame contains "MQ"',
    'mqtt.msg contains "{"',
]


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One capture: the corpus and two generated captures, concatenated (one tool run per expression)."""
    mergecap = require_tool("mergecap")
    tmp = tmp_path_factory.mktemp("filter_captures")
    corpus = sorted(str(p) for p in CORPUS.glob("*.pcap*"))
    assert corpus, f"no captures in {CORPUS}"
    generated = []
    for name, kw in (
        ("gen-mixed", dict(clients=20, seed=7, v5_share=0.5, ipv6_share=0.3)),
        ("gen-v5", dict(clients=8, seed=3, v5_share=1.0)),
    ):
        path = tmp / f"{name}.pcap"
        sink = PcapWriter(str(path))
        generate(sink, 1500, **kw)
        sink.close()
        generated.append(str(path))
    merged = tmp / "all.pcapng"
    subprocess.run([mergecap, "-a", "-w", str(merged), *corpus, *generated], check=True, capture_output=True)
    return {"corpus+generated": str(merged)}


def _frames(cmd: list[str]) -> tuple[list[int], str]:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    if res.returncode != 0:
        return [], f"exit {res.returncode}: {res.stderr.strip()[-300:]}"
    return [int(x) for x in res.stdout.split()], ""


@pytest.fixture(scope="module")
def results(captures: dict[str, str]) -> dict[tuple[str, str], tuple]:
    """(expression, capture) -> (tshark frames, tshark error, our frames, our error), run two at a time."""
    tshark = require_tool("tshark")
    jobs = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for expr in EXPRESSIONS:
            for label, path in captures.items():
                theirs = [tshark, "-r", path, "-o", "tcp.desegment_tcp_streams:TRUE", "-Y", expr]
                ours = [sys.executable, "-m", "sniffer", "-r", path, "-Y", expr]
                fields = ["-T", "fields", "-e", "frame.number"]
                jobs[expr, label] = (pool.submit(_frames, theirs + fields), pool.submit(_frames, ours + fields))
        return {k: (*t.result(), *o.result()) for k, (t, o) in jobs.items()}


def test_enough_expressions() -> None:
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS) >= 40


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_same_frames_as_tshark(expr: str, results: dict, captures: dict[str, str]) -> None:
    selected = 0
    for label in captures:
        theirs, their_err, ours, our_err = results[expr, label]
        assert not their_err, f"tshark rejected {expr!r}: {their_err}"
        assert not our_err, f"mqttsniff rejected {expr!r}: {our_err}"
        missing = sorted(set(theirs) - set(ours))[:15]
        extra = sorted(set(ours) - set(theirs))[:15]
        assert ours == theirs, f"{expr!r} on {label}: tshark-only frames {missing}, mqttsniff-only frames {extra}"
        selected += len(ours)
    assert selected, f"{expr!r} selects no frame: the agreement would be vacuous"


# Expressions whose answer differs because Wireshark 4.0 decodes a field wrongly
# (the same bugs as test_tshark_agreement.WIRESHARK_BUGS): file -> (expr, tshark's frames, ours, why).
BAD_PROPLEN = "mqtt5_malformed_connect-excessive-property-length__suricata-verify.pcap"
KNOWN_DIFFERENCES = [
    (
        BAD_PROPLEN,
        "mqtt.property_len > 5000",
        [4],
        [],
        "the property length bytes ff 21 are a Variable Byte Integer worth 4351 (MQTT 5 sec. 1.5.5);"
        " Wireshark 4.0 reads them as a 16-bit 65313, so only it sees a length above 5000",
    ),
]


@pytest.mark.parametrize(("capture", "expr", "tshark_frames", "our_frames", "why"), KNOWN_DIFFERENCES)
def test_known_wireshark_difference(capture: str, expr: str, tshark_frames, our_frames, why: str) -> None:
    tshark = require_tool("tshark")
    path = str(CORPUS / capture)
    theirs, err = _frames([tshark, "-r", path, "-Y", expr, "-T", "fields", "-e", "frame.number"])
    assert not err, err
    ours, err = _frames([sys.executable, "-m", "sniffer", "-r", path, "-Y", expr, "-T", "fields", "-e", "frame.number"])
    assert not err, err
    assert theirs == tshark_frames, f"tshark changed its answer ({theirs}); re-check: {why}"
    assert ours == our_frames, why


def test_cli_bad_filter_is_one_line_with_column() -> None:
    path = str(CORPUS / BAD_PROPLEN)
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", path, "-Y", 'mqtt.msgtype == 3 && mqtt.topik == "a"'],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("mqttsniff: invalid display filter at column 22: unknown field"), lines[0]
    assert "mqtt.topic" in lines[0] and "Traceback" not in res.stderr


def test_cli_keeps_capture_frame_numbers_in_summary() -> None:
    """The default summary lines of -Y keep the capture's frame numbers, as tshark's do."""
    tshark = require_tool("tshark")
    path = str(CORPUS / "mqtt31_paho-python_pubsub-retain-ping__zeek.pcap")
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", path, "-Y", "mqtt.msgtype == 3"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    theirs = subprocess.run([tshark, "-r", path, "-Y", "mqtt.msgtype == 3"], capture_output=True, text=True).stdout
    numbers = [int(line.split()[0]) for line in res.stdout.splitlines()]
    assert numbers == [int(line.split()[0]) for line in theirs.splitlines()]
    assert len(numbers) > 1 and numbers != list(range(1, len(numbers) + 1))
    assert all("Publish Message" in line for line in res.stdout.splitlines())
