"""AWS IoT Core connections (sniffer/credentials/aws.py): paho clients log in over TLS to a real mosquitto the
way AWS IoT devices do (the SNI an AWS IoT data endpoint, ALPN x-amzn-mqtt-ca or mqtt, AWS SDK metrics and
custom-authorizer parameters in the user name), on ports 443 and 8883 of a loopback address of the test's own,
captured on lo by tcpdump with the clients' key log. Without the key log the ClientHello tells the endpoint,
region and authentication (tshark agreeing on the SNI and ALPN); with it, the CONNECT's AWS IoT subtree has what
each client sent. Each expert note comes from the session built to trigger it, and from no other.
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as mqtt
import pytest
from capture_helpers import Tcpdump, _wait, needs_root
from conftest import REPO, require_tool
from tls_helpers import make_certs

pytestmark = needs_root

HOST = "127.0.21.5"  # a loopback address of this test's own: ports 443 and 8883 are bound there only
SIG = base64.b64encode(bytes(range(250, 256)) + b"\xfb\xff").decode()  # '+' and '/' in it: needs URL encoding
assert "+" in SIG or "/" in SIG


class Session:
    """One client's login: what it sends and the notes its mistakes must (and only they may) cause."""

    def __init__(self, name: str, port: int, sni: str, alpn: list[str], cid: str, user: str | None,
                 password: str | None, notes: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.name, self.port, self.sni, self.alpn = name, port, sni, alpn
        self.cid, self.user, self.password, self.notes = cid, user, password, notes


SESSIONS = [
    # X.509 on 443 as the AWS IoT Device SDK does it: ALPN x-amzn-mqtt-ca, its metrics in the user name
    Session("cert-443", 443, "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com", ["x-amzn-mqtt-ca"], "thermostat-7",
            "?SDK=PythonV2&Version=1.21.0&Platform=Linux", None),
    # custom authentication: 443, ALPN mqtt, the authorizer's parameters URL encoded, a password
    Session("custom-443", 443, "q9w8e7r6t5y4-ats.iot.us-east-1.amazonaws.com", ["mqtt"], "lock-3",
            f"lock-3?x-amz-customauthorizer-name=DoorAuthorizer&x-amz-customauthorizer-signature={quote(SIG, safe='')}"
            "&doortoken=tok-123", "door-pass"),
    # mistakes: ALPN x-amzn-mqtt-ca on 8883, a legacy endpoint (China), a client id over 128 bytes starting with
    # '$', custom-authorizer parameters off port 443 with the signature not URL encoded
    Session("mistakes-8883", 8883, "z1x2c3v4b5n6m7.iot.cn-north-1.amazonaws.com.cn", ["x-amzn-mqtt-ca"],
            "$" + "x" * 130, f"dev?x-amz-customauthorizer-name=Auth&x-amz-customauthorizer-signature={SIG}&tok=1",
            "mistake-pass", ("selects the authentication on port 443 only", "Legacy iot:Data endpoint",
                             "Client ID of 131 bytes", "Client ID starts with '$'", "is not URL encoded",
                             "Custom authorizer parameters on port 8883")),
    # MQTT on 443 without ALPN: AWS takes it for HTTPS
    Session("no-alpn-443", 443, "p0o9i8u7y6t5-ats.iot.ap-southeast-2.amazonaws.com", [], "sensor-9", None, None,
            ("Port 443 without ALPN", "MQTT directly over TLS on port 443 without ALPN")),
    # custom-authorizer parameters on 443 with ALPN x-amzn-mqtt-ca (where custom authentication can't be used)
    Session("custom-on-x509-alpn", 443, "l1k2j3h4g5f6-ats.iot.eu-central-1.amazonaws.com", ["x-amzn-mqtt-ca"], "gw-1",
            "gw?x-amz-customauthorizer-name=GwAuth", "secret-gw",
            ("on port 443 with ALPN x-amzn-mqtt-ca: AWS IoT Core can't use custom authentication",)),
    # not AWS: another broker's name, an ordinary user name
    Session("not-aws", 443, "broker.example.com", ["x-amzn-mqtt-ca"], "plain-1", "user", "plain-pass"),
]  # fmt: skip
NOTE_PHRASES = sorted({p for s in SESSIONS for p in s.notes})


class SniContext(ssl.SSLContext):
    """A client context that names `sni` in its ClientHello whatever host paho connects to (the test's
    loopback address stands for the AWS endpoint, as an /etc/hosts line would)."""

    sni = ""

    def wrap_socket(self, sock, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        kwargs["server_hostname"] = self.sni
        return super().wrap_socket(sock, *args, **kwargs)


def login(s: Session, ca: Path, keylog: Path) -> None:
    ctx = SniContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca))
    ctx.check_hostname = False  # (the test certificate names 127.0.0.1, not the AWS endpoint)
    ctx.sni = s.sni
    if s.alpn:
        ctx.set_alpn_protocols(s.alpn)
    ctx.keylog_filename = str(keylog)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.cid, protocol=mqtt.MQTTv311)
    c.tls_set_context(ctx)
    if s.user is not None:
        c.username_pw_set(s.user, s.password)
    c.connect(HOST, s.port, keepalive=30)
    c.loop_start()
    _wait(c.is_connected, what=f"{s.name} CONNACK")
    c.publish("plant/state", b"on", 1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    time.sleep(0.1)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[Path, Path]:
    """Every session, in order (tcp.stream k is SESSIONS[k]), captured once: (pcap, key log)."""
    work = tmp_path_factory.mktemp("aws")
    ca, cert, key = make_certs(work)
    conf = work / "mosquitto.conf"
    listeners = "".join(f"listener {p} {HOST}\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n" for p in (443, 8883))
    conf.write_text(f"per_listener_settings false\n{listeners}allow_anonymous true\npersistence false\nuser root\n")
    proc = subprocess.Popen([require_tool("mosquitto"), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    pcap, keylog = work / "aws.pcap", work / "keys.log"
    try:
        deadline = time.monotonic() + 10
        for port in (443, 8883):
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.kill()
                        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                        pytest.fail(f"mosquitto did not listen on {HOST}:{port}: {err}")
                    time.sleep(0.05)
        dump = Tcpdump("lo", f"host {HOST} and (tcp port 443 or tcp port 8883)", pcap)
        try:
            for s in SESSIONS:
                login(s, ca, keylog)
            time.sleep(0.3)
        finally:
            dump.stop()
    finally:
        proc.terminate()
        proc.wait(5)
    return pcap, keylog


def mqttsniff(pcap: Path, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", "tcp.port==443,tls", *args],
                         capture_output=True, text=True, cwd=REPO, timeout=120)  # fmt: skip
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return res.stdout


def rows(out: str) -> dict[int, list[str]]:
    """-T fields lines keyed by their first column, tcp.stream."""
    got: dict[int, list[str]] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        got[int(cols[0])] = cols[1:]
    return got


def test_client_hello_without_keys_names_the_endpoint_and_agrees_with_tshark(capture, tshark) -> None:
    pcap, _keys = capture
    fields = ["tcp.stream", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"]
    aws = ["tls.aws.endpoint_type", "tls.aws.prefix", "tls.aws.region", "tls.aws.auth"]
    args = ["-Y", "tls.handshake.type == 1", "-T", "fields", "-E", "aggregator=|", *(a for f in fields + aws
            for a in ("-e", f))]  # fmt: skip
    ours = rows(mqttsniff(pcap, *args))
    ref = subprocess.run([tshark, "-r", str(pcap), "-Y", "tls.handshake.type == 1", "-T", "fields", "-E",
                          "aggregator=|", *(a for f in fields for a in ("-e", f))],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    theirs = rows(ref.stdout)
    assert sorted(ours) == sorted(theirs) == list(range(len(SESSIONS)))
    for k, s in enumerate(SESSIONS):
        assert ours[k][:2] == theirs[k] == [s.sni, "|".join(s.alpn)]
        kind, prefix, region, auth = ours[k][2:]
        if s.name == "not-aws":
            assert (kind, prefix, region, auth) == ("", "", "", "")
            continue
        host = s.sni.split(".")
        assert prefix == host[0].removesuffix("-ats") and region == host[2]
        assert kind.startswith("iot:Data-ATS" if host[0].endswith("-ats") else "iot:Data (legacy")
        via = f"ALPN {s.alpn[0]}" if s.alpn else "without"
        assert f"port {s.port}" in auth and (via in auth or s.port != 443 or not s.alpn), auth
    by_auth = {s.name: ours[k][5] for k, s in enumerate(SESSIONS)}
    assert by_auth["cert-443"].startswith("MQTT, X.509 client certificate")
    assert by_auth["custom-443"].startswith("MQTT, custom authentication")
    assert by_auth["mistakes-8883"].startswith("MQTT, X.509 client certificate (port 8883)")
    assert by_auth["no-alpn-443"].startswith("HTTPS or MQTT over WebSocket")
    # a filter on the ClientHello's fields finds it without any MQTT (no keys: no CONNECT is seen)
    legacy = [s for s in SESSIONS if ".iot.cn-" in s.sni]
    found = mqttsniff(
        pcap, "-Y", 'tls.aws.region == "cn-north-1"', "-T", "fields", "-e", "tls.handshake.extensions_server_name"
    )
    assert found.splitlines() == [s.sni for s in legacy]


def test_connect_inside_tls_has_the_aws_subtree_with_what_was_sent(capture) -> None:
    pcap, keys = capture
    fields = ["tcp.stream", "mqtt.clientid", "aws.endpoint", "aws.region", "aws.alpn", "aws.clientid",
              "aws.clientid_length", "aws.username", "aws.sdk", "aws.sdk.version", "aws.sdk.platform",
              "aws.authorizer.name", "aws.authorizer.signature", "aws.authorizer.token_key",
              "aws.password"]  # fmt: skip
    out = mqttsniff(pcap, "-o", f"tls.keylog_file:{keys}", "-Y", "mqtt.msgtype == 1", "-T", "fields",
                    *(a for f in fields for a in ("-e", f)))  # fmt: skip
    got = rows(out)
    assert sorted(got) == list(range(len(SESSIONS)))
    for k, s in enumerate(SESSIONS):
        row = dict(zip(fields[1:], got[k], strict=True))
        assert row["mqtt.clientid"] == s.cid  # decrypted
        if s.name == "not-aws":
            assert set(row.values()) == {"", s.cid}  # no AWS subtree
            continue
        assert row["aws.endpoint"] == s.sni and row["aws.region"] == s.sni.split(".")[2]
        assert row["aws.alpn"] == (", ".join(s.alpn) or "none")
        assert row["aws.clientid"] == s.cid and row["aws.clientid_length"] == str(len(s.cid.encode()))
        query = dict(p.split("=", 1) for p in (s.user or "").rpartition("?")[2].split("&") if p)
        assert row["aws.username"] == ((s.user or "").rpartition("?")[0] if s.user and "?" in s.user else "")
        assert [row["aws.sdk"], row["aws.sdk.version"], row["aws.sdk.platform"]] == [
            query.get("SDK", ""), query.get("Version", ""), query.get("Platform", "")]  # fmt: skip
        assert row["aws.authorizer.name"] == query.get("x-amz-customauthorizer-name", "")
        if "x-amz-customauthorizer-signature" in query:  # decoded when it was URL encoded; '+' as sent reads ' '
            sent = query["x-amz-customauthorizer-signature"]
            assert row["aws.authorizer.signature"] == (SIG if "%" in sent else sent.replace("+", " "))
        tokens = [k for k in query if k not in ("x-amz-customauthorizer-name", "x-amz-customauthorizer-signature")]
        assert row["aws.authorizer.token_key"] == (",".join(tokens) if "x-amz-customauthorizer-name" in query else "")
        if s.password is None:
            assert row["aws.password"] == ""
        else:
            assert row["aws.password"].startswith(f"present, {len(s.password)} bytes")
    # filters reach the CONNECT's fields
    named = mqttsniff(pcap, "-o", f"tls.keylog_file:{keys}", "-Y", 'aws.authorizer.name == "DoorAuthorizer"', "-T",
                      "fields", "-e", "mqtt.clientid")  # fmt: skip
    assert named.splitlines() == [s.cid for s in SESSIONS if s.user and "DoorAuthorizer" in s.user]


def test_each_note_comes_from_the_session_built_for_it(capture) -> None:
    pcap, keys = capture
    out = mqttsniff(pcap, "-o", f"tls.keylog_file:{keys}", "-T", "fields", "-E", "aggregator=\x1f", "-e",
                    "tcp.stream", "-e", "_ws.expert.message")  # fmt: skip
    notes: dict[int, list[str]] = defaultdict(list)
    for line in out.splitlines():
        stream, _, messages = line.partition("\t")
        notes[int(stream)] += [m for m in messages.split("\x1f") if m]
    for phrase in NOTE_PHRASES:
        where = {SESSIONS[k].name for k, ms in notes.items() if any(phrase in m for m in ms)}
        assert where == {s.name for s in SESSIONS if phrase in s.notes}, phrase
    for k, s in enumerate(SESSIONS):  # and no note of ours that the session was not built for
        ours = [m for m in notes[k] if "AWS" in m or "ALPN" in m or "Client ID" in m or "authorizer" in m]
        assert len(ours) == len(s.notes), (s.name, ours)
    # the ClientHello's notes without keys too (-z expert)
    expert = mqttsniff(pcap, "-q", "-z", "expert")
    assert "Legacy iot:Data endpoint" in expert and "Port 443 without ALPN" in expert


def test_passwords_never_shown_by_the_aws_subtree(capture) -> None:
    pcap, keys = capture
    secrets = [s.password for s in SESSIONS if s.password]
    aws = [s.password for s in SESSIONS if s.password and s.name != "not-aws"]
    for args in (["-V"], ["-T", "json"], ["-T", "fields", "-e", "aws.password"]):
        out = mqttsniff(pcap, "-o", f"tls.keylog_file:{keys}", *args)
        assert "AWS IoT Core credentials" in out or "present," in out
        assert not [p for p in secrets if p in out]
    shown = mqttsniff(pcap, "-o", f"tls.keylog_file:{keys}", "--show-secrets", "-Y", "aws.password", "-T", "fields",
                      "-e", "mqtt.passwd", "-e", "aws.password")  # fmt: skip
    lines = [line.split("\t") for line in shown.splitlines()]
    assert sorted(p for p, _ in lines) == sorted(aws)  # --show-secrets shows mqtt.passwd, never in aws.password
    assert all(p not in a for p, a in lines)


def test_plain_connect_with_aws_user_name_parameters_is_read_and_escaped(tmp_path: Path) -> None:
    """No TLS (a capture behind a TLS-terminating proxy): the user name's AWS SDK parameters alone make the
    subtree; what the device chose is escaped in every output, the password never shown."""
    import struct

    from sniffer.synth.flows import TcpFlow
    from sniffer.synth.pcap_write import PcapWriter

    def s(b: bytes) -> bytes:
        return struct.pack("!H", len(b)) + b

    cid, user, pw = b"dev\x1b[31m", "u?SDK=Py\nthon&Version=1.2&Platform=\u202eLinux".encode(), b"topsecret-42"
    body = s(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30) + s(cid) + s(user) + s(pw)
    pcap = tmp_path / "plain.pcap"
    with PcapWriter(str(pcap)) as w:
        flow = TcpFlow(w, ("10.0.0.1", 40000), ("10.0.0.2", 1883))
        t = flow.open(1_000_000)
        flow.close(flow.send(0, bytes([0x10, len(body)]) + body, t + 1000) + 1000)
    out = mqttsniff(pcap, "-Y", "aws", "-T", "fields", "-e", "aws.clientid", "-e", "aws.sdk", "-e", "aws.sdk.platform",
                    "-e", "aws.password")  # fmt: skip
    assert out.splitlines() == ["dev\\033[31m\tPy\\nthon\t\\u202ELinux\tpresent, 12 bytes"]
    for args in (["-V"], ["-T", "json"]):
        text = mqttsniff(pcap, *args)
        assert "AWS IoT Core credentials" in text or '"aws"' in text
        assert "\x1b" not in text and "\u202e" not in text and "topsecret-42" not in text
