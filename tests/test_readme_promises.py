"""README promises checked on generated captures, against tshark where it is the reference."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList, PcapWriter


def run(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return res.stdout


def ethernet_frames() -> list[tuple[int, bytes]]:
    """A short MQTT 3.1.1 exchange over IPv4 and an MQTT 5 one over IPv6, as Ethernet frames."""
    sink = FrameList()
    t = 1_700_000_000_000_000
    f = TcpFlow(sink, client=("10.0.0.5", 40000), server=("10.0.0.1", 1883))
    t = f.send(0, m.connect("dev4"), f.open(t) + 1000)
    t = f.send(1, m.connack(), t + 1000)
    g = TcpFlow(sink, client=("fd00::5", 40001), server=("fd00::1", 1883))
    t = g.send(0, m.connect("dev6", version=5), g.open(t + 1000) + 1000)
    g.send(0, m.publish("x/y", b"v6", version=5), t + 1000)
    return sink.frames_list


def null_header(frame: bytes) -> bytes:
    family = 2 if frame[12:14] == b"\x08\x00" else 30  # AF_INET, AF_INET6 (BSD)
    return struct.pack("<I", family) + frame[14:]


@pytest.mark.parametrize(("linktype", "relink"), [(0, null_header), (101, lambda fr: fr[14:])], ids=["null", "raw"])
def test_link_layer_titles_match_tshark(tmp_path: Path, tshark: str, linktype: int, relink) -> None:
    # README "What is decoded": BSD loopback/null and raw IP, titled as tshark titles them
    path = tmp_path / "link.pcap"
    with PcapWriter(str(path), linktype) as w:
        for ts, frame in ethernet_frames():
            w.write(ts, relink(frame))

    def titles(out: str) -> list[str]:
        return [ln for ln in out.splitlines() if ln and not ln.startswith((" ", "Frame ", "Internet", "Transm", "MQ "))]

    ours = titles(run("-r", str(path), "-V"))
    theirs = titles(subprocess.run([tshark, "-r", str(path), "-V"], capture_output=True, text=True).stdout)
    assert ours == theirs and len(ours) == len(ethernet_frames())
    fields = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.clientid", "-e", "mqtt.topic"]
    ref = subprocess.run([tshark, "-r", str(path), *fields], capture_output=True, text=True).stdout
    assert run("-r", str(path), *fields) == ref and "dev6" in ref


@pytest.mark.parametrize(
    "option",
    [["-f", "tcp"], ["-w", "out.pcapng"], ["-a", "duration:5"], ["-Z", "root"], ["-B", "4"], ["-s", "100"], ["-p"]],
    ids=lambda o: o[0],
)
def test_live_only_option_without_i_is_named_as_typed(option: list[str]) -> None:
    # README: "a bad option" is one line on stderr and a non-zero exit; the line names the option the user typed
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", "x.pcap", *option], capture_output=True, text=True, cwd=REPO
    )
    assert res.returncode == 2
    assert res.stderr == f"mqttsniff: {option[0]}: only with -i IFACE (live capture)\n"


@pytest.mark.parametrize("option", ["--max-pdu", "--max-buffered"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_memory_caps_must_be_positive(option: str, value: str) -> None:
    # a cap of 0 bytes would show every MQTT PDU as malformed: a bad option, one line, exit 2
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "--demo", f"{option}={value}"], capture_output=True, text=True, cwd=REPO
    )
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == f"mqttsniff: {option} needs a positive number of bytes\n"


# ---- "Where mqttsniff and Wireshark differ": rows not asserted on both sides elsewhere ----------


def verbose_mqtt_notes(out: str) -> list[str]:
    """The expert notes of a -V output that are not TCP sequence analysis."""
    return [ln.strip() for ln in out.splitlines() if "Expert Info" in ln and "Sequence" not in ln]


def test_flag_and_wildcard_violations_are_noted_where_wireshark_is_silent(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "violations.pcap"
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.send(0, m.connect("dev"), f.open(1_700_000_000_000_000) + 1000)
        t = f.send(0, m.with_flags(m.subscribe(1, [("a/b", 0)]), 0), t + 1000)  # SUBSCRIBE must have 0x2
        t = f.send(0, m.publish("a/+/c", b"x"), t + 1000)
        f.send(0, m.with_flags(m.pingreq(), 3), t + 1000)
    ours = verbose_mqtt_notes(run("-r", str(path), "-V"))
    assert any("flags 0x0 for Subscribe Request" in n for n in ours), ours
    assert any("flags 0x3 for Ping Request" in n for n in ours), ours
    assert any("Wildcard character in a PUBLISH topic" in n for n in ours), ours
    theirs = subprocess.run([tshark, "-r", str(path), "-V"], capture_output=True, text=True).stdout
    assert "Publish Message [a/+/c]" in subprocess.run([tshark, "-r", str(path)], capture_output=True, text=True).stdout
    assert verbose_mqtt_notes(theirs) == [], "Wireshark now flags these: update the README's table"


def test_unknown_property_keeps_the_rest_of_the_block(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "unknown-property.pcap"
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.send(0, m.connect("dev", version=5), f.open(0) + 1000)
        f.send(0, m.publish("t", b"x", version=5, props=[(0x7E, b"zz"), (0x01, 1)]), t + 1000)
    args = ["-r", str(path), "-Y", "mqtt.msgtype == 3", "-T", "fields", "-e", "mqtt.property_id"]
    args += ["-e", "mqtt.prop_unknown"]
    # the bytes after the unknown id: 00 02 'z' 'z' (its would-be value), 01 01 (payload format indicator)
    assert run(*args) == "0x7e\t\\000\\002zz\\001\\001\n"
    assert subprocess.run([tshark, *args], capture_output=True, text=True).stdout == "0x7e\t\n"


def test_info_leaves_tcp_analysis_flags_in_the_tcp_tree(tshark: str) -> None:
    from conftest import CORPUS

    path = str(CORPUS / "mqtt311_invalid_publish-qos3__suricata-verify.pcap")
    args = ["-r", path, "-Y", "frame.number == 9", "-T", "fields", "-e", "_ws.col.Info", "-e", "tcp.analysis.flags"]
    assert run(*args) == "Disconnect Req\t1\n"
    theirs = subprocess.run([tshark, *args], capture_output=True, text=True).stdout
    assert theirs == "[TCP ACKed unseen segment] , Disconnect Req\t1\n"
    assert "[ACKed segment that wasn't captured (common at capture start)]" in run("-r", path, "-c", "9", "-V")


# ---- the README's example commands ------------------------------------------------------------


def readme_filter_examples() -> list[list[str]]:
    """The `mqttsniff -r capture.pcap -Y ...` lines of the README's Display filters section, as argv."""
    import shlex

    text = (REPO / "README.md").read_text()
    section = text.split("### Display filters", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in section.strip().splitlines()]


