"""frame.protocols after `mqtt`, as tshark lists it: the layers of the dissectors an MQTT 5 PUBLISH's Content Type
hands its payload to (`mqtt:json`, `mqtt:json:data-text-lines`, `mqtt:xml`, `mqtt:cbor`, `mqtt:data`, ...).

Whether a JSON payload ends in `json` or `json:data-text-lines` is whether tshark's JSON parser reads all of it
(sniffer.mqtt.json_grammar): measured here against tshark on hand-picked payloads, nesting at the parser's
recursion limit and a seeded fuzz of mutated documents, both through the fast path and the rules alone.
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

from conftest import sniff_out as run
from conftest import tshark_out
from test_content_type_summary import PAYLOAD_DEPENDENT, PLAIN, capture, publish

from sniffer.mqtt import json_grammar, media
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList

# (the Protocol column too: after a PDU finished from earlier segments with more behind it, TCP keeps the column
# that PDU set, MQTT/JSON before a PINGREQ)
FIELDS = ("-T", "fields", "-e", "frame.number", "-e", "frame.protocols", "-e", "_ws.col.Protocol")
BODIES = (b"", b"a", b'{"a":1}', b"<a>1</a>", b"\x00\x01\xff\xfe")


def protocols(tshark: str, path: Path) -> list[str]:
    """tshark's frame.protocols of every frame of `path`, checked equal to ours with the Protocol column (-T
    fields), and -V's line."""
    ours = run("-r", str(path), *FIELDS).splitlines()
    theirs = tshark_out(tshark, "-r", str(path), *FIELDS).splitlines()
    assert ours == theirs
    line = re.compile(r"^    \[Protocols in frame: .*\]$", re.M)
    assert line.findall(run("-r", str(path), "-V")) == line.findall(tshark_out(tshark, "-r", str(path), "-V"))
    return [ln.split("\t")[1] for ln in theirs]


def test_every_type_with_payloads_of_every_kind(tmp_path: Path, tshark: str) -> None:
    types = [*media.LAYERS, *PLAIN, "Application/JSON", "TEXT/Plain", "Application/XML", "APPLICATION/CBOR"]
    segs = [[publish(len(types) * k + i, t, body)] for k, body in enumerate(BODIES) for i, t in enumerate(types)]
    got = protocols(tshark, capture(tmp_path / "types.pcap", segs))
    # each layer shows up, and the empty payload's rule: only xml and cbor keep their layer on nothing
    for layer in set(media.LAYERS.values()):
        assert any(p.endswith(f"mqtt:{layer}") for p in got), layer
    assert any(p.endswith("mqtt:json:data-text-lines") for p in got)
    assert sum(p.endswith("mqtt") for p in got[len(types) : 2 * len(types)]) > 0  # empty payloads: often nothing


def test_several_publishes_reassembly_and_odd_types(tmp_path: Path, tshark: str) -> None:
    """PDU after PDU in one segment (no repeated `mqtt`, repeated payload layers), a JSON PUBLISH reassembled
    from three segments, NUL-cut and case-folded types, and a stream caught after its CONNECT (3.1.1 to
    tshark: no Content Type read)."""
    j, t, x = "application/json", "text/plain", "application/xml"
    segs = [
        [publish(0, j), publish(1, j)],
        [publish(2, j, b"bad"), publish(3, j)],
        [publish(4, t, b"x"), publish(5, j, b"[1 2]")],
        [publish(6, x, b"<a/>"), publish(7, j), publish(8, x, b"")],
        [publish(9, "application/cbor", b"\x01"), publish(10, "application/octet-stream", b"z"), publish(11, None)],
        [publish(12, "application/json\0xyz", b"{}{}")],
        [publish(13, "application/x-rtsp-udp-pac\u212aetpair", b"x")],
    ]
    big = publish(14, j, b'{"v":"' + b"x" * 3000 + b'"}')
    segs += [[big[:1000]], [big[1000:2000]], [big[2000:]]]
    # a segment that ends a PUBLISH begun earlier and holds more PDUs: tshark dissects the rest apart, `mqtt` again
    a, b = publish(15, j, b'{"v":"' + b"x" * 100 + b'"}'), publish(16, None, b"zz")
    segs += [[a[:20]], [a[20:] + publish(17, j, b"{}") + publish(18, j, b"[]")], [b[:10]], [b[10:] + publish(19, None)],
             [a[:30]], [a[30:] + E.pingreq()], [b[:10]], [b[10:] + publish(20, j, b"{}")], [a[:5]], [a[5:50]],
             [a[50:] + publish(21, t, b"t") + publish(22, j, b"{}")[:10]], [publish(22, j, b"{}")[10:]]]  # fmt: skip
    got = protocols(tshark, capture(tmp_path / "pdus.pcap", segs))
    assert any(p.endswith("mqtt:json:mqtt:json:json") for p in got)
    assert any(p.endswith("mqtt:mqtt:json") for p in got) and any(p.endswith("mqtt:mqtt") for p in got)
    assert any(p.endswith("mqtt:json:json") for p in got)
    assert any(p.endswith("mqtt:xml:json:xml") for p in got)
    assert any(p.endswith("mqtt:cbor:data") for p in got)
    columns = [ln.split("\t")[2] for ln in run("-r", str(tmp_path / "pdus.pcap"), *FIELDS).splitlines()]
    assert "eth:ethertype:ip:tcp:mqtt:json:mqtt\tMQTT/JSON" in [f"{p}\t{c}" for p, c in zip(got, columns, strict=True)]
    fl = FrameList()
    flow = TcpFlow(fl)
    at = flow.open(1_000_000)  # no CONNECT
    for i in range(3):
        at = flow.send(0, publish(i, j, qos=1, msgid=i + 1), at + 1000)
    fl.save(str(tmp_path / "late.pcap"))
    assert not any("json" in p for p in protocols(tshark, tmp_path / "late.pcap"))


