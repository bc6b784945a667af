"""Payload decoders (sniffer/payload): the choice of decoder, what each one shows, their limits.

Captures are generated (sniffer.synth) with payloads made by the reference encoders (json, cbor2,
msgpack, protobuf through the Sparkplug schema's message classes) and read back by mqttsniff as a
user runs it; fuzzed payloads go straight into the decoders. tests/test_payload_live.py does the
same with a real broker, paho clients and captures on lo, and checks tshark agrees.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shlex
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import cbor2
import msgpack
import pytest
from conftest import REPO

from sniffer.fields import ERROR, NOTE, Node
from sniffer.payload import choose as C
from sniffer.payload.decode import decode_message
from sniffer.payload.sparkplug import message_classes
from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter

PAYLOAD_MODULES = ("sniffer.payload.jsontree", "sniffer.payload.cbortree", "sniffer.payload.msgpacktree")


def write_capture(path: Path, pubs: list[tuple], version: int = 4) -> Path:
    """One connection publishing (topic, payload[, props]) each; PUBLISH k (from 0) is frame 8 + 2k."""
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.open(1_700_000_000_000_000)
        t = f.send(0, m.connect("payload-test", version=version), t + 1000)
        t = f.send(1, m.connack(version=version), t + 1000)
        for pub in pubs:
            topic, payload = pub[0], pub[1]
            props = pub[2] if len(pub) > 2 else None
            t = f.send(0, m.publish(topic, payload, version=version, props=props), t + 1000)
    return path


def run(*args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO,
                         timeout=120, env={**os.environ, "XDG_CONFIG_HOME": "/nonexistent", **(env or {})})  # fmt: skip
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def fields(pcap: Path, names: list[str], *extra: str) -> list[dict[str, str]]:
    args = ["-r", str(pcap), "-Y", "mqtt.msgtype == 3", "-T", "fields", "-E", "aggregator=|"]
    for n in names:
        args += ["-e", n]
    out = run(*args, *extra).stdout.splitlines()
    return [dict(zip(names, line.split("\t"), strict=True)) for line in out]


# -- the choice -----------------------------------------------------------------------------------


def test_choice_order_topic_filter_content_type_indicator_namespace_content(tmp_path: Path) -> None:
    doc = json.dumps({"temperature": 21.5}).encode()
    pcap = write_capture(
        tmp_path / "choice.pcap",
        [
            ("plant/a/json", doc, {"content_type": "application/cbor"}),  # the user's filter wins over CT
            ("ct/cbor", cbor2.dumps({"temperature": 21.5}), {"content_type": "application/cbor; x=1"}),
            ("ct/unknown", doc, {"content_type": "application/x-custom"}),  # named, unknown: no guess
            ("pfi/text", b"21.5 degrees", {"payload_format_indicator": 1}),
            ("pfi/json", doc, {"payload_format_indicator": 1}),
            ("spBv1.0/G/NDATA/E", message_classes()["Payload"](seq=1).SerializeToString()),
            ("plain/json", doc),  # an object that parses completely
            ("plain/number", b"42"),  # JSON too, but not unambiguous: not guessed
            ("plain/cut", doc[:-1]),  # an object cut short: not guessed
            ("$SYS/broker/x", b"\x00\x01"),  # '#' must not match $SYS: no decoder
        ],
        version=5,
    )
    got = fields(pcap, ["mqtt.topic", "mqtt.msg_decoded_as", "json.key", "cbor.type.textstring", "mqtt.msg_text"],
                 "-o", "mqtt.decode:plant/+/json=json", "-o", "mqtt.decode:#=hex")  # fmt: skip
    decoded = {r["mqtt.topic"]: r["mqtt.msg_decoded_as"] for r in got}
    assert decoded == {
        "plant/a/json": "json",
        "ct/cbor": "hex",
        "ct/unknown": "hex",
        "pfi/text": "hex",  # '#' maps everything below it to hex, before the content type
        "pfi/json": "hex",
        "spBv1.0/G/NDATA/E": "hex",
        "plain/json": "hex",
        "plain/number": "hex",
        "plain/cut": "hex",
        "$SYS/broker/x": "",
    }
    got = fields(pcap, ["mqtt.topic", "mqtt.msg_decoded_as", "json.key", "cbor.type.textstring", "mqtt.msg_text"])
    by = {r["mqtt.topic"]: r for r in got}
    assert {t: r["mqtt.msg_decoded_as"] for t, r in by.items()} == {
        "plant/a/json": "cbor",  # no user filter now: the content type decides (and fails, see below)
        "ct/cbor": "cbor",
        "ct/unknown": "",
        "pfi/text": "text",
        "pfi/json": "json",
        "spBv1.0/G/NDATA/E": "sparkplug",
        "plain/json": "json",
        "plain/number": "",
        "plain/cut": "",
        "$SYS/broker/x": "",
    }
    assert by["ct/cbor"]["cbor.type.textstring"] == "temperature"
    assert by["pfi/text"]["mqtt.msg_text"] == "21.5 degrees"
    assert by["plain/json"]["json.key"] == "temperature"
    # JSON sent as CBOR by content type: shown as such, with the decoder's error note
    notes = run("-r", str(pcap), "-Y", 'mqtt.topic == "plant/a/json"', "-T", "fields", "-e", "_ws.expert.message")
    assert "Malformed payload (CBOR)" in notes.stdout


def test_topic_table_from_decoders_toml_and_bad_configs_are_one_line(tmp_path: Path) -> None:
    pcap = write_capture(tmp_path / "toml.pcap", [("lab/x/data", msgpack.packb({"rpm": 1200}))])
    conf = tmp_path / "conf" / "mqttsniff"
    conf.mkdir(parents=True)
    (conf / "decoders.toml").write_text('[topics]\n"lab/+/data" = "msgpack"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "conf")}
    got = run("-r", str(pcap), "-Y", 'msgpack.string == "rpm"', "-T", "fields", "-e", "mqtt.msg_decoded_as",
              "-e", "msgpack.integer.u16", env=env)  # fmt: skip
    assert got.stdout == "msgpack\t1200\n"
    # -o comes first
    got = run("-r", str(pcap), "-o", "mqtt.decode:lab/#=hex", "-T", "fields", "-e", "mqtt.msg_decoded_as",
              "-Y", "mqtt.msgtype == 3", env=env)  # fmt: skip
    assert got.stdout == "hex\n"
    bad = [
        (["-o", "mqtt.decode:a/#=yaml"], "unknown payload decoder 'yaml'"),
        (["-o", "mqtt.decode:a/#/b=json"], "'#' must be the last level"),
        (["-o", "mqtt.decode:json"], "expected TOPIC_FILTER=DECODER"),
    ]
    for args, message in bad:
        res = run("-r", str(pcap), *args, env=env, ok=False)
        assert res.returncode == 2 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr
        assert "Traceback" not in res.stderr
    (conf / "decoders.toml").write_text("[topics\n")
    res = run("-r", str(pcap), env=env, ok=False)
    assert res.returncode == 2 and "not valid TOML" in res.stderr and res.stderr.count("\n") == 1


def test_topic_matching_follows_mqtt_wildcards() -> None:
    cases = [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/+/c", "a/b/c/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b", "a/b", True),
    ]
    for flt, topic, want in cases:
        assert C.topic_matcher(flt)(topic) is want, (flt, topic)


# -- what each decoder shows ------------------------------------------------------------------------


def test_json_tree_values_paths_and_byte_ranges(tmp_path: Path) -> None:
    doc = {"temperature": 21.5, "unit": "°C", "ok": True, "err": None, "off": False, "tags": ["a", 2, [False]]}
    raw = json.dumps(doc, ensure_ascii=False).encode()
    pcap = write_capture(tmp_path / "json.pcap", [("s/t", raw)])
    names = ["json.key", "json.value.string", "json.value.number", "json.member_with_value", "json.path",
             "json.path_with_value", "json.value.true", "json.value.false", "json.value.null"]  # fmt: skip
    (row,) = fields(pcap, names)
    assert row["json.key"].split("|") == list(doc)
    assert row["json.value.string"].split("|") == ["°C", "a"]
    assert row["json.value.number"].split("|") == ["21.5", "2"]
    assert row["json.member_with_value"].split("|") == [
        "temperature:21.5", "unit:°C", "ok:true", "err:null", "off:false", "[]:a", "[]:2", "[]:false"]  # fmt: skip
    assert row["json.path"].split("|") == ["/temperature", "/unit", "/ok", "/err", "/off", "/tags"]
    assert "/tags/[]/[]:false" in row["json.path_with_value"].split("|")
    assert row["json.value.true"] == "1" and row["json.value.null"] == "1" and row["json.value.false"] == "1|1"
    # every item lies at its bytes: a key item covers the key's text in the frame
    sys.path.insert(0, str(REPO / "tests"))
    from test_pipeline import frames

    (pub,) = [f for f in frames(str(pcap)) if f.pdus and f.pdus[0].msgtype == 3]
    nodes = pub.tree()
    data = pub.data
    keys = [n for top in nodes for n in top.walk() if n.fdef is not None and n.fdef.abbrev == "json.key"]
    assert [data[k.start : k.start + k.length].decode() for k in keys] == list(doc)
    numbers = [n for top in nodes for n in top.walk() if n.fdef is not None and n.fdef.abbrev == "json.value.number"]
    assert [data[n.start : n.start + n.length] for n in numbers] == [b"21.5", b"2"]


def test_cbor_and_msgpack_values_equal_what_was_encoded(tmp_path: Path) -> None:
    obj = {"temperature": 21.5, "count": 70000, "neg": -3, "raw": b"\x01\x02", "list": [1, "x", None, True]}
    pcap = write_capture(tmp_path / "bin.pcap", [("c/1", cbor2.dumps(obj)), ("m/1", msgpack.packb(obj))])
    opts = ("-o", "mqtt.decode:c/#=cbor", "-o", "mqtt.decode:m/#=msgpack")
    c, mp = fields(pcap, ["cbor.type.textstring", "cbor.type.uint", "cbor.type.nint", "cbor.type.bytestring",
                          "cbor.type.float64", "cbor.type.simple_data", "msgpack.string", "msgpack.integer.u32",
                          "msgpack.integer.8", "msgpack.bin", "msgpack.float", "msgpack.boolean"], *opts)  # fmt: skip
    assert c["cbor.type.textstring"].split("|") == ["temperature", "count", "neg", "raw", "list", "x"]
    assert c["cbor.type.uint"].split("|") == ["70000", "1"]
    assert c["cbor.type.nint"] == "-3" and c["cbor.type.bytestring"] == "0102"
    assert float(c["cbor.type.float64"]) == 21.5 and c["cbor.type.simple_data"] == "22|21"
    assert mp["msgpack.string"].split("|") == ["temperature", "count", "neg", "raw", "list", "x"]
    assert mp["msgpack.integer.u32"] == "70000" and mp["msgpack.integer.8"] == "-3"
    assert mp["msgpack.bin"] == "0102" and float(mp["msgpack.float"]) == 21.5 and mp["msgpack.boolean"] == "1"
    # a float is written back exactly (not to 9 decimals): a filter made from what is shown matches it
    third = write_capture(tmp_path / "third.pcap", [("c/1", cbor2.dumps(1 / 3))])
    (row,) = fields(third, ["cbor.type.float64"], "-o", "mqtt.decode:c/#=cbor")
    assert row["cbor.type.float64"] == repr(1 / 3)
    shown = run(
        "-r", str(third), "-o", "mqtt.decode:c/#=cbor", "-Y", f"cbor.type.float64 == {row['cbor.type.float64']}"
    )
    assert shown.stdout.count("Publish Message") == 1


def test_sparkplug_b_values_equal_what_protobuf_encoded(tmp_path: Path) -> None:
    P = message_classes()["Payload"]
    p = P(timestamp=1_700_000_000_123, seq=255, uuid="u-1")
    p.metrics.add(name="Temperature", alias=7, datatype=10, double_value=21.5)
    p.metrics.add(name="Counter", datatype=8, long_value=2**40, timestamp=1_700_000_000_000)
    p.metrics.add(alias=7, datatype=10, is_null=True)
    pm = p.metrics.add(name="Props", datatype=12, string_value="s")
    pm.properties.keys.append("engUnit")
    pm.properties.values.add(type=12, string_value="°C")
    raw = p.SerializeToString()
    pcap = write_capture(tmp_path / "spb.pcap", [("spBv1.0/Plant/DDATA/Edge1/Dev1", raw)])
    names = ["sparkplugb.groupid", "sparkplugb.messagetype", "sparkplugb.edgenodeid", "sparkplugb.deviceid",
             "sparkplug.timestamp", "sparkplug.seq", "sparkplug.uuid", "sparkplug.metric.name",
             "sparkplug.metric.alias", "sparkplug.metric.long_value", "sparkplug.metric.double_value",
             "sparkplug.metric.is_null", "sparkplug.propertyset.keys",
             "sparkplug.propertyvalue.string_value"]  # fmt: skip
    (row,) = fields(pcap, names)
    parsed = P.FromString(raw)  # protobuf's own reading of the same bytes
    assert row["sparkplugb.groupid"] == "Plant" and row["sparkplugb.deviceid"] == "Dev1"
    assert row["sparkplugb.messagetype"] == "DDATA" and row["sparkplugb.edgenodeid"] == "Edge1"
    assert int(row["sparkplug.timestamp"]) == parsed.timestamp and int(row["sparkplug.seq"]) == parsed.seq
    assert row["sparkplug.uuid"] == parsed.uuid
    assert row["sparkplug.metric.name"].split("|") == [x.name for x in parsed.metrics if x.HasField("name")]
    assert row["sparkplug.metric.alias"] == "7|7" and int(row["sparkplug.metric.long_value"]) == 2**40
    assert float(row["sparkplug.metric.double_value"]) == 21.5 and row["sparkplug.metric.is_null"] == "1"
    assert row["sparkplug.propertyset.keys"] == "engUnit" and row["sparkplug.propertyvalue.string_value"] == "°C"
    got = run("-r", str(pcap), "-Y", 'sparkplug.metric.name == "Temperature"').stdout
    assert "Publish Message [spBv1.0/Plant/DDATA/Edge1/Dev1]" in got
    tree = run("-r", str(pcap), "-V", "-Y", "mqtt.msgtype == 3").stdout
    assert "Metric: Temperature (alias 7) = 21.5" in tree and "(2023-11-14 22:13:20.123 UTC)" in tree


def test_sparkplug_walker_reads_what_protobuf_reads_on_random_messages() -> None:
    P = message_classes()["Payload"]
    rng = random.Random(15)
    for _ in range(200):
        p = P(timestamp=rng.getrandbits(63), seq=rng.randrange(256))
        names = []
        for k in range(rng.randrange(5)):
            name = "".join(rng.choice("abcXYZ/é") for _ in range(rng.randrange(1, 12)))
            names.append(name)
            metric = p.metrics.add(name=name, alias=k, datatype=9, float_value=rng.random())
            if rng.random() < 0.3:
                metric.metadata.description = "d"
        raw = p.SerializeToString()
        made = decode_message(raw, "spBv1.0/g/NDATA/e", None, 0, 0, len(raw), 0)
        assert made is not None
        got = [n for top in made[2] for n in top.walk() if n.fdef is not None]
        assert [n.value for n in got if n.fdef.abbrev == "sparkplug.metric.name"] == names
        assert [n.value for n in got if n.fdef.abbrev == "sparkplug.seq"] == [p.seq]
        floats = [n.value for n in got if n.fdef.abbrev == "sparkplug.metric.float_value"]
        assert floats == [x.float_value for x in P.FromString(raw).metrics]
        assert not [n for top in made[2] for n in top.walk() if n.severity is not None]


def test_gzip_zlib_deflate_are_decoded_again(tmp_path: Path) -> None:
    doc = json.dumps({"door": "open"}).encode()
    deflate = zlib.compressobj(wbits=-15)
    pcap = write_capture(tmp_path / "z.pcap", [
        ("z/gzip", gzip.compress(doc)),
        ("z/zlib", zlib.compress(cbor2.dumps({"door": "open"}))),
        ("z/deflate", deflate.compress(doc) + deflate.flush()),
    ])  # fmt: skip
    opts = (
        "-o",
        "mqtt.decode:z/gzip=gzip",
        "-o",
        "mqtt.decode:z/zlib=zlib+cbor",
        "-o",
        "mqtt.decode:z/deflate=deflate",
    )
    got = fields(pcap, ["mqtt.msg_decoded_as", "json.key", "cbor.type.textstring", "mqtt.msg_uncompressed"], *opts)
    assert [r["mqtt.msg_decoded_as"] for r in got] == ["json", "cbor", "json"]
    assert [r["json.key"] or r["cbor.type.textstring"] for r in got] == ["door", "door|open", "door"]
    assert got[0]["mqtt.msg_uncompressed"] == doc.hex()


def test_control_characters_in_payloads_are_escaped_everywhere(tmp_path: Path) -> None:
    evil = "x\x1b]0;owned\x07\u202e"
    pcap = write_capture(tmp_path / "evil.pcap", [("e/1", json.dumps({"k\x1b[2J": evil}))])
    for args in (["-V"], ["-T", "json"], ["-T", "fields", "-e", "json.key", "-e", "json.value.string"]):
        out = run("-r", str(pcap), "-Y", "mqtt.msgtype == 3", *args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, args
        assert ("\\033" in out) or ("\\u001b" in out)
    # the filter still sees the raw value
    assert run("-r", str(pcap), "-Y", 'json.value.string contains "\\x1b]0;"').stdout.count("Publish") == 1


# -- never raise, never allocate beyond the limit ------------------------------------------------


def _notes(nodes: list[Node]) -> list[tuple[str, str]]:
    return [(str(n.severity), n.text) for top in nodes for n in top.walk() if n.severity is not None]


def test_fuzzed_payloads_never_raise(tmp_path: Path) -> None:
    rng = random.Random(1515)
    samples = [cbor2.dumps({"a": [1, 2.5, "x", b"y", {"z": None}]}), msgpack.packb({"a": [1, 2.5, "x", b"y"]}),
               json.dumps({"a": [1, {"b": "c"}]}).encode(),
               message_classes()["Payload"](seq=3, metrics=[{"name": "m", "int_value": 5}]).SerializeToString(),
               ]  # fmt: skip
    specs = ["cbor", "msgpack", "json", "sparkplug", "text"]
    for spec in specs:
        C.Config.rules = [C.rule_from(f"f/#={spec}", "test")]
        try:
            for k in range(600):
                if k % 3 == 0:  # random bytes
                    data = rng.randbytes(rng.randrange(64))
                elif k % 3 == 1:  # a valid payload cut short (truncated CBOR and friends)
                    base = rng.choice(samples)
                    data = base[: rng.randrange(len(base))]
                else:  # a valid payload with a byte flipped
                    b = bytearray(rng.choice(samples))
                    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
                    data = bytes(b)
                made = decode_message(data, "f/x", None, 0, 100, len(data), 0)
                assert made is not None
                bugs = [t for _, t in _notes(made[2]) if "decoder bug" in t]
                assert not bugs, (spec, data.hex(), bugs)
        finally:
            C.Config.rules = []
    # random bytes on a Sparkplug topic, through the whole dissector: malformed, never a traceback
    path = str(tmp_path / "spb-fuzz.pcap")
    with PcapWriter(path) as w:
        f = TcpFlow(w)
        t = f.open(1_700_000_000_000_000)
        t = f.send(0, m.connect("fuzz"), t + 1000)
        for _ in range(50):
            t = f.send(0, m.publish("spBv1.0/G/NDATA/E", rng.randbytes(rng.randrange(1, 200))), t + 1000)
    res = run("-r", path, "-V")
    assert "decoder bug" not in res.stdout and "Malformed payload (Sparkplug B)" in res.stdout


def test_a_cut_cbor_payload_is_shown_malformed_with_what_was_read(tmp_path: Path) -> None:
    raw = cbor2.dumps({"temperature": 21.5, "unit": "C"})
    pcap = write_capture(tmp_path / "cut.pcap", [("c/1", raw[:-2])])  # the last value ("C") cut off
    out = run("-r", str(pcap), "-V", "-Y", "mqtt.msgtype == 3", "-o", "mqtt.decode:c/1=cbor").stdout
    assert "Text String: temperature" in out and "Text String: unit" in out
    assert "Map: (2 pairs)" in out and "Malformed payload (CBOR): data ends where an item should be" in out
    sev = run("-r", str(pcap), "-o", "mqtt.decode:c/1=cbor", "-Y", '_ws.expert.severity == "error"').stdout
    assert "Publish Message [c/1]" in sev


def test_deeply_nested_json_is_bounded() -> None:
    data = b"[" * 200_000 + b"]" * 200_000  # valid JSON, too deep for json.loads and for any tree output
    made = decode_message(data, "d/1", "application/json", 0, 0, len(data), 0)
    assert made is not None and made[0] == "json"
    notes = _notes(made[2])
    assert notes == [(NOTE, "[Expert Info (Note): Payload (JSON): JSON nested deeper than 64 levels: not shown "
                            "further]")]  # fmt: skip
    # no content guess either way: it never finishes parsing, so it is not "unambiguous"
    assert decode_message(data, "d/1", None, 0, 0, len(data), 0) is None
    wide = json.dumps(list(range(60_000))).encode()  # 3 items a number
    made = decode_message(wide, "d/1", None, 0, 0, len(wide), 0)
    assert made is not None and any("items: the rest is not shown" in t for _, t in _notes(made[2]))


def test_gzip_bomb_stops_at_max_pdu_without_allocating_beyond_it() -> None:
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB of zeros in ~250 KiB
    assert len(bomb) < 300_000
    limit = 4 * 1024 * 1024
    old = C.Config.max_out, C.Config.rules
    C.Config.max_out, C.Config.rules = limit, [C.rule_from("b/#=gzip+json", "test")]
    try:
        tracemalloc.start()
        made = decode_message(bomb, "b/1", None, 0, 0, len(bomb), 0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        C.Config.max_out, C.Config.rules = old
    assert made is not None
    assert (ERROR, f"[Expert Info (Error): Malformed payload (gzip): decompresses to more than {limit} bytes "
                   "(--max-pdu): stopped there]") in _notes(made[2])  # fmt: skip
    assert peak < 2 * limit, peak  # the output buffer (limit + 1) and small change, never 256 MiB


def test_summary_and_plain_fields_never_load_a_decoder(tmp_path: Path) -> None:
    pcap = write_capture(tmp_path / "lazy.pcap", [("s/1", json.dumps({"a": 1})), ("c/1", cbor2.dumps([1]))])
    probe = (
        "import sys, runpy; sys.argv = ['mqttsniff', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('sniffer', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {PAYLOAD_MODULES!r} if m in sys.modules), file=sys.stderr)\n"
    )
    for args, loaded in (
        ([], "[]"),
        (["-T", "fields", "-e", "mqtt.topic", "-e", "mqtt.msg"], "[]"),
        (["-Y", "mqtt.msgid == 1"], "[]"),
        (["-V"], "['sniffer.payload.jsontree']"),
        (["-T", "fields", "-e", "cbor.type.uint", "-o", "mqtt.decode:c/#=cbor"],
         "['sniffer.payload.cbortree', 'sniffer.payload.jsontree']"),
    ):  # fmt: skip
        res = subprocess.run([sys.executable, "-c", probe, "-r", str(pcap), *args], capture_output=True, text=True,
                             cwd=REPO, env={**os.environ, "XDG_CONFIG_HOME": "/nonexistent"}, timeout=60)  # fmt: skip
        assert res.stderr.strip().splitlines()[-1] == loaded, (args, res.stderr)


@pytest.mark.parametrize("spec", ["gzip+json", "zlib+cbor", "sparkplugb", "text"])
def test_decoder_specs_parse(spec: str) -> None:
    assert C.parse_spec(spec)[-1] in C.DECODERS + C.COMPRESSIONS


def plant_capture(path: Path) -> Path:
    """The capture of the README's Payloads section (deterministic: synth's clock and sequence numbers)."""
    P = message_classes()["Payload"]
    p = P(timestamp=1_764_000_000_000, seq=42)
    p.metrics.add(name="Temperature", alias=1, datatype=10, double_value=71.25)
    p.metrics.add(name="Running", alias=2, datatype=11, boolean_value=True)
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.open(1_764_000_000_000_000)
        t = f.send(0, m.connect("edge1", version=5), t + 1000)
        t = f.send(1, m.connack(version=5), t + 1000)
        for topic, payload, props in (
            ("spBv1.0/Plant1/DDATA/Edge1/Pump7", p.SerializeToString(), None),
            ("lab/cbor", cbor2.dumps({"rpm": 1450}), {"content_type": "application/cbor"}),
            ("lab/gz", gzip.compress(json.dumps({"temperature": 21.5}).encode(), mtime=0), None),
            ("lab/json", json.dumps({"temperature": 19.0}).encode(), None),
        ):
            t = f.send(0, m.publish(topic, payload, version=5, props=props), t + 1000)
    return path


def test_readme_payloads_block_is_the_real_output(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("### Payloads\n", 1)[1].split("```\n$ mqttsniff -r plant.pcap", 1)[1].split("```", 1)[0]
    pcap = plant_capture(tmp_path / "plant.pcap")
    commands = ("$ mqttsniff -r plant.pcap" + block).split("$ mqttsniff ")[1:]
    assert len(commands) == 2
    for chunk in commands:
        head, *shown = chunk.replace("\\\n    ", "").splitlines()
        argv = [a if a != "plant.pcap" else str(pcap) for a in shlex.split(head)]
        real = [line.rstrip() for line in run(*argv).stdout.splitlines()]
        pos = 0
        for line in shown:
            if line == "…":
                continue
            while pos < len(real) and real[pos] != line.rstrip():
                pos += 1
            assert pos < len(real), f"README line not in the real output (or out of order): {line!r}"


def test_alink_json_is_named_as_such_in_the_tree() -> None:
    out = run("--demo", "-V", "-O", "mqtt", "-Y", "mqtt.msgtype == 3").stdout
    assert "JavaScript Object Notation (Alink JSON request: method thing.event.property.post, id 1, version 1.0)" in out
    assert "JavaScript Object Notation (Alink JSON reply: id " in out


def sparkplug_session(path: Path) -> Path:
    """An edge node's life: NBIRTH (bdSeq 3), DBIRTH, data by alias, a lost message, seq wrapping, NDEATH."""
    P = message_classes()["Payload"]

    def msg(seq: int | None, *metrics: dict) -> bytes:
        p = P(timestamp=1_764_000_000_000)
        if seq is not None:
            p.seq = seq
        for mt in metrics:
            p.metrics.add(**mt)
        return p.SerializeToString()

    pubs = [
        ("spBv1.0/G/NBIRTH/E", msg(0, {"name": "bdSeq", "datatype": 8, "long_value": 3},
                                   {"name": "Temperature", "alias": 1, "datatype": 10, "double_value": 20.0})),
        ("spBv1.0/G/DBIRTH/E/D", msg(1, {"name": "Speed", "alias": 7, "datatype": 3, "int_value": 0})),
        ("spBv1.0/G/NDATA/E", msg(2, {"alias": 1, "datatype": 10, "double_value": 21.0})),
        ("spBv1.0/G/DDATA/E/D", msg(4, {"alias": 7, "datatype": 3, "int_value": 5}, {"alias": 9, "int_value": 1})),
    ]  # fmt: skip
    pubs += [("spBv1.0/G/NDATA/E", msg(s, {"alias": 1, "double_value": 1.0})) for s in range(5, 256)]
    pubs += [("spBv1.0/G/NDATA/E", msg(0, {"alias": 1, "double_value": 1.0}))]  # 255 -> 0: no gap
    pubs += [("spBv1.0/G/NDEATH/E", msg(None, {"name": "bdSeq", "datatype": 8, "long_value": 2}))]
    pubs += [("spBv1.0/H/NDATA/E2", msg(9, {"alias": 1, "double_value": 1.0}))]  # never born in the capture
    return write_capture(path, pubs)