def test_readme_filter_examples_select_what_they_say(tmp_path: Path, tshark: str) -> None:
    # a capture every example is about: QoS 1 temperatures from 10.0.0.0/8, one of them a DUP resend
    path = tmp_path / "capture.pcap"
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w, client=("10.1.2.3", 40000))
        t = f.send(0, m.connect("thermo"), f.open(1_700_000_000_000_000) + 1000)
        t = f.send(1, m.connack(), t + 1000)
        t = f.send(0, m.publish("sensors/kitchen/temp", b"21.5", qos=1, msgid=1), t + 1000)
        t = f.send(0, m.publish("sensors/kitchen/temp", b"21.5", qos=1, msgid=1, dup=True), t + 1000)
        t = f.send(1, m.puback(1), t + 1000)
        f.send(0, m.publish("sensors/kitchen/humidity", b"40"), t + 1000)
    examples = readme_filter_examples()
    assert len(examples) == 4
    for argv in examples:
        argv = [str(path) if a == "capture.pcap" else a for a in argv]
        ours = run(*argv)
        assert ours.strip(), f"README example selects nothing: {argv}"
        if "topic_match" not in argv[3]:  # Wireshark has no topic_match
            assert ours == subprocess.run([tshark, *argv], capture_output=True, text=True).stdout, argv
    qos1 = run(*[str(path) if a == "capture.pcap" else a for a in examples[1]])
    assert len(qos1.splitlines()) == 1, "the first send of message 1 only, not its DUP resend"


# ---- -T json "as tshark's JSON" ----------------------------------------------------------------


def flatten(x: object, prefix: str = "") -> dict[str, object]:
    """path -> leaf value of a JSON document (object keys and list indexes joined with /)."""
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else None
    if items is None:
        return {prefix[:-1]: x}
    out: dict[str, object] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}{k}/"))
    return out


@pytest.mark.parametrize(
    "capture",
    [
        "mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap",
        "mqtt31-311-5_raw-ipv4-linktype_8KB-topic_SYNTHETIC__arkime.pcap",  # an empty PUBLISH payload: ""
    ],
)
def test_json_values_and_keys_are_tsharks(tshark: str, capture: str) -> None:
    # bytes as tshark writes them in JSON (10:cc:01), TCP options under their field names (tcp.options.mss)
    import json

    from conftest import CORPUS

    path = str(CORPUS / capture)
    ours = json.loads(run("-r", path, "-T", "json", "--show-secrets"))
    theirs = json.loads(subprocess.run([tshark, "-r", path, "-T", "json"], capture_output=True, text=True).stdout)
    assert len(ours) == len(theirs)
    compared, differ, properties = 0, [], 0
    for no, (mine, ref) in enumerate(zip(ours, theirs, strict=True), 1):
        mine_flat, ref_flat = flatten(mine["_source"]["layers"]), flatten(ref["_source"]["layers"])
        for key, want in ref_flat.items():
            if key in mine_flat:
                compared += 1
                if mine_flat[key] != want:
                    differ.append(f"frame {no} {key}: {mine_flat[key]!r} != {want!r}")
        if "tcp/tcp.options_tree/tcp.options.timestamp" in ref_flat:
            assert "tcp/tcp.options_tree/tcp.options.timestamp_tree/tcp.options.timestamp.tsval" in mine_flat, no
        # a label item's items sit in its own object, as tshark's (not "mqtt.properties": "1" beside a _tree)
        if "mqtt/mqtt.properties/mqtt.property_len" in ref_flat:
            assert (
                mine_flat.get("mqtt/mqtt.properties/mqtt.property_len")
                == ref_flat["mqtt/mqtt.properties/mqtt.property_len"]
            ), no
            properties += 1
    assert not differ, differ[:10]
    assert properties or "mqtt5" not in capture
    assert compared > 900


