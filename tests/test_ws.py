"""MQTT over WebSocket (ws:// and wss://): real sessions with an amqtt broker's WebSocket listeners,
paho-mqtt (transport="websockets") and MQTT.js clients, captured live on lo; tshark as the oracle for
every websocket.* and http.* field (it stops at websocket, so the MQTT PDUs are checked against what
the clients sent and received); generated captures (sniffer.synth) for fragmentation, control frames
and bad input."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capture_helpers import Tcpdump, needs_root
from conftest import REPO, free_port, require_tool
from tls_helpers import make_certs

from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter

NODE_DIR = REPO / "tests" / "node"
WS_FIELDS = [
    "websocket.fin", "websocket.rsv", "websocket.pmc", "websocket.opcode", "websocket.mask", "websocket.masking_key",
    "websocket.payload_length", "websocket.payload_length_ext_16", "websocket.payload_length_ext_64",
    "websocket.payload.close.status_code", "websocket.payload.close.reason", "websocket.payload.ping",
    "websocket.payload.pong", "websocket.payload.text",
    "http.request.method", "http.request.uri", "http.request.version", "http.response.code",
    "http.response.phrase", "http.upgrade", "http.connection", "http.host", "http.sec_websocket_protocol",
    "http.sec_websocket_key", "http.sec_websocket_accept", "http.sec_websocket_version", "http.request",
    "http.response",
]  # fmt: skip
MQTT_FIELDS = ["mqtt.msgtype", "mqtt.topic", "mqtt.len", "mqtt.client"]
# paho publishes these; 300 bytes takes a 16-bit WebSocket length, 70,000 a 64-bit one
PAHO_MESSAGES = [("pws/a", 10, 1), ("pws/b", 300, 1), ("pws/c", 70_000, 0), ("pws/d", 5, 2)]
JS_MESSAGES = [("jws/a", 20, 1), ("jws/b", 1000, 0), ("jws/c", 66_000, 1)]


def tshark_ws_protocols(protocols: str) -> str:
    """tshark's frame.protocols with its per-WebSocket-frame repeats folded into one, MQTT where it says data."""
    head, ws, rest = protocols.partition(":http:websocket")
    return head + ws + (":mqtt" if ":data" in rest else "") if ws else protocols


def fields_args(fields: list[str]) -> list[str]:
    return ["-T", "fields", "-E", "aggregator=|", *(a for f in fields for a in ("-e", f))]


