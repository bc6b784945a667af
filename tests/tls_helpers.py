"""Real MQTT-over-TLS sessions for the TLS tests: certificates made by openssl, a mosquitto with a TLS
listener, paho-mqtt clients through Python's ssl writing an NSS key log, captured live on lo by tcpdump.

Not a test module: imported by tests/test_tls*.py.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from capture_helpers import Tcpdump, _wait
from conftest import free_port, require_tool

__all__ = ["require_tool"]


def tcp_turns(pcap: Path, port: int) -> list[tuple[int, bytes]]:
    """The TCP payload of a capture's one connection as (side, bytes) turns, 0 = the client (the port is
    the server's): what tests replay with sniffer.synth's TcpFlow, cut or coalesced differently."""
    import struct

    from capture_helpers import read_pcap

    turns: list[tuple[int, bytes]] = []
    for _ts, data, _orig in read_pcap(pcap):
        ihl = (data[14] & 0x0F) * 4
        tcp = 14 + ihl
        total = struct.unpack_from("!H", data, 16)[0]
        sport = struct.unpack_from("!H", data, tcp)[0]
        payload = data[tcp + (data[tcp + 12] >> 4) * 4 : 14 + total]
        if not payload:
            continue
        side = 1 if sport == port else 0
        if turns and turns[-1][0] == side:
            turns[-1] = (side, turns[-1][1] + payload)
        else:
            turns.append((side, payload))
    return turns


def make_certs(workdir: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key), made with openssl: a CA and a leaf for 127.0.0.1."""
    openssl = require_tool("openssl")
    ca_key, ca, key, csr, cert = (workdir / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mqttsniff test CA",
         "-keyout", ca_key, "-out", ca],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", cert],
    ):  # fmt: skip
        res = subprocess.run([openssl, *map(str, cmd)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    for p in (ca, cert, key):
        p.chmod(0o644)
    return ca, cert, key


def make_client_cert(workdir: Path, cn: str = "device-42", org: str = "Acme IoT") -> tuple[Path, Path]:
    """(certificate, key) of a device, signed by make_certs()'s CA in `workdir`: for mutual TLS."""
    openssl = require_tool("openssl")
    ca, ca_key = workdir / "ca.crt", workdir / "ca.key"
    key, csr, cert = workdir / "client.key", workdir / "client.csr", workdir / "client.crt"
    for cmd in (
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}/O={org}", "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2", "-out", cert],
    ):
        res = subprocess.run([openssl, *map(str, cmd)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    return cert, key


@contextlib.contextmanager
def tls_broker(workdir: Path, extra: str = ""):
    """A mosquitto with one TLS listener on 127.0.0.1:<free port>; yields (port, CA path)."""
    exe = require_tool("mosquitto")
    ca, cert, key = make_certs(workdir)
    port = free_port()
    conf = workdir / "mosquitto-tls.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"allow_anonymous true\npersistence false\nuser root\n{extra}"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mosquitto did not start: {proc.stderr.read().decode(errors='replace')}")
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


def client_context(ca: Path, keylog: Path, version: str, ciphers: str | None = None) -> ssl.SSLContext:
    """A client SSLContext forced to TLS 1.2 or 1.3, writing its secrets to `keylog`."""
    ctx = ssl.create_default_context(cafile=str(ca))
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.set_alpn_protocols(["mqtt"])  # as AWS IoT clients do: what tells MQTT from HTTPS on 443
    ctx.keylog_filename = str(keylog)
    return ctx


def paho_session(port: int, ctx: ssl.SSLContext, cid: str, topics: list[tuple[str, bytes, int]]) -> int:
    """One paho client over TLS (to "localhost", so the ClientHello names it: SNI): subscribes to its
    topics, publishes each, disconnects. Returns how many messages came back (each comes back once)."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
    got: list[str] = []
    acks: set[int] = set()
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.on_subscribe = lambda _c, _u, mid, *_: acks.add(mid)
    c.tls_set_context(ctx)
    c.username_pw_set("device-7", PASSWORD)  # masked in the decrypted bytes as in plain ones
    c.connect("localhost", port, keepalive=30)
    c.loop_start()
    _wait(c.is_connected, what=f"{cid} CONNACK")
    _, mid = c.subscribe([(t, q) for t, _p, q in topics])
    _wait(lambda: mid in acks, what="SUBACK")
    for topic, payload, qos in topics:
        c.publish(topic, payload, qos).wait_for_publish(5)
    _wait(lambda: len(got) >= len(topics), what="messages back")
    c.disconnect()
    c.loop_stop()
    return len(got)


PASSWORD = "s3cret-over-tls"
TOPICS = [
    ("plant/line1/temp", b'{"t": 21.5}', 0),
    ("plant/line1/humidity", b"55", 1),
    ("plant/line2/big", bytes(range(256)) * 80, 1),  # 20 KiB: one PDU over two TLS records
    ("plant/line2/state", b"on", 2),
]


def capture_session(
    workdir: Path, version: str, ciphers: str | None = None, broker_conf: str = "", options: int = 0,
    mutual: bool = False,
) -> tuple[Path, Path, int]:  # fmt: skip
    """A TLS session captured on lo: (pcap, key log, the broker's port). `ciphers` picks the TLS 1.2
    suite (OpenSSL names), `broker_conf` e.g. mosquitto's ciphers_tls1.3, `options` OpenSSL's SSL_OP_*;
    `mutual`: the broker requires a client certificate and the client shows one (make_client_cert)."""
    keylog = workdir / f"keys-{version}.log"
    pcap = workdir / f"tls{version}.pcap"
    conf = broker_conf + ("require_certificate true\n" if mutual else "")
    with tls_broker(workdir, conf) as (port, ca):
        dump = Tcpdump("lo", f"tcp port {port}", pcap)
        ctx = client_context(ca, keylog, version, ciphers)
        ctx.options |= options
        if mutual:
            ctx.load_cert_chain(*map(str, make_client_cert(workdir)))
        try:
            got = paho_session(port, ctx, f"tls-{version}", TOPICS)
            time.sleep(0.3)
        finally:
            dump.stop()
    assert got == len(TOPICS)
    return pcap, keylog, port


# A raw MQTT 3.1.1 session for clients that only move bytes (openssl s_client): CONNECT "ccm",
# PUBLISH "a/ccm" "hi" (QoS 0), DISCONNECT.
RAW_CONNECT = bytes.fromhex("100f00044d5154540402003c0003") + b"ccm"
RAW_PUBLISH_DISCONNECT = bytes.fromhex("30090005") + b"a/ccmhi" + b"\xe0\x00"


def capture_s_client(workdir: Path, version: str, suite: str) -> tuple[Path, Path, int]:
    """A session through `openssl s_client` forced to one suite (what Python's ssl cannot pick for
    TLS 1.3, e.g. AES-CCM), the broker allowing just that suite: (pcap, key log, port)."""
    openssl = require_tool("openssl")
    conf = f"ciphers_tls1.3 {suite}\n" if version == "1.3" else f"ciphers {suite}\n"
    keylog, pcap = workdir / "keys.log", workdir / "s_client.pcap"
    with tls_broker(workdir, conf) as (port, ca):
        dump = Tcpdump("lo", f"tcp port {port}", pcap)
        cmd = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca), "-keylogfile", str(keylog)]
        cmd += ["-quiet", *(("-tls1_3", "-ciphersuites") if version == "1.3" else ("-tls1_2", "-cipher")), suite]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            # s_client reads its stdin once the handshake is done: the CONNECT waits in the pipe till then
            proc.stdin.write(RAW_CONNECT)
            proc.stdin.flush()
            # the PUBLISH only after the CONNACK has come (a fixed sleep let a slow broker's CONNACK follow
            # it on the wire, and the test checks the order of the packets)
            out = b""
            deadline = time.monotonic() + 20
            while len(out) < 4 and time.monotonic() < deadline and proc.poll() is None:
                if select.select([proc.stdout], [], [], 0.2)[0]:
                    out += os.read(proc.stdout.fileno(), 4096)
            proc.stdin.write(RAW_PUBLISH_DISCONNECT)
            proc.stdin.flush()
            rest, err = proc.communicate(timeout=10)  # -quiet ignores EOF: it ends when the broker closes
            out += rest
            time.sleep(0.2)
        finally:
            dump.stop()
    assert out.startswith(b"\x20\x02\x00\x00"), err  # CONNACK, accepted: the session really ran
    return pcap, keylog, port


# Node's own TLS (the stack MQTT.js runs on) with `node --tls-keylog`: a raw MQTT session over tls.connect
NODE_CLIENT = """
const tls = require("tls"), fs = require("fs");
const [port, ca, version] = process.argv.slice(2);
const s = tls.connect({host: "127.0.0.1", port: +port, ca: fs.readFileSync(ca), servername: "localhost",
                       ALPNProtocols: ["mqtt"], minVersion: version, maxVersion: version}, () => {
  s.write(Buffer.from(process.env.CONNECT, "hex"));
});
let got = Buffer.alloc(0);
s.on("data", (d) => {
  got = Buffer.concat([got, d]);
  if (got.length >= 4 && got[0] === 0x20) {
    s.end(Buffer.from(process.env.PUBLISH_DISCONNECT, "hex"));
    process.stdout.write(got.toString("hex"));
  }
});
s.on("error", (e) => { console.error(e.message); process.exit(1); });
"""


def capture_node(workdir: Path, version: str) -> tuple[Path, Path, int]:
    """A session from `node --tls-keylog=FILE` (TLSv1.2 or TLSv1.3): (pcap, key log, port)."""
    import os

    node = require_tool("node")
    script = workdir / "client.js"
    script.write_text(NODE_CLIENT)
    keylog, pcap = workdir / "node-keys.log", workdir / "node.pcap"
    env = {**os.environ, "CONNECT": RAW_CONNECT.hex(), "PUBLISH_DISCONNECT": RAW_PUBLISH_DISCONNECT.hex()}
    with tls_broker(workdir) as (port, ca):
        dump = Tcpdump("lo", f"tcp port {port}", pcap)
        try:
            res = subprocess.run([node, f"--tls-keylog={keylog}", str(script), str(port), str(ca), f"TLSv{version}"],
                                 capture_output=True, text=True, env=env, timeout=20)  # fmt: skip
            time.sleep(0.3)
        finally:
            dump.stop()
    assert res.returncode == 0 and res.stdout.startswith("20020000"), res.stderr
    return pcap, keylog, port


def memory_session(
    workdir: Path, version: str, layout: list[tuple], certs: tuple[Path, Path, Path] | None = None,
    mutual: bool = False, ciphers: str | None = None,
) -> tuple[Path, Path]:  # fmt: skip
    """A TLS session between Python's ssl client and server over memory BIOs (real OpenSSL records, no
    sockets), laid out as asked: `layout` is a list of turns (side 0 client, 1 server, segments[, cut]):
    segments is a list of TCP segments, each a list of plaintexts that become one record each; `cut`, if
    given, re-cuts the turn's bytes into segments of those sizes (a record across segments). Written as a TCP
    flow to port 8883; returns (pcap, key log). What a broker's writes cannot choose: where records and
    segments cut the MQTT byte stream. `certs`: make_certs()'s, made anew if not given; `mutual`: the
    server asks for a client certificate (CertificateRequest) and gets make_client_cert()'s; `ciphers`: TLS
    1.2 suites both ends allow (OpenSSL names; a DHE one gets the server RFC 7919's ffdhe2048 group)."""
    from sniffer.synth.flows import TcpFlow
    from sniffer.synth.pcap_write import PcapWriter

    ca, cert, key = certs or make_certs(workdir)
    name = f"mem-{version}" + ("-mutual" if mutual else "") + (f"-{ciphers}" if ciphers else "")
    keylog, pcap = workdir / f"{name}.keys", workdir / f"{name}.pcap"
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(str(ca))
    v = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    cctx.minimum_version = cctx.maximum_version = v
    cctx.keylog_filename = str(keylog)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(str(cert), str(key))
    if ciphers:
        cctx.set_ciphers(ciphers)
        sctx.set_ciphers(ciphers)
        if "DHE" in ciphers:
            dh = workdir / "ffdhe2048.pem"
            gen = ["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048", "-out", str(dh)]
            subprocess.run([require_tool("openssl"), *gen], check=True, capture_output=True)
            sctx.load_dh_params(str(dh))
    if mutual:
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(str(ca))
        cctx.load_cert_chain(*map(str, make_client_cert(ca.parent)))
    bios = [ssl.MemoryBIO() for _ in range(4)]  # client in/out, server in/out
    ends = [
        cctx.wrap_bio(bios[0], bios[1], server_hostname="localhost"),
        sctx.wrap_bio(bios[2], bios[3], server_side=True),
    ]
    turns: list[tuple[int, list[bytes]]] = []

    def deliver(side: int, data: bytes) -> None:
        bios[2 if side == 0 else 0].write(data)
        with contextlib.suppress(ssl.SSLWantReadError):
            ends[1 - side].read(1 << 20)

    for _ in range(6):  # the handshake, turn by turn
        for side in (0, 1):
            with contextlib.suppress(ssl.SSLWantReadError):
                ends[side].do_handshake()
            data = bios[1 + 2 * side].read()
            if data:
                turns.append((side, [data]))
                deliver(side, data)
    assert all(e.version() == f"TLSv{version}" for e in ends)
    for side, segments, *cut in layout:
        out = []
        for segment in segments:
            wire = b""
            for plaintext in segment:
                ends[side].write(plaintext)
                wire += bios[1 + 2 * side].read()
            out.append(wire)
        wire = b"".join(out)
        if cut:
            out = [wire[sum(cut[0][:i]) : sum(cut[0][: i + 1])] for i in range(len(cut[0]))]
            out.append(wire[sum(cut[0]) :])
        turns.append((side, [o for o in out if o]))
        deliver(side, wire)
        reply = bios[3 - 2 * side].read()  # (TLS 1.3: the server's session tickets, after the client's first data)
        if reply:
            turns.append((1 - side, [reply]))
            deliver(1 - side, reply)
    with PcapWriter(str(pcap)) as w:
        flow = TcpFlow(w, ("127.0.0.1", 40001), ("127.0.0.1", 8883), mss=65000)
        t = flow.open(1_000_000)
        for side, segs in turns:
            for seg in segs:
                t = flow.send(side, seg, t + 1000)
        flow.close(t + 1000)
    return pcap, keylog