def test_field_aggregator_space_escape_as_tshark(tshark: str) -> None:
    # tshark's -E help: aggregator "/s" = space; frame 10 of this capture holds two UNSUBSCRIBEs
    from conftest import CORPUS

    path = str(CORPUS / "mqtt311_sub-unsub-qos1_2pdus-in-1-segment__suricata-verify.pcap")
    args = ["-r", path, "-T", "fields", "-e", "frame.number", "-e", "mqtt.topic", "-E", "aggregator=/s"]
    ours = run(*args)
    assert ours == subprocess.run([tshark, *args], capture_output=True, text=True).stdout
    assert "topicX topicY" in ours


@pytest.mark.parametrize("option", ["separator=", "aggregator="])
def test_empty_field_separator_is_a_usage_error(option: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "--demo", "-T", "fields", "-e", "frame.number", "-E", option],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr.startswith(f"mqttsniff: -E {option[:-1]} needs a character") and res.stderr.count("\n") == 1


def test_only_protocols_prints_the_tree_without_dash_v(tshark: str) -> None:
    # tshark's -O implies -V: "mqttsniff -r F -O mqtt" is the tree with only MQTT expanded, not summary lines
    from conftest import CORPUS

    path = str(CORPUS / "mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap")
    ours = run("-r", path, "-O", "mqtt", "--show-secrets")
    assert ours == run("-r", path, "-O", "mqtt", "-V", "--show-secrets")
    theirs = subprocess.run([tshark, "-r", path, "-O", "mqtt"], capture_output=True, text=True).stdout

    def layers(out: str) -> list[str]:  # the layer lines; "[...]" ones are mqttsniff's own generated items
        return [ln for ln in out.splitlines() if ln and not ln.startswith((" ", "["))]

    assert layers(ours) == layers(theirs)
    assert "    Topic: " in ours and "    Source Port" not in ours


def test_readme_demo_block_is_the_real_output() -> None:
    # the block under the title: each line is a line of `mqttsniff --demo --no-ui`, in order ("…" elides)
    block = (REPO / "README.md").read_text().split("$ mqttsniff --demo --no-ui\n", 1)[1].split("```", 1)[0]
    real = run("--demo", "--no-ui").splitlines()
    pos = 0
    for line in block.splitlines():
        if line.strip() == "…":
            continue
        prefix = line[:-1] if line.endswith("…") else None
        while pos < len(real) and (real[pos] != line if prefix is None else not real[pos].startswith(prefix)):
            pos += 1
        assert pos < len(real), f"README demo line not in the real output (or out of order): {line}"
        pos += 1


def test_qinq_service_tag_is_an_8021ad_layer_as_in_tshark(tmp_path: Path, tshark: str) -> None:
    # README "What is decoded": Ethernet with 802.1Q/802.1ad VLAN tags; an 802.1ad (0x88a8) service tag
    # around an 802.1Q customer tag is Wireshark's "IEEE 802.1ad" layer, not a second 802.1Q one
    path = tmp_path / "qinq.pcap"
    with PcapWriter(str(path)) as w:
        for ts, frame in ethernet_frames():
            w.write(ts, frame[:12] + b"\x88\xa8\x20\x64\x81\x00\x00\x0a" + frame[12:])  # S-tag PRI 1 ID 100, C-tag 10

    def link_lines(out: str) -> list[str]:
        lines, inside = [], False
        for ln in out.splitlines():
            if not ln.startswith(" "):
                inside = ln.startswith(("IEEE 802.1ad", "802.1Q"))
            if inside:
                lines.append(ln)
        return lines

    ours = run("-r", str(path), "-V")
    theirs = subprocess.run([tshark, "-n", "-r", str(path), "-V"], capture_output=True, text=True).stdout
    assert link_lines(ours) == link_lines(theirs)
    assert "IEEE 802.1ad, ID: 100" in ours
    fields = ["ieee8021ad.id", "ieee8021ad.priority", "ieee8021ah.etype", "vlan.id", "frame.protocols", "mqtt.clientid"]
    args = ["-r", str(path), "-Y", "ieee8021ad.id == 100 && vlan.id == 10", "-T", "fields"]
    args += [a for f in fields for a in ("-e", f)]
    ref = subprocess.run([tshark, *args], capture_output=True, text=True).stdout
    assert run(*args) == ref and "dev6" in ref