def test_sparkplug_state_births_seq_gaps_bdseq_and_aliases(tmp_path: Path) -> None:
    pcap = sparkplug_session(tmp_path / "spb-session.pcap")
    out = run("-r", str(pcap), "-Y", "mqtt.msgtype == 3", "-T", "fields", "-E", "aggregator=|",
              "-e", "sparkplugb.messagetype", "-e", "_ws.expert.message").stdout.splitlines()  # fmt: skip
    rows = [line.split("\t") for line in out]
    assert rows[0] == ["NBIRTH", "Edge node G/E born (bdSeq 3, seq 0, 2 metrics)"]
    assert rows[1] == ["DBIRTH", ""]
    assert rows[2] == ["NDATA", "Metric aliases: 1 = 'Temperature' (birth in frame 8)"]
    assert rows[3][1].split("|") == [
        "seq 4 from G/E/D after 2: 1 message of the edge node missing (or out of order)",
        "Metric aliases: 7 = 'Speed' (birth in frame 10), 9 = unknown",
    ]
    wrapped = [r for r in rows if r[0] == "NDATA"][-2]  # seq 0 after 255
    assert "seq" not in wrapped[1] and wrapped[1].startswith("Metric aliases: 1 = ")
    assert rows[-2] == ["NDEATH", "Edge node G/E dead (bdSeq 2)|NDEATH bdSeq 2 does not match bdSeq 3 of the NBIRTH"
                        " in frame 8: a death of another session"]  # fmt: skip
    assert rows[-1][1] == "NDATA from H/E2 before any NBIRTH of its edge node in this capture (started mid-session?)"
    gaps = run("-r", str(pcap), "-Y", "mqtt.analysis.sparkplug_seq_gap || mqtt.analysis.sparkplug_bdseq_mismatch")
    assert gaps.stdout.count("Publish Message") == 2


def test_payload_fields_are_in_the_glossary() -> None:
    names = {line.split("\t")[2] for line in run("-G", "fields").stdout.splitlines()}
    for name in ("mqtt.msg_decoded_as", "json.key", "json.member_with_value", "cbor.type.textstring", "msgpack.string",
                 "sparkplugb.groupid", "sparkplug.seq", "sparkplug.metric.name", "sparkplug.metric.alias",
                 "mqtt.analysis.sparkplug_seq_gap"):  # fmt: skip
        assert name in names, name


def test_readme_credentials_example_is_the_real_output() -> None:
    block = (REPO / "README.md").read_text().split("$ mqttsniff --demo -Y aliyun ", 1)[1].split("```", 1)[0]
    head, *shown = block.splitlines()
    assert run("--demo", "-Y", "aliyun", *shlex.split(head)).stdout.splitlines() == shown
