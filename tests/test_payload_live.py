"""Payload decoders on real traffic: a mosquitto started by the test, a paho-mqtt client (MQTT 5)
publishing each payload kind, captured live on lo by mqttsniff and by tcpdump; mqttsniff reads the
live traffic and tcpdump's file alike, the decoded values equal what was sent, and tshark agrees on
every mqtt.* field and on the JSON fields when given the same topic → decoder table.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import msgpack
import paho.mqtt.client as mqtt
from capture_helpers import Tcpdump, needs_root
from conftest import REPO, start_broker
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from test_capture_live import start_cli
from test_tshark_agreement import tshark_mqtt_fields

from sniffer.payload.sparkplug import message_classes

pytestmark = needs_root

SPARKPLUG_TOPIC = "spBv1.0/Plant1/DDATA/Edge1/Pump7"
DOC = {"temperature": 21.5, "unit": "C", "ok": True, "tags": ["a", "b"]}
CBOR_OBJ = {"rpm": 1450, "load": -2, "ok": False}
MSGPACK_OBJ = {"pressure": 3, "valve": "open"}
# The topic table, as mqttsniff takes it and as tshark's mqtt_message_decoding table takes it
MAPPING = {"lab/msgpack": ("msgpack", "none", "msgpack"), "lab/gzip": ("gzip+json", "compressed", "json")}
FIELDS = [
    "frame.number",
    "mqtt.topic",
    "mqtt.msg_decoded_as",
    "json.key",
    "json.value.number",
    "json.value.string",
    "cbor.type.textstring",
    "cbor.type.uint",
    "cbor.type.nint",
    "msgpack.string",
    "msgpack.integer.u8",
    "mqtt.msg_text",
    "sparkplugb.groupid",
    "sparkplugb.deviceid",
    "sparkplug.seq",
    "sparkplug.timestamp",
    "sparkplug.metric.name",
    "sparkplug.metric.alias",
    "sparkplug.metric.double_value",
]


def _sparkplug() -> bytes:
    p = message_classes()["Payload"](timestamp=1_764_000_000_000, seq=42)
    p.metrics.add(name="Temperature", alias=1, datatype=10, double_value=71.25)
    p.metrics.add(name="Running", alias=2, datatype=11, boolean_value=True)
    return p.SerializeToString()


def _publish_all(port: int) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="payload-live", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        ct = Properties(PacketTypes.PUBLISH)
        ct.ContentType = "application/cbor"
        pfi = Properties(PacketTypes.PUBLISH)
        pfi.PayloadFormatIndicator = 1
        for topic, payload, props in (
            ("lab/json", json.dumps(DOC).encode(), None),  # an unambiguous JSON document
            ("lab/cbor", cbor2.dumps(CBOR_OBJ), ct),  # the MQTT 5 content type
            ("lab/msgpack", msgpack.packb(MSGPACK_OBJ), None),  # the topic table
            ("lab/gzip", gzip.compress(json.dumps(DOC).encode()), None),
            ("lab/text", b"pump 7 running", pfi),  # the payload format indicator
            (SPARKPLUG_TOPIC, _sparkplug(), None),  # the Sparkplug B namespace
        ):
            c.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def _args() -> list[str]:
    out = ["-T", "fields", "-E", "aggregator=|", "-Y", "mqtt.msgtype == 3"]
    for f in FIELDS:
        out += ["-e", f]
    for topic, (spec, _, _) in MAPPING.items():
        out += ["-o", f"mqtt.decode:{topic}={spec}"]
    return out


def _rows(text: str) -> dict[str, dict[str, str]]:
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in text.splitlines()]
    return {r["mqtt.topic"]: r for r in rows}


def _check_values(by: dict[str, dict[str, str]]) -> None:
    assert {t: r["mqtt.msg_decoded_as"] for t, r in by.items()} == {
        "lab/json": "json",
        "lab/cbor": "cbor",
        "lab/msgpack": "msgpack",
        "lab/gzip": "json",
        "lab/text": "text",
        SPARKPLUG_TOPIC: "sparkplug",
    }
    for topic in ("lab/json", "lab/gzip"):
        r = by[topic]
        assert r["json.key"].split("|") == list(DOC)
        assert r["json.value.number"] == "21.5" and r["json.value.string"].split("|") == ["C", "a", "b"]
    c = by["lab/cbor"]
    assert c["cbor.type.textstring"].split("|") == list(CBOR_OBJ) and c["cbor.type.uint"] == "1450"
    assert c["cbor.type.nint"] == "-2"
    mp = by["lab/msgpack"]
    assert mp["msgpack.string"].split("|") == ["pressure", "valve", "open"] and mp["msgpack.integer.u8"] == "3"
    assert by["lab/text"]["mqtt.msg_text"] == "pump 7 running"
    s = by[SPARKPLUG_TOPIC]
    assert s["sparkplugb.groupid"] == "Plant1" and s["sparkplugb.deviceid"] == "Pump7"
    assert s["sparkplug.seq"] == "42" and s["sparkplug.timestamp"] == "1764000000000"
    assert s["sparkplug.metric.name"] == "Temperature|Running" and s["sparkplug.metric.alias"] == "1|2"
    assert float(s["sparkplug.metric.double_value"]) == 71.25


def test_payloads_published_by_paho_decode_live_from_file_and_like_tshark(tmp_path: Path, tshark: str) -> None:
    with start_broker(tmp_path) as broker:
        ref = Tcpdump("lo", f"tcp port {broker.port}", tmp_path / "payloads.pcap")
        proc, err = start_cli(broker.port, *_args())
        try:
            _publish_all(broker.port)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            out, rest = proc.communicate(timeout=30)
            ref.stop()
    assert proc.returncode == 0, (err + rest).decode()
    live = _rows(out.decode())
    _check_values(live)
    # the same traffic from tcpdump's file
    pcap = tmp_path / "payloads.pcap"
    cmd = [sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", f"tcp.port=={broker.port},mqtt"]
    res = subprocess.run([*cmd, *_args()], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    from_file = _rows(res.stdout)
    _check_values(from_file)

    # tshark, given the same table for the topics it can map (its JSON, CBOR and MessagePack
    # dissectors by name; the other topics are mapped to the same decoders mqttsniff chose)
    table = {**MAPPING, "lab/json": ("json", "none", "json"), "lab/cbor": ("cbor", "none", "cbor")}
    uat: list[str] = []
    ours: list[str] = []
    for topic, (spec, decoding, proto) in table.items():
        uat += ["-o", f'uat:mqtt_message_decoding:"Equal to","{topic}","{decoding}","{proto}"']
        ours += ["-o", f"mqtt.decode:{topic}={spec}"]
    names = [f for f in tshark_mqtt_fields(tshark) if f not in ("mqtt.msg_text",)]  # Wireshark's "as text" pref
    names += ["json.key", "json.value.number", "json.value.string", "json.member_with_value", "json.path",
              "json.path_with_value", "json.value.true", "sparkplugb.namespace", "sparkplugb.groupid",
              "sparkplugb.messagetype", "sparkplugb.edgenodeid", "sparkplugb.deviceid"]  # fmt: skip
    fargs = [a for n in names for a in ("-e", n)]
    theirs = subprocess.run(
        [tshark, "-r", str(pcap), "-d", f"tcp.port=={broker.port},mqtt", *uat, "-T", "fields", *fargs],
        capture_output=True, text=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    mine = subprocess.run([*cmd, *ours, "-T", "fields", *fargs], capture_output=True, text=True, cwd=REPO,
                          timeout=60).stdout.splitlines()  # fmt: skip
    assert len(theirs) == len(mine) > 10
    # tshark decoded the JSON, gzip-JSON, CBOR and Sparkplug topics too: the comparison has content
    assert sum("temperature:21.5" in line for line in theirs) == 2
    assert sum("Plant1" in line for line in theirs) == 1 and sum("msgpack" in line for line in theirs) == 1
    diffs = []
    for no, (t, o) in enumerate(zip(theirs, mine, strict=True), 1):
        for name, tv, ov in zip(names, t.split("\t"), o.split("\t"), strict=True):
            if tv == ov:
                continue
            if name == "mqtt.msg_decoded_as" and tv == "" and ov in ("text", "sparkplug"):
                continue  # chosen by the payload format indicator / Sparkplug namespace: no table entry in tshark
            diffs.append(f"frame {no} {name}: tshark={tv!r} mqttsniff={ov!r}")
    assert not diffs, "\n".join(diffs)