def mqttsniff(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    if ok:
        assert res.returncode == 0, res.stderr
        assert res.stderr == "", res.stderr
    return res


def tshark_rows(pcap: Path, fields: list[str], *extra: str) -> list[str]:
    res = subprocess.run(
        [require_tool("tshark"), "-r", str(pcap), *extra, *fields_args(fields)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def column(rows: list[str], k: int) -> list[str]:
    return [v for r in rows for v in r.split("\t")[k].split("|") if v]


# -- real parts ------------------------------------------------------------------------------------


@contextlib.contextmanager
def ws_broker(workdir: Path, tls: bool = False):
    """amqtt with one WebSocket listener (ws://, or wss:// with an openssl-made certificate) on a free port."""
    exe = Path(sys.executable).parent / "amqtt"
    if not exe.exists():
        pytest.fail("amqtt is not installed: run the README's test command (pip install -e '.[test]')")
    port = free_port()
    conf = workdir / "amqtt.yaml"
    ssl_conf = ""
    ca = None
    if tls:
        ca, cert, key = make_certs(workdir)
        ssl_conf = f"    ssl: on\n    certfile: {cert}\n    keyfile: {key}\n"
    conf.write_text(
        f"listeners:\n  default:\n    type: ws\n    bind: 127.0.0.1:{port}\n{ssl_conf}"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
    )
    log = (workdir / "amqtt.log").open("w")
    proc = subprocess.Popen([str(exe), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"amqtt did not start: {(workdir / 'amqtt.log').read_text()}")
            time.sleep(0.05)
    try:
        yield port, ca
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def paho_ws_session(port: int, ctx: ssl.SSLContext | None = None) -> list[tuple[str, int]]:
    """A paho subscriber and publisher over WebSocket; returns what the subscriber received."""
    import paho.mqtt.client as mqtt

    got: list[tuple[str, int]] = []
    clients = []
    for cid in ("paho-ws-sub", "paho-ws-pub"):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, transport="websockets")
        if ctx is not None:
            c.tls_set_context(ctx)
        c.connect("localhost" if ctx is not None else "127.0.0.1", port)
        c.loop_start()
        deadline = time.monotonic() + 10
        while not c.is_connected():
            assert time.monotonic() < deadline, f"{cid}: no CONNACK"
            time.sleep(0.01)
        clients.append(c)
    sub, pub = clients
    subscribed: list[int] = []
    sub.on_subscribe = lambda *a: subscribed.append(1)
    sub.on_message = lambda _c, _u, m: got.append((m.topic, len(m.payload)))
    sub.subscribe("pws/#", qos=2)
    deadline = time.monotonic() + 10
    while not subscribed:
        assert time.monotonic() < deadline, "no SUBACK"
        time.sleep(0.01)
    for topic, size, qos in PAHO_MESSAGES:
        pub.publish(topic, b"p" * size, qos=qos).wait_for_publish(10)
    deadline = time.monotonic() + 10
    while len(got) < len(PAHO_MESSAGES):
        assert time.monotonic() < deadline, f"received only {got}"
        time.sleep(0.01)
    for c in clients:
        c.disconnect()
        c.loop_stop()
    return got


def node_session(url: str, cid: str, ca: Path | None = None, keylog: Path | None = None) -> list[list]:
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / "mqtt").is_dir():
        pytest.fail("MQTT.js is not installed: run the README's test command (npm install --prefix tests/node)")
    cmd = [node, *([f"--tls-keylog={keylog}"] if keylog else []), str(NODE_DIR / "ws_client.js"), url, cid,
           str(ca or ""), json.dumps(JS_MESSAGES)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, tuple[Path, int, list]]:
    """ws:// sessions of paho and MQTT.js, each captured on lo by tcpdump: name -> (pcap, port, received)."""
    require_tool("tcpdump")
    if os.geteuid() != 0:
        pytest.fail("live capture needs root: run the README's test command as root")
    out = {}
    for name in ("paho", "mqttjs"):
        work = tmp_path_factory.mktemp(name)
        with ws_broker(work) as (port, _ca):
            pcap = work / f"{name}.pcap"
            dump = Tcpdump("lo", f"tcp port {port}", pcap)
            try:
                if name == "paho":
                    got = paho_ws_session(port)
                else:
                    got = node_session(f"ws://127.0.0.1:{port}/mqtt", "mqttjs-ws")
                time.sleep(0.3)
            finally:
                dump.stop()
        out[name] = (pcap, port, got)
    return out


def publishes(pcap: Path, *opts: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    """(topic, payload length) of each PUBLISH client → broker and broker → client, and every msgtype."""
    fields = ["mqtt.msgtype", "mqtt.topic", "mqtt.msg", "mqtt.direction"]
    rows = mqttsniff("-r", str(pcap), *opts, *fields_args(fields)).stdout.splitlines()
    up: list[tuple[str, int]] = []
    down: list[tuple[str, int]] = []
    types: list[str] = []
    for r in rows:
        t, topics, msgs, dirs = (c.split("|") for c in r.split("\t"))
        types += [x for x in t if x]
        k = 0
        for i, mt in enumerate(t):
            if mt == "3":
                (up if dirs[i] == "0" else down).append((topics[k], len(msgs[k]) // 2))
                k += 1
    return up, down, types


# -- tests over real sessions ----------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("name", ["paho", "mqttjs"])
def test_websocket_and_http_fields_agree_with_tshark(captures, name):
    """Every websocket.* and http.* field, frame by frame, as tshark decodes the same capture."""
    pcap, _port, _got = captures[name]
    ours = mqttsniff("-r", str(pcap), *fields_args(["frame.number", *WS_FIELDS])).stdout.splitlines()
    theirs = tshark_rows(pcap, ["frame.number", *WS_FIELDS])
    assert ours == theirs
    opcodes = column(theirs, 1 + WS_FIELDS.index("websocket.opcode"))
    assert opcodes.count("2") >= 10  # the comparison covered real binary frames…
    assert column(theirs, 1 + WS_FIELDS.index("websocket.payload_length_ext_16"))  # …16-bit lengths
    assert column(theirs, 1 + WS_FIELDS.index("websocket.payload_length_ext_64"))  # …and 64-bit ones


@needs_root
@pytest.mark.parametrize("name", ["paho", "mqttjs"])
def test_mqtt_pdus_are_what_the_clients_sent_and_received(captures, name):
    pcap, _port, got = captures[name]
    messages = PAHO_MESSAGES if name == "paho" else JS_MESSAGES
    up, down, types = publishes(pcap)
    sent = sorted((t, n) for t, n, _q in messages)
    assert sorted(up) == sent  # every PUBLISH sent, once, with its whole payload
    assert sorted(down) == sent  # and delivered back to the subscriber
    assert sorted(tuple(x) for x in got) == sent  # (what the client saw)
    clients = 2 if name == "paho" else 1
    assert types.count("1") == clients and types.count("2") == clients  # CONNECT, CONNACK
    assert types.count("8") == 1 and types.count("9") == 1 and types.count("14") == clients  # SUBSCRIBE, DISCONNECT
    # the session layer sees them as for plain TCP: client ids, -z mqtt,topics
    rows = mqttsniff("-r", str(pcap), "-Y", "mqtt.msgtype == 3", *fields_args(["mqtt.client"])).stdout.split()
    assert {c for r in rows for c in r.split("|")} == (
        {"paho-ws-sub", "paho-ws-pub"} if name == "paho" else {"mqttjs-ws"}
    )
    topics = mqttsniff("-r", str(pcap), "-q", "-z", "mqtt,topics").stdout
    for t, _n, _q in messages:
        assert f"  {t.split('/')[1]} " in topics


@needs_root
def test_mqttjs_connect_sent_as_several_frames_decodes(captures):
    """MQTT.js writes a CONNECT piece by piece, each a WebSocket frame (permessage-deflate compressed
    when the broker agrees, as amqtt's does): the CONNECT decodes from them."""
    pcap, _port, _got = captures["mqttjs"]
    rows = mqttsniff("-r", str(pcap), "-Y", "mqtt.msgtype == 1", *fields_args(["frame.number", "mqtt.clientid"]))
    (row,) = rows.stdout.splitlines()
    frame, cid = row.split("\t")
    assert cid == "mqttjs-ws"
    theirs = tshark_rows(
        pcap, ["frame.number", "websocket.opcode"], "-Y", f"websocket.mask == 1 && frame.number <= {frame}"
    )
    assert len(column(theirs, 1)) >= 2  # tshark: the client sent several WebSocket frames up to it
    tree = mqttsniff("-r", str(pcap), "-V", "-x", "-Y", "mqtt.msgtype == 1").stdout
    assert "Reassembled WebSocket (" in tree and "Client ID: mqttjs-ws" in tree


@needs_root
def test_tree_has_http_websocket_and_mqtt_and_an_unmasked_data_source(captures):
    pcap, port, _got = captures["paho"]
    out = mqttsniff("-r", str(pcap), "-V", "-x", "-Y", "mqtt.msgtype == 1").stdout
    for text in ("WebSocket\n", "= Mask: True", "Masking-Key: ", "MQ Telemetry Transport Protocol, Connect Command",
                 "Unmasked data (", "Client ID: paho-ws-sub"):  # fmt: skip
        assert text in out
    http = mqttsniff("-r", str(pcap), "-V", "-Y", "http.response.code == 101").stdout
    assert "HTTP/1.1 101 Switching Protocols\\r\\n" in http and "Sec-WebSocket-Protocol: mqtt\\r\\n" in http
    summary = mqttsniff("-r", str(pcap)).stdout.splitlines()
    assert any(" HTTP " in line and "GET /" in line for line in summary)
    assert sum(" MQTT " in line for line in summary) >= 10
    # frame.protocols as tshark's, MQTT where tshark stops at data
    protocols = mqttsniff("-r", str(pcap), *fields_args(["frame.protocols"])).stdout.splitlines()
    theirs = tshark_rows(pcap, ["frame.protocols"])
    # tshark lists its layers once per WebSocket frame in a segment: "websocket:data:data", or
    # "http:websocket:data:http:websocket:data" when a frame's end and the next frame share it
    assert [tshark_ws_protocols(p) for p in theirs] == protocols
    fields = mqttsniff("-G", "fields").stdout
    for f in ("websocket.opcode", "websocket.masking_key", "http.sec_websocket_protocol"):
        assert f"\t{f}\t" in fields


@needs_root
def test_live_capture_decodes_mqtt_over_websocket(tmp_path):
    with ws_broker(tmp_path) as (port, _ca):
        fields = fields_args(["mqtt.msgtype", "mqtt.topic", "websocket.opcode"])
        written = tmp_path / "live.pcapng"
        cmd = [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", "-w", str(written), *fields]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        err = b""
        while b"capturing on" not in err:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, err
            err += chunk
        try:
            paho_ws_session(port)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            out, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, (err + rest).decode()
    rows = out.decode().splitlines()
    types = column(rows, 0)
    assert types.count("3") == 2 * len(PAHO_MESSAGES)
    assert sorted(t for t in column(rows, 1) if t != "pws/#") == sorted([t for t, _n, _q in PAHO_MESSAGES] * 2)
    # the file it wrote reads back the same
    again = mqttsniff("-r", str(written), *fields_args(["mqtt.msgtype", "mqtt.topic", "websocket.opcode"]))
    assert again.stdout.splitlines() == rows


@needs_root
def test_wss_decrypts_tls_then_websocket_then_mqtt(tmp_path):
    """wss://: TLS 1.3 with a key log (paho through Python's ssl, MQTT.js with node --tls-keylog)."""
    keylog = tmp_path / "keys.log"
    with ws_broker(tmp_path, tls=True) as (port, ca):
        pcap = tmp_path / "wss.pcap"
        dump = Tcpdump("lo", f"tcp port {port}", pcap)
        try:
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.keylog_filename = str(keylog)
            got = paho_ws_session(port, ctx)
            js = node_session(f"wss://localhost:{port}/mqtt", "mqttjs-wss", ca, keylog)
            time.sleep(0.3)
        finally:
            dump.stop()
    assert len(got) == len(PAHO_MESSAGES) and len(js) == len(JS_MESSAGES)
    opts = ["-d", f"tcp.port=={port},tls", "-o", f"tls.keylog_file:{keylog}"]
    up, down, types = publishes(pcap, *opts)
    sent = sorted([(t, n) for t, n, _q in PAHO_MESSAGES] + [(t, n) for t, n, _q in JS_MESSAGES])
    assert sorted(up) == sent and sorted(down) == sent
    assert types.count("1") == 3
    # the three layers in one tree
    tree = mqttsniff("-r", str(pcap), *opts, "-V", "-Y", 'mqtt.msgtype == 1 && mqtt.clientid == "mqttjs-wss"').stdout
    tls_at, ws_at, mqtt_at = (tree.find(s) for s in ("\nTransport Layer Security", "\nWebSocket", "\nMQ Telemetry"))
    assert 0 <= tls_at < ws_at < mqtt_at, tree
    # tshark decrypts the same file and decodes its WebSocket frames (it stops there): same fields
    tshark_opts = ["-d", f"tcp.port=={port},tls", "-o", f"tls.keylog_file:{keylog}", "-d", f"tls.port=={port},http"]
    theirs = tshark_rows(pcap, ["frame.number", *WS_FIELDS], *tshark_opts)
    ours = mqttsniff("-r", str(pcap), *opts, *fields_args(["frame.number", *WS_FIELDS])).stdout.splitlines()
    assert column(theirs, 1 + WS_FIELDS.index("websocket.opcode"))
    assert ours == theirs
    # the TLS layer names HTTP as its application data, and frame.protocols runs tls:http:websocket (MQTT on
    # top where tshark says data; its x509 certificate layers are the TLS layer's business)
    layers = ["frame.number", "tls.app_data_proto", "frame.protocols"]
    theirs = tshark_rows(pcap, layers, *tshark_opts)
    ours = mqttsniff("-r", str(pcap), *opts, *fields_args(layers)).stdout.splitlines()
    # (tshark repeats tls, and http:websocket:data, per TLS record of the frame: once here; data is any
    # payload, mqtt a PDU completed: both left out)
    theirs = [re.sub(r"(:x509\w+)+", "", r).replace(":websocket:data", ":websocket") for r in theirs]
    theirs = [re.sub(r"(:tls)+", ":tls", re.sub(r"(:http:websocket)+", ":http:websocket", r)) for r in theirs]
    assert [r.split("\t")[2] for r in theirs] == [r.split("\t")[2].removesuffix(":mqtt") for r in ours]
    # (tshark also names it on records whose HTTP message completes in a later frame)
    named = {tuple(r.split("\t")[:2]) for r in ours if r.split("\t")[1]}
    assert len(named) > 10 and named <= {tuple(r.split("\t")[:2]) for r in theirs}


# -- generated captures: framing corner cases and bad input ----------------------------------------

UPGRADE = (
    b"GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
)
SWITCHED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
)
KEY = bytes.fromhex("37fa213d")


def wsframe(
    opcode: int, payload: bytes, fin: bool = True, key: bytes | None = KEY, rsv: int = 0, form: int = 0
) -> bytes:
    """One RFC 6455 frame; `form` forces the 16-bit (126) or 64-bit (127) length form."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    m = 0x80 if key else 0
    if form == 127 or n > 0xFFFF:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    elif form == 126 or n > 125:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | n])
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def write_flow(path: Path, turns: list[tuple[int, bytes | list[bytes]]], port: int = 8083, close: bool = True) -> Path:
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, server=("10.0.0.1", port))
        t = flow.open(1_700_000_000_000_000)
        flow.send(0, UPGRADE, t + 1000)
        t = flow.send(1, SWITCHED, t + 2000)
        for side, data in turns:
            t = flow.send(side, data, t + 1000)
        if close:
            flow.close(t + 1000)
    return path


def test_mqtt_split_over_frames_and_several_in_one_frame(tmp_path):
    """A PUBLISH over three frames (binary + continuations, each in its own segment), then a frame holding
    three PDUs (16-bit length form), then a 64-bit length form: every PDU decodes, agreeing with tshark."""
    connect = E.connect("split-client")
    pub = E.publish("s/t", b"x" * 400, qos=1, msgid=7)
    three = E.publish("s/a", b"1") + E.publish("s/b", b"2") + E.pingreq()
    pcap = write_flow(tmp_path / "split.pcap", [
        (0, wsframe(2, connect[:1], fin=False) + wsframe(0, connect[1:])),
        (1, wsframe(2, E.connack(), key=None)),
        (0, wsframe(2, pub[:5], fin=False)), (0, wsframe(0, pub[5:200], fin=False)), (0, wsframe(0, pub[200:])),
        (0, wsframe(2, three, form=126)),
        (0, wsframe(2, E.publish("s/c", b"y" * 10), form=127)),
        (0, wsframe(9, b"are you there")), (1, wsframe(10, b"are you there", key=None)),
        (0, wsframe(8, (1000).to_bytes(2, "big") + b"bye now")), (1, wsframe(8, (1000).to_bytes(2, "big"), key=None)),
    ])  # fmt: skip
    rows = mqttsniff("-r", str(pcap), *fields_args(["mqtt.msgtype", "mqtt.topic", "mqtt.clientid"])).stdout
    lines = rows.splitlines()
    assert column(lines, 0) == ["1", "2", "3", "3", "3", "12", "3"]
    assert column(lines, 1) == ["s/t", "s/a", "s/b", "s/c"]
    assert column(lines, 2) == ["split-client"]
    ours = mqttsniff("-r", str(pcap), *fields_args(["frame.number", *WS_FIELDS])).stdout.splitlines()
    theirs = tshark_rows(pcap, ["frame.number", *WS_FIELDS], "-d", "tcp.port==8083,http")
    assert ours == theirs
    close = column(theirs, 1 + WS_FIELDS.index("websocket.payload.close.status_code"))
    assert close == ["1000", "1000"] and column(theirs, 1 + WS_FIELDS.index("websocket.payload.close.reason"))
    v = mqttsniff("-r", str(pcap), "-V", "-x").stdout
    assert "Reassembled WebSocket (410 bytes)" in v  # the PUBLISH's bytes from three frames in three segments
    assert "Reassembled WebSocket (26 bytes)" not in v  # the CONNECT's two frames lie in one segment
    assert "Status code: Normal Closure (1000)" in v and "Reason: bye now" in v


def test_websocket_frames_rebuilt_from_the_ui_store_are_the_dissectors(tmp_path):
    """The UI's packet store keeps each frame's dissection context (the WebSocket state of its segment
    included) and rebuilds the same tree and bytes panes from it."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.output.text import hex_sources, tree_lines
    from sniffer.pipeline import Dissector
    from sniffer.store import PacketStore

    pub = E.publish("s/t", b"x" * 400, qos=1, msgid=7)
    pcap = write_flow(tmp_path / "store.pcap", [
        (0, wsframe(2, E.connect("store-client"))), (1, wsframe(2, E.connack(), key=None)),
        (0, wsframe(2, pub[:5], fin=False)), (0, wsframe(0, pub[5:])), (1, wsframe(2, E.puback(7), key=None)),
    ])  # fmt: skip
    d, store, frames = Dissector(), PacketStore(), []
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(pcap)), 1):
        frames.append(d.frame(n, ts, lt, data, ol))
        store.add(frames[-1])
    assert sum(len(f.pdus) for f in frames) == 4
    for i, f in enumerate(frames):
        g = store.frame(i)
        assert tree_lines(g.tree(), show_secrets=True) == tree_lines(f.tree(), show_secrets=True), i
        assert hex_sources(g, g.tree(), True) == hex_sources(f, f.tree(), True), i
    assert store.context_failures == 0


@pytest.mark.parametrize(
    "bad, reason",
    [
        (bytes([0x82, 0xFF]) + (1 << 63 | 5).to_bytes(8, "big") + KEY + b"abcde", "most significant bit set"),
        (bytes([0x82, 0xFF]) + (1 << 40).to_bytes(8, "big") + KEY, "longer than --max-pdu"),
        (wsframe(1, b"\x10\x0c\x00\x04MQTT"), "a text frame"),
        (wsframe(0, E.pingreq()), "a continuation frame without a message"),
        (wsframe(3, b"??"), "reserved opcode 3"),
        (wsframe(9, b"p" * 126), "control frame fragmented or longer than 125"),
        (wsframe(2, E.pingreq(), rsv=4), "reserved bits set"),
    ],
)
def test_bad_websocket_input_is_data_with_a_reason(tmp_path, bad, reason):
    good = wsframe(2, E.connect("bad-input"))
    pcap = write_flow(tmp_path / "bad.pcap", [(0, good), (0, bad), (0, wsframe(2, E.pingreq()))])
    res = mqttsniff("-r", str(pcap), "-V")
    assert reason in res.stdout
    assert "Connect Command" in res.stdout
    err = mqttsniff("-r", str(pcap), "-Y", "_ws.expert", *fields_args(["_ws.expert.message"])).stdout
    assert reason in err
    assert reason in mqttsniff("-r", str(pcap), "-q", "-z", "expert").stdout  # counted by -z expert too


def test_a_frame_cut_by_the_end_of_the_capture_is_noted(tmp_path):
    pub = wsframe(2, E.publish("cut/t", b"z" * 3000))
    pcap = write_flow(tmp_path / "cut.pcap", [(0, wsframe(2, E.connect("cutter"))), (0, pub[:1500])])
    res = mqttsniff("-r", str(pcap), "-V")
    assert "connection closed inside a WebSocket frame" in res.stdout
    assert "Connect Command" in res.stdout


def test_not_mqtt_websocket_is_left_alone(tmp_path):
    """An Upgrade without an MQTT subprotocol (a browser's chat socket) is not MQTT."""
    with PcapWriter(str(tmp_path / "chat.pcap")) as w:
        flow = TcpFlow(w, server=("10.0.0.1", 8083))
        t = flow.open(1_700_000_000_000_000)
        t = flow.send(0, UPGRADE.replace(b"Protocol: mqtt", b"Protocol: chat"), t + 1000)
        t = flow.send(1, SWITCHED.replace(b"Protocol: mqtt", b"Protocol: chat"), t + 1000)
        flow.send(0, wsframe(2, E.connect("not-mqtt")), t + 1000)
    out = mqttsniff("-r", str(tmp_path / "chat.pcap")).stdout
    assert " MQTT " not in out and "WebSocket" not in out


def test_mangled_websocket_bytes_never_raise(tmp_path):
    """Every byte of a WebSocket session's client stream flipped in turn: decoded or noted, never a traceback."""
    frames = wsframe(2, E.connect("m", version=5)) + wsframe(2, E.publish("m/t", b"v" * 200, qos=1, msgid=3))
    for i in range(0, len(frames), 7):
        mangled = bytearray(frames)
        mangled[i] ^= 0xA5
        pcap = write_flow(tmp_path / f"m{i}.pcap", [(0, bytes(mangled))], close=i % 2 == 0)
        res = mqttsniff("-r", str(pcap), "-V", "-x", ok=False)
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("cut", [-3, -12])
def test_a_password_in_a_connect_split_over_frames_is_masked_in_every_frame(tmp_path, cut):
    """MQTT.js-style: a CONNECT over two WebSocket frames in two segments. Its password lies in the first
    frame's Unmasked data (held while the CONNECT is incomplete) and in the second's: masked in both."""
    password = b"QZXhunter2-very-secretQZX"
    connect = E.connect("pw-client", username="alice", password=password)
    pcap = write_flow(tmp_path / "pw.pcap", [(0, wsframe(2, connect[:cut], fin=False)), (0, wsframe(0, connect[cut:]))])
    for extra in (["-V", "-x"], ["-T", "json", "-x"]):
        out = mqttsniff("-r", str(pcap), *extra).stdout
        assert "Unmasked data (" in out or extra[1] == "json"
        for piece in (password[:3], password[-3:]):
            assert piece.hex(" ") not in out and piece.hex() not in out and piece.decode() not in out, extra
    shown = mqttsniff("-r", str(pcap), "-V", "-x", "--show-secrets").stdout
    assert password.decode() in shown


def test_websocket_frames_held_count_against_max_buffered(tmp_path):
    """Two connections each hold part of a large WebSocket frame: past --max-buffered the oldest gives its
    frame up (noted on its next frame, one line on stderr) and the other still decodes."""
    big_a = wsframe(2, E.publish("cap/a", b"a" * 8000))
    big_b = wsframe(2, E.publish("cap/b", b"b" * 8000))
    path = tmp_path / "cap.pcap"
    with PcapWriter(str(path)) as w:
        flows = [TcpFlow(w, client=("192.168.1.20", 50000 + i), server=("10.0.0.1", 8083)) for i in range(2)]
        t = 1_700_000_000_000_000
        for flow in flows:
            t = flow.open(t + 1000)
            t = flow.send(0, UPGRADE, t + 1000)
            t = flow.send(1, SWITCHED, t + 1000)
            t = flow.send(0, wsframe(2, E.connect("capped")), t + 1000)
        t = flows[0].send(0, big_a[:4000], t + 1000)
        t = flows[1].send(0, big_b[:4000], t + 1000)
        t = flows[0].send(0, big_a[4000:], t + 1000)
        t = flows[1].send(0, big_b[4000:], t + 1000)
        t = flows[0].send(0, wsframe(2, E.pingreq()), t + 1000)
    res = mqttsniff("-r", str(path), "--max-buffered", "10000", "-V", ok=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert "--max-buffered" in res.stderr
    assert "bytes were held was given up" in res.stdout
    topics = mqttsniff("-r", str(path), "--max-buffered", "10000", *fields_args(["mqtt.topic"]), ok=False).stdout
    assert column(topics.splitlines(), 0) == ["cap/b"]
    whole = mqttsniff("-r", str(path), *fields_args(["mqtt.topic"])).stdout  # without the cap both decode
    assert column(whole.splitlines(), 0) == ["cap/a", "cap/b"]


def _session_turns(seed: int) -> list[tuple[int, bytes]]:
    """A whole ws:// session, both directions, with one byte of it (HTTP or WebSocket) changed."""
    import random

    rnd = random.Random(seed)
    turns = [
        (0, UPGRADE),
        (1, SWITCHED.replace(b"mqtt\r\n\r\n", b"mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")),
        (0, wsframe(2, E.connect("fz", username="u", password="p"), fin=False) + wsframe(0, b"")),
        (1, wsframe(2, E.connack(), key=None)),
        (0, wsframe(2, E.publish("f/t", bytes(rnd.randrange(256) for _ in range(300)), qos=1, msgid=1), form=127)),
        (0, wsframe(2, _deflate(E.publish("f/z", b"zz" * 200)), rsv=4)),  # compressed (RFC 7692)
        (1, wsframe(8, (1001).to_bytes(2, "big") + b"going", key=None)),
    ]
    for _ in range(rnd.choice([1, 1, 2, 4])):
        k = rnd.randrange(len(turns))
        side, data = turns[k]
        mangled = bytearray(data)
        mangled[rnd.randrange(len(mangled))] = rnd.choice([0x00, 0xFF, 0x7F, 0x7E, 0xB2, 0xC1, rnd.randrange(256)])
        turns[k] = (side, bytes(mangled))
    return turns


def _deflate(data: bytes) -> bytes:
    """A permessage-deflate message body: raw deflate, sync-flushed, without the trailing 00 00 ff ff."""
    import zlib

    c = zlib.compressobj(wbits=-15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize("status", [b"1\xb21", b"\xb9\xb2", b"", b"99999999999999999999"])
def test_a_status_code_that_is_not_ascii_digits_is_a_refusal_not_an_exception(tmp_path, status):
    """latin-1 '²' (0xb2) and '¹' are digits to str.isdigit() but not to int()."""
    with PcapWriter(str(tmp_path / "st.pcap")) as w:
        flow = TcpFlow(w, server=("10.0.0.1", 8083))
        t = flow.open(1_700_000_000_000_000)
        t = flow.send(0, UPGRADE, t + 1000)
        flow.send(1, SWITCHED.replace(b"101", status), t + 1000)
    out = mqttsniff("-r", str(tmp_path / "st.pcap"), "-V").stdout
    assert "the server refused the Upgrade" in out


def test_mangled_http_and_websocket_bytes_in_either_direction_never_raise():
    """In process, 500 mangled sessions: every frame's tree, sources and Info build without an exception."""
    from sniffer.pipeline import Dissector
    from sniffer.synth.pcap_write import FrameList

    for seed in range(500):
        sink = FrameList()
        flow = TcpFlow(sink, server=("10.0.0.1", 8083))
        t = flow.open(1_700_000_000_000_000)
        for side, data in _session_turns(seed):
            t = flow.send(side, data, t + 1000, split=[7, 100] if seed % 3 == 0 else None)
        flow.close(t + 1000)
        d = Dissector()
        for i, (ts, data) in enumerate(sink.frames_list, 1):
            f = d.frame(i, ts / 1e6, 1, data, len(data))
            f.tree()
            f.sources()
            assert isinstance(f.info, str)


def test_permessage_deflate_with_context_takeover_and_fragments(tmp_path):
    """RFC 7692: the compressor's window spans messages (the second PUBLISH is mostly a back-reference to
    the first), and a compressed message may be fragmented (RSV1 on its first frame only)."""
    import zlib

    c = zlib.compressobj(wbits=-15)
    first, second, third = (E.publish("z/t", b"same-payload " * 40, qos=1, msgid=i) for i in (1, 2, 3))
    m1 = (c.compress(first) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    m2 = (c.compress(second) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    m3 = (c.compress(third) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(m2) < len(second) // 4  # (the window did carry over)
    switched = SWITCHED.replace(b"mqtt\r\n\r\n", b"mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    with PcapWriter(str(tmp_path / "z.pcap")) as w:
        flow = TcpFlow(w, server=("10.0.0.1", 8083))
        t = flow.open(1_700_000_000_000_000)
        t = flow.send(0, UPGRADE, t + 1000)
        t = flow.send(1, switched, t + 1000)
        t = flow.send(0, wsframe(2, E.connect("zipper")), t + 1000)  # not compressed: RSV1 clear
        t = flow.send(0, wsframe(2, m1, rsv=4), t + 1000)
        t = flow.send(0, wsframe(2, m2, rsv=4), t + 1000)
        t = flow.send(0, wsframe(2, m3[:5], rsv=4, fin=False) + wsframe(0, m3[5:]), t + 1000)
        flow.close(t + 1000)
    pcap = tmp_path / "z.pcap"
    rows = mqttsniff("-r", str(pcap), *fields_args(["mqtt.msgtype", "mqtt.msgid", "mqtt.clientid"])).stdout
    assert column(rows.splitlines(), 0) == ["1", "3", "3", "3"] and column(rows.splitlines(), 1) == ["1", "2", "3"]
    ours = mqttsniff("-r", str(pcap), *fields_args(["frame.number", *WS_FIELDS])).stdout.splitlines()
    assert ours == tshark_rows(pcap, ["frame.number", *WS_FIELDS], "-d", "tcp.port==8083,http")
    assert "Decompressed data (" in mqttsniff("-r", str(pcap), "-x").stdout


def test_http_headers_and_close_reasons_from_the_wire_never_reach_the_terminal_raw(tmp_path):
    up = UPGRADE.replace(b"Host: broker", b"Host: br\x1b]0;pwned\x07oker").replace(
        b"\r\n\r\n", b"\r\nX-Evil: \x1b[2J\x9b31m\r\n\r\n"
    )
    with PcapWriter(str(tmp_path / "evil.pcap")) as w:
        flow = TcpFlow(w, server=("10.0.0.1", 8083))
        t = flow.open(1_700_000_000_000_000)
        t = flow.send(0, up, t + 1000)
        t = flow.send(1, SWITCHED, t + 1000)
        flow.send(1, wsframe(8, (1000).to_bytes(2, "big") + "bye\x1b[31m\u202e".encode(), key=None), t + 1000)
    fields = ["-T", "fields", "-e", "http.host", "-e", "websocket.payload.close.reason"]
    for args in (["-V"], fields, ["-T", "json"], []):
        out = subprocess.run(
            [sys.executable, "-m", "sniffer", "-r", str(tmp_path / "evil.pcap"), *args], capture_output=True, cwd=REPO
        ).stdout
        assert b"\x1b" not in out and b"\x07" not in out and b"\xc2\x9b" not in out and "\u202e".encode() not in out
    tree = mqttsniff("-r", str(tmp_path / "evil.pcap"), "-V").stdout
    assert "Host: br\\033]0;pwned\\aoker\\r\\n" in tree and "Reason: bye\\033[31m\\u202E" in tree


def test_a_segment_lost_inside_a_websocket_frame_keeps_the_framing(tmp_path):
    """A hole inside a large frame's payload (a segment lost, or frames cut by -s): that frame's PDU is lost,
    the frames after it still decode, in step by the frame's length, and a note says what went missing."""
    from sniffer.synth.impair import data_frames, drop
    from sniffer.synth.pcap_write import FrameList

    sink = FrameList()
    flow = TcpFlow(sink, server=("10.0.0.1", 8083))
    t = flow.open(1_700_000_000_000_000)
    t = flow.send(0, UPGRADE, t + 1000)
    t = flow.send(1, SWITCHED, t + 1000)
    t = flow.send(0, wsframe(2, E.connect("holey")), t + 1000)
    t = flow.send(0, wsframe(2, E.publish("h/big", b"x" * 6000, qos=1, msgid=1)), t + 1000)  # 5 segments
    t = flow.send(0, wsframe(2, E.publish("h/after", b"y", qos=1, msgid=2)), t + 1000)
    flow.close(t + 1000)
    client = data_frames(sink.frames_list, 50000)
    frames = drop(sink.frames_list, [client[4]])  # (the upgrade, the CONNECT, then the big frame's 3rd segment)
    path = tmp_path / "hole.pcap"
    with PcapWriter(str(path)) as w:
        for ts, fr in frames:
            w.write(ts, fr)
    rows = mqttsniff("-r", str(path), *fields_args(["mqtt.msgtype", "mqtt.topic"])).stdout.splitlines()
    assert column(rows, 1) == ["h/after"] and column(rows, 0) == ["1", "3"]
    out = mqttsniff("-r", str(path), "-V").stdout
    assert "not captured" in out and "not followed" not in out
    # cut by the snapshot length: each segment of the big PUBLISH loses its tail, the next frame still decodes
    with PcapWriter(str(tmp_path / "snap.pcap"), snaplen=400) as w:
        for ts, fr in sink.frames_list:
            w.write(ts, fr)
    cut = mqttsniff("-r", str(tmp_path / "snap.pcap"), *fields_args(["mqtt.topic"]), ok=False)
    assert cut.returncode == 0 and column(cut.stdout.splitlines(), 0) == ["h/after"]