def test_payload_dependent_types_are_not_named(tmp_path: Path, tshark: str) -> None:
    """The README's difference, asserted on both sides: tshark lists what these dissectors make of the payload;
    we list none of them (their layers depend on more than the type)."""
    segs = [[publish(i, t, b"ab")] for i, t in enumerate(PAYLOAD_DEPENDENT)]
    path = capture(tmp_path / "dependent.pcap", segs)
    ours = [ln.split("\t")[1] for ln in run("-r", str(path), *FIELDS).splitlines()]
    theirs = [ln.split("\t")[1] for ln in tshark_out(tshark, "-r", str(path), *FIELDS).splitlines()]
    mqtt = [k for k, p in enumerate(theirs) if ":mqtt" in p][2:]  # (after the CONNECT and CONNACK)
    assert len(mqtt) == len(PAYLOAD_DEPENDENT)
    assert all(not theirs[k].endswith("mqtt") and ours[k].endswith("mqtt") for k in mqtt)


# one level of nesting: the inner value first, or after a sibling (which costs tshark's parser more levels)
_LEVELS = {"a": (b"[", b"]"), "o": (b'{"k":', b"}"), "A": (b"[0,", b"]"), "O": (b'{"a":0,"k":', b"}")}


def _nest(n: int, inner: bytes, kinds: str) -> bytes:
    s = inner
    for i in range(n):
        head, tail = _LEVELS[kinds[i % len(kinds)]]
        s = head + s + tail
    return s


# what RFC 8259 and tshark's parser disagree on, and its edges
PICKED = (
    b"{}", b"[]", b"{}\n\n", b"{} []", b"{}{}", b"\r\n\t{}", b' {"a":1}\n', b"\xef\xbb\xbf{}", b"1", b'"s"', b"true",
    b"1 ", b"[1 2]", b"[1,]", b"[,1]", b'{"a":1,}', b'{"a":1 "b":2}', b'{"a":1,,"b":2}', b'{"a":}', b"{a:1}",
    b"{'a':1}", b'{"a":1} x', b'{"a":1}\x00', b"x{}", b"[1,2", b'{"a":01}', b'{"a":-01}', b'{"a":0e1}', b'{"a":1.}',
    b'{"a":.5}', b'{"a":+1}', b'{"a":1e}', b'{"a":1E+2}', b'{"a":-}', b'{"a":-0}', b'{"a":NaN}', b'{"a":Infinity}',
    b'{"a":TRUE}', b'{"a":nul}', b'{"a":"\\u00e9"}', b'{"a":"\\u12"}', b'{"a":"\\u00G0"}', b'{"a":"\\x"}',
    b'{"a":"\\/"}', b'{"a":"\\ n"}', b'{"a":"x\ny"}', b'{"a":"\t"}', b'{"a":"\xff"}', b'{"a":"\x01"}', b'{"":1}',
    b'{"a":"\\""}', b'{"a":[1,{"b":null}],"c":false}', b'{"a" : 1 }', b"{,}", b'{"a"}', b"{1:2}", b'{"a":1}}',
    b'{"a":[}', b"[true,false,null,NaN]", b"\x00\x01\xff", b"[1.5 e3]", b"[- 1]", b"[1.]", b"[[]]]",
)  # fmt: skip


