"""mqttsniff and Wireshark decode the public corpus the same way, frame by frame.

For every capture in tests/captures, `mqttsniff -r F -T fields` and
`tshark -r F -T fields` are run with every mqtt.* field Wireshark registers
(plus the columns and key frame/TCP fields); every cell must match, except
where Wireshark is wrong, each exception listed below with its reason.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CORPUS, REPO

from sniffer import pipeline  # noqa: F401  (registers every field)
from sniffer.fields import REGISTRY

COMMON = [
    "frame.number",
    "frame.len",
    "frame.time_relative",
    "_ws.col.Protocol",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.stream",
    "tcp.len",
    "tcp.seq",
    "tcp.ack",
]

# (file, frame number, field) -> why Wireshark's answer differs from ours (ours is right).
BAD_PROPLEN = "mqtt5_malformed_connect-excessive-property-length__suricata-verify.pcap"
WIRESHARK_BUGS: dict[tuple[str, int, str], str] = {
    (BAD_PROPLEN, 4, "mqtt.property_len"): (
        "the property length bytes are ff 21: a Variable Byte Integer worth 127 + 33*128 = 4351 (MQTT 5 sec. 1.5.5);"
        " Wireshark 4.0 shows 65313 = 0xff21, reading them as a 16-bit integer"
    ),
    (BAD_PROPLEN, 4, "mqtt.prop_unknown"): (
        "after the unknown property id 0x00 Wireshark stops and adds an empty item; mqttsniff shows the"
        " undecodable rest of the property block as that property's content, so the bytes are not hidden"
    ),
}
# Whole fields where Wireshark prints something else by design, with the reason.
FIELD_EXCEPTIONS: dict[str, str] = {
    "mqtt.msg_decoded_as": (
        "Wireshark names a payload decoder only for topics in its mqtt_message_decoding table; mqttsniff also"
        " decodes by MQTT 5 content type, Sparkplug namespace and an unambiguous JSON document (sniffer/payload/"
        "choose.py). tests/test_payload_tshark.py checks the field against tshark given the same topic table"
    ),
}


def tshark_mqtt_fields(tshark: str) -> list[str]:
    out = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) > 2 and parts[0] == "F" and parts[2].startswith("mqtt."):
            names.append(parts[2])
    return names


def run_fields(cmd: list[str], fields: list[str]) -> list[list[str]]:
    args = []
    for f in fields:
        args += ["-e", f]
    res = subprocess.run(cmd + ["-T", "fields", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


@pytest.fixture(scope="module")
def mqtt_fields(tshark: str) -> list[str]:
    return tshark_mqtt_fields(tshark)


def test_every_wireshark_mqtt_field_is_registered(mqtt_fields: list[str]) -> None:
    missing = [f for f in mqtt_fields if f not in REGISTRY]
    assert not missing, f"Wireshark fields we do not register: {missing}"


@pytest.mark.parametrize("capture", sorted(p.name for p in CORPUS.glob("*.pcap*")))
def test_fields_agree_with_tshark(capture: str, tshark: str, mqtt_fields: list[str]) -> None:
    path = str(CORPUS / capture)
    fields = COMMON + [f for f in mqtt_fields if f in REGISTRY]
    theirs = run_fields([tshark, "-r", path, "-o", "tcp.desegment_tcp_streams:TRUE"], fields)
    ours = run_fields([sys.executable, "-m", "sniffer", "-r", path, "--show-secrets"], fields)
    assert len(ours) == len(theirs), "frame counts differ"
    diffs = []
    for their_row, our_row in zip(theirs, ours, strict=True):
        no = int(their_row[0])
        for name, t, o in zip(fields, their_row, our_row, strict=True):
            if t == o or name in FIELD_EXCEPTIONS or (capture, no, name) in WIRESHARK_BUGS:
                continue
            diffs.append(f"frame {no} {name}: tshark={t!r} mqttsniff={o!r}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:40])


def test_corpus_decodes_without_error(corpus_files) -> None:
    """-V and JSON over every corpus capture: no exception, exit 0."""
    for path in corpus_files:
        for extra in (["-V", "-x"], ["-T", "json"], ["-T", "ndjson"]):
            res = subprocess.run(
                [sys.executable, "-m", "sniffer", "-r", str(path), *extra],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=120,
            )
            assert res.returncode == 0, f"{path.name} {extra}: {res.stderr}"
            assert res.stdout.strip(), f"{path.name} {extra}: no output"
            assert "Traceback" not in res.stderr