def _fuzz(n: int, seed: int) -> list[bytes]:
    """Documents of random shape, half of them mutated (bytes dropped, inserted, replaced), spaced, or followed."""
    rnd = random.Random(seed)
    atoms = (b"1", b"-0.5e+3", b'"s"', b"true", b"false", b"null", b"NaN", b"{}", b"[]", b'"\\u00e9"', b"0", b"12")
    toks = list(b'{}[],:"\\ \t\n\r0123456789-+.eEtruefalsnNaI\x00\xff/u')

    def val(d: int) -> bytes:
        if d <= 0 or rnd.random() < 0.25:
            return rnd.choice(atoms)
        items = [val(d - 1) for _ in range(rnd.randint(0, 3))]
        if rnd.random() < 0.5:
            return b"[" + b",".join(items) + b"]"
        return b"{" + b",".join(b'"k%d":' % i + v for i, v in enumerate(items)) + b"}"

    out = []
    while len(out) < n:
        b = val(rnd.randint(0, 6))
        r = rnd.random()
        if r < 0.4:
            m = bytearray(b)
            for _ in range(rnd.randint(1, 3)):
                op, k = rnd.random(), rnd.randint(0, len(m))
                if m and op < 0.33:
                    del m[min(k, len(m) - 1)]
                elif op < 0.66:
                    m.insert(k, rnd.choice(toks))
                elif m:
                    m[min(k, len(m) - 1)] = rnd.choice(toks)
            b = bytes(m)
        elif r < 0.55:
            b = b"".join(bytes([c]) + rnd.choice((b" ", b"\n", b"\t", b"")) for c in b)
        elif r < 0.65:
            b += rnd.choice((b"{}", b" []", b"x", b"\n", b"1", b",{}"))
        if b:
            out.append(b)
    return out


def test_json_payloads_are_read_as_tsharks_parser_reads_them(tmp_path: Path, tshark: str) -> None:
    shapes = [(n, inner, kinds) for n in range(10, 27) for inner in (b"1", b'"\\u0041"', b"{}", b'{"a":1}', b"NaN")
              for kinds in ("a", "o", "ao", "oa", "aao", "ooa", "A", "O", "OA", "aO")]  # fmt: skip
    deep = [_nest(*shape) for shape in shapes]
    bodies = [*PICKED, *deep, *_fuzz(1500, 17)]
    got = protocols(tshark, capture(tmp_path / "json.pcap", [[publish(i, "application/json", b)] for i, b in
                                                            enumerate(bodies)]))  # fmt: skip
    verdicts = [p.split("mqtt:", 1)[1] for p in got if "mqtt:" in p]
    assert len(verdicts) == len(bodies)
    for body, verdict in zip(bodies, verdicts, strict=True):
        whole = verdict == "json"
        assert verdict in ("json", "json:data-text-lines")
        assert json_grammar.is_whole(body) == json_grammar.by_rules(body) == whole, body
    assert 400 < verdicts.count("json") < len(bodies) - 400  # both verdicts, many times
    # the fast path's bound: tshark refuses no document nested at most FAST_NESTING deep, and one just past it
    nesting = [n + (inner[:1] in (b"{", b"[")) for n, inner, _kinds in shapes]
    refused = [d for d, v in zip(nesting, verdicts[len(PICKED) :], strict=False) if v != "json"]
    assert min(refused) == json_grammar.FAST_NESTING + 2


def test_a_live_capture_of_real_clients_lists_tsharks_protocols(tmp_path: Path, tshark: str) -> None:
    """paho MQTT 5 clients through mosquitto, captured by `mqttsniff -i lo -w F`: frame.protocols of F as tshark's."""
    from capture_helpers import _Client
    from conftest import start_broker
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from test_capture_live import start_cli, stop_cli

    with start_broker(tmp_path) as broker:
        proc, err = start_cli(broker.port, "-w", str(tmp_path / "live.pcapng"))
        try:
            pub = _Client(broker.port, "fp-pub", v5=True)
            sent = [("application/json", b'{"t":21.5}'), ("application/json", b"21.5"), ("text/plain", b"on"),
                    ("application/cbor", b"\xa1\x61t\x01")]  # fmt: skip
            for i, (ctype, body) in enumerate(sent):
                props = Properties(PacketTypes.PUBLISH)
                props.ContentType = ctype
                pub.publish(f"fp/{i}", body, 1, props=props)
            pub.disconnect()
            import time

            time.sleep(0.5)
        finally:
            stop_cli(proc, err)
    args = ("-r", str(tmp_path / "live.pcapng"), "-d", f"tcp.port=={broker.port},mqtt", *FIELDS)
    ours = run(*args).splitlines()
    assert ours == subprocess.run([tshark, *args], capture_output=True, text=True, check=True).stdout.splitlines()
    text = "\n".join(ours)
    assert "mqtt:json\tMQTT/JSON" in text and "mqtt:json:data-text-lines" in text and "mqtt:cbor" in text
