"""MQTT inside TLS, decrypted with a key log: real mosquitto TLS listener, paho clients through Python's
ssl writing the key log, captured live on lo by tcpdump; tshark -o tls.keylog_file on the same capture
is the reference for every mqtt.* and tls.* field both decode."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tls_helpers as T
from capture_helpers import needs_root, read_pcap
from conftest import REPO

from sniffer.pipeline import Dissector
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter
from sniffer.tls.keylog import KeyLog

MQTT_FIELDS = ["mqtt.msgtype", "mqtt.msgid", "mqtt.topic", "mqtt.len", "mqtt.qos", "mqtt.clientid", "mqtt.msg"]
TLS_FIELDS = [
    "tls.record.content_type",
    "tls.record.opaque_type",
    "tls.record.version",
    "tls.record.length",
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.random",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions.supported_version",
    "tls.app_data",
]
FIELDS = ["frame.number", *MQTT_FIELDS, *TLS_FIELDS]

# (TLS version, TLS 1.2 suite for the client, broker configuration, OpenSSL options): one capture each
VARIANTS = {
    "tls1.3-aes256gcm": ("1.3", None, "", 0),
    "tls1.2-aes128gcm": ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", "", 0),
    "tls1.3-chacha20": ("1.3", None, "ciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256\n", 0),
    "tls1.2-chacha20": ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", "", 0),
    "tls1.2-cbc-sha-etm": ("1.2", "ECDHE-RSA-AES128-SHA", "", 0),  # OpenSSL's default: encrypt-then-MAC
    "tls1.2-cbc-sha256": ("1.2", "ECDHE-RSA-AES128-SHA256", "", 0),
    "tls1.2-cbc-sha384-mac-then-encrypt": ("1.2", "ECDHE-RSA-AES256-SHA384", "", 0x80000),  # SSL_OP_NO_ENCRYPT_THEN_MAC
}


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, tuple[Path, Path, int]]:
    """Every variant captured once for the module (live on lo: needs root)."""
    if os.geteuid() != 0:
        pytest.fail("live capture needs root: run the README's test command as root")
    out = {}
    for name, (version, ciphers, conf, options) in VARIANTS.items():
        out[name] = T.capture_session(tmp_path_factory.mktemp(name), version, ciphers, conf, options)
    return out


def mqttsniff(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    if ok:
        assert res.returncode == 0, res.stderr
        assert res.stderr == "", res.stderr
    return res


def fields_args(fields: list[str]) -> list[str]:
    return ["-T", "fields", "-E", "aggregator=|", *(a for f in fields for a in ("-e", f))]


def tshark_rows(tshark: str, pcap: Path, port: int, keylog: Path | None, fields: list[str], *extra: str) -> list[str]:
    cmd = [tshark, "-r", str(pcap), "-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},mqtt", *extra]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    res = subprocess.run([*cmd, *fields_args(fields)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def ours(pcap: Path, port: int, keylog: Path | None, fields: list[str], *extra: str) -> list[str]:
    args = ["-r", str(pcap), "-d", f"tcp.port=={port},tls", *fields_args(fields), *extra]
    if keylog is not None:
        args += ["-o", f"tls.keylog_file:{keylog}"]
    return mqttsniff(*args).stdout.splitlines()


@pytest.fixture(scope="module")
def every_mqtt_field(tshark) -> list[str]:
    """Every mqtt.* field Wireshark registers (all of which mqttsniff registers too, test_tshark_agreement)."""
    from sniffer import pipeline  # noqa: F401  (registers every field)
    from sniffer.fields import REGISTRY

    out = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True, check=True).stdout
    names = [p[2] for p in (line.split("\t") for line in out.splitlines()) if len(p) > 2 and p[0] == "F"]
    from test_tshark_agreement import FIELD_EXCEPTIONS  # fields Wireshark prints otherwise by design, with why

    return [n for n in names if n.startswith("mqtt.") and n in REGISTRY and n not in FIELD_EXCEPTIONS]


COLUMNS = ["frame.number", "_ws.col.Protocol", "frame.len", "tcp.len", "tcp.stream"]


@needs_root
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_decrypted_session_agrees_with_tshark(captures, variant, tshark, every_mqtt_field):
    """Every mqtt.* field Wireshark has and the tls.* fields, frame by frame, as tshark -o tls.keylog_file
    decodes the capture (the password too: --show-secrets)."""
    pcap, keylog, port = captures[variant]
    every = [*COLUMNS, *every_mqtt_field, *TLS_FIELDS]
    theirs = tshark_rows(tshark, pcap, port, keylog, every)
    mine = ours(pcap, port, keylog, every, "--show-secrets")
    diffs = [
        f"frame {a.split(chr(9))[0]}: {name}: tshark={t!r} mqttsniff={o!r}"
        for a, b in zip(theirs, mine, strict=True)
        for name, t, o in zip(every, a.split("\t"), b.split("\t"), strict=True)
        if t != o
    ]
    assert len(mine) == len(theirs) and not diffs, "\n".join(diffs[:30])
    # the Info of the frames that carry TLS records but no MQTT PDU (Client Hello, Server Hello, Change Cipher
    # Spec, Finished, New Session Ticket, Alert (Level: Warning, Description: Close Notify), ...)
    info = ["frame.number", "_ws.col.Protocol", "_ws.col.Info"]
    tls_only = [r for r in tshark_rows(tshark, pcap, port, keylog, info) if r.split("\t")[1].startswith("TLS")]
    mine_info = {r.split("\t")[0]: r for r in ours(pcap, port, keylog, info)}
    assert tls_only and [mine_info[r.split("\t")[0]] for r in tls_only] == tls_only
    got = ours(pcap, port, keylog, FIELDS)
    assert got == tshark_rows(tshark, pcap, port, keylog, FIELDS)
    types = [t for line in got for t in line.split("\t")[1].split("|") if t]
    # what the client did: CONNECT, SUBSCRIBE, 4 PUBLISH out and 4 back, DISCONNECT (and the acks)
    assert types.count("1") == 1 and types.count("8") == 1 and types.count("3") == 8 and types.count("14") == 1
    assert any("plant/line2/big" in line for line in got)  # a 20 KiB PUBLISH across two TLS records


@needs_root
def test_session_layer_filters_and_statistics_see_the_decrypted_mqtt(captures):
    pcap, keylog, port = captures["tls1.3-aes256gcm"]
    rows = ours(pcap, port, keylog, ["mqtt.msgtype", "mqtt.client"], "-Y", "mqtt.msgtype == 3")
    assert len(rows) == 8 and all(r.endswith("tls-1.3") for r in rows), rows  # mqtt.client from the session tracker
    stats = mqttsniff("-r", str(pcap), "-d", f"tcp.port=={port},tls", "--tls-keylog", str(keylog), "-q",
                      "-z", "mqtt,topics").stdout  # fmt: skip
    assert "plant" in stats and "line2" in stats and "big" in stats
    tree = mqttsniff("-r", str(pcap), "-d", f"tcp.port=={port},tls", "--tls-keylog", str(keylog), "-V", "-x",
                     "-Y", 'mqtt.topic == "plant/line1/temp"').stdout  # fmt: skip
    assert "Transport Layer Security" in tree and "MQ Telemetry Transport Protocol, Publish Message" in tree
    assert "Decrypted TLS (" in tree  # the bytes of the decrypted record, as Wireshark's tab
    # payloads are decoded inside TLS as on plain TCP: the JSON {"t": 21.5} of plant/line1/temp
    assert "[Message decoded as: json]" in tree
    found = ours(pcap, port, keylog, ["mqtt.topic", "json.value.number"], "-Y", 'json.key == "t"')
    assert found == ["plant/line1/temp\t21.5"] * 2, found  # the PUBLISH and its delivery back


def test_decrypted_frames_rebuilt_from_the_ui_store_are_the_dissectors(captures):
    """The UI's packet store keeps each frame's dissection context (the TLS records and decrypted bytes
    included) and rebuilds the same tree and bytes panes from it."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.output.text import hex_sources, tree_lines
    from sniffer.pipeline import DEFAULT_TLS_PORTS, Dissector
    from sniffer.store import PacketStore
    from sniffer.tls.keylog import KeyLog

    for variant in ("tls1.3-aes256gcm", "tls1.2-cbc-sha256"):
        pcap, keylog, port = captures[variant]
        d = Dissector(tls_ports=DEFAULT_TLS_PORTS | {port}, tls_keylog=KeyLog(str(keylog)))
        store, frames = PacketStore(), []
        for n, (ts, data, ol, lt) in enumerate(open_capture(str(pcap)), 1):
            frames.append(d.frame(n, ts, lt, data, ol))
            store.add(frames[-1])
        assert sum(len(f.pdus) for f in frames) >= 10, variant
        for i, f in enumerate(frames):
            g = store.frame(i)
            assert tree_lines(g.tree(), show_secrets=True) == tree_lines(f.tree(), show_secrets=True), (variant, i)
            assert hex_sources(g, g.tree(), True) == hex_sources(f, f.tree(), True), (variant, i)
        assert store.context_failures == 0


@needs_root
def test_password_inside_tls_is_masked_in_every_output(captures):
    pcap, keylog, port = captures["tls1.2-chacha20"]
    base = ["-r", str(pcap), "-d", f"tcp.port=={port},tls", "--tls-keylog", str(keylog), "-Y", "mqtt.msgtype == 1"]
    secret = T.PASSWORD.encode()
    for extra in (["-V", "-x"], ["-T", "json", "-x"], ["-T", "fields", "-e", "mqtt.passwd"]):
        out = mqttsniff(*base, *extra).stdout
        assert (
            "********" in out and T.PASSWORD not in out and secret.hex() not in out and secret[:8].hex(" ") not in out
        )
    shown = mqttsniff(*base, "-V", "-x", "--show-secrets").stdout
    assert T.PASSWORD in shown and "Decrypted TLS (" in shown


@needs_root
@pytest.mark.parametrize("variant", ["tls1.2-aes128gcm", "tls1.3-aes256gcm"])
def test_without_keys_the_handshake_still_tells_sni_alpn_and_the_missing_client_random(captures, tshark, variant):
    pcap, _keylog, port = captures[variant]
    fields = ["frame.number", "_ws.col.Protocol", "_ws.col.Info", *TLS_FIELDS]
    got = ours(pcap, port, None, fields)
    assert got == tshark_rows(tshark, pcap, port, None, fields)
    joined = "\n".join(got)
    assert "localhost" in joined and "mqtt" in joined  # SNI, ALPN
    notes = ours(pcap, port, None, ["_ws.expert.message"], "-Y", '_ws.expert.message contains "no key"')
    random = [r for r in tshark_rows(tshark, pcap, port, None, ["tls.handshake.type", "tls.handshake.random"])
              if r.startswith("1\t")][0].split("\t")[1]  # fmt: skip
    assert notes == [f"no key for client random {random}: no key log given (-o tls.keylog_file:PATH)"]
    expert = mqttsniff("-r", str(pcap), "-d", f"tcp.port=={port},tls", "-q", "-z", "expert").stdout
    # -z expert (the UI's view): the note once, a Warning of TLS (beside TCP's own, e.g. the close's RST)
    assert re.search(rf"^ +1 +Protocol +TLS  no key for client random {random}", expert, re.M), expert
    assert mqttsniff("-r", str(pcap), "-d", f"tcp.port=={port},tls", "-Y", "mqtt").stdout == ""


@needs_root
def test_a_wrong_key_makes_records_malformed_never_an_exception(captures, tmp_path):
    pcap, keylog, port = captures["tls1.3-aes256gcm"]
    bad = tmp_path / "bad.log"
    lines = []
    for line in keylog.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:  # flip the secret's first hex digit
            parts[2] = ("0" if parts[2][0] != "0" else "1") + parts[2][1:]
        lines.append(" ".join(parts))
    bad.write_text("\n".join(lines) + "\n")
    rows = ours(pcap, port, bad, ["mqtt.msgtype", "_ws.expert.message"], "-Y", "tls.record.opaque_type == 23")
    assert rows and all("Malformed TLS record: authentication failed" in r for r in rows), rows
    assert all(r.split("\t")[0] == "" for r in rows)  # no MQTT from garbage


@needs_root
@pytest.mark.parametrize("cut", ["tiny segments", "coalesced"])
def test_records_split_over_segments_or_several_per_segment(captures, tmp_path, cut):
    """The captured TLS byte streams replayed on port 8883 (no -d) in 1-to-9-byte segments (records split
    over many segments, headers included), or each direction's turn in one segment (many records per segment):
    the same MQTT PDUs come out as from the capture itself."""
    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    want = ours(pcap, port, keylog, ["mqtt.msgtype", "mqtt.msgid", "mqtt.topic", "mqtt.len"], "-Y", "mqtt")
    replay = tmp_path / "replay.pcap"
    with PcapWriter(str(replay)) as w:
        flow = TcpFlow(w, ("127.0.0.1", 40001), ("127.0.0.1", 8883), mss=65000)
        t = flow.open(1_000_000)
        for side, data in T.tcp_turns(pcap, port):
            split = [1 + i % 9 for i in range(len(data))] if cut == "tiny segments" else [len(data)]
            t = flow.send(side, data, t + 1000, split=split)
        flow.close(t + 1000)
    args = ["-r", str(replay), "-o", f"tls.keylog_file:{keylog}", *fields_args(["mqtt.msgtype", "mqtt.msgid",
            "mqtt.topic", "mqtt.len"]), "-Y", "mqtt"]  # fmt: skip
    got = mqttsniff(*args).stdout.splitlines()

    def column(rows: list[str], k: int) -> list[str]:  # every value of field k, in order (frames differ)
        return [v for r in rows for v in r.split("\t")[k].split("|") if v]

    for k in range(4):
        assert column(got, k) == column(want, k)
    assert column(got, 0).count("3") == 8


@needs_root
def test_port_443_is_tls_only_when_alpn_offers_mqtt(captures, tmp_path):
    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    turns = T.tcp_turns(pcap, port)
    for alpn, expect in ((b"mqtt", True), (b"h2\x00\x00", False)):
        replay = tmp_path / f"443-{expect}.pcap"
        hello = turns[0][1]
        if not expect:  # the same ClientHello offering "h2xx" (same length) instead of "mqtt"
            hello = hello.replace(b"\x04mqtt", b"\x04" + alpn)
        with PcapWriter(str(replay)) as w:
            flow = TcpFlow(w, ("127.0.0.1", 40002), ("127.0.0.1", 443), mss=65000)
            t = flow.open(1_000_000)
            for i, (side, data) in enumerate(turns):
                t = flow.send(side, hello if i == 0 else data, t + 1000)
            flow.close(t + 1000)
        rows = mqttsniff("-r", str(replay), "--tls-keylog", str(keylog), "-Y", "mqtt.msgtype == 3").stdout
        assert (rows.count("\n") == 8) is expect, rows


def test_key_log_lines_added_after_the_records_still_decrypt(captures, tmp_path):
    """The key log is empty while the handshake and the first records go by, and gets its lines (a
    half-written last line first) afterwards: the held records are decrypted when the keys appear."""
    pcap, keylog, port = captures["tls1.3-aes256gcm"]
    frames = read_pcap(pcap)

    def decode(grow: bool) -> tuple[list[int], list[str]]:
        log = tmp_path / f"grow-{grow}.log"
        log.write_text("" if grow else keylog.read_text())
        d = Dissector(sessions=False)
        d.tls_ports = frozenset({port})
        d.tls_keylog = KeyLog(str(log))
        types, notes = [], []
        for number, (ts, data, orig) in enumerate(frames, 1):
            if grow and number == len(frames) // 2:
                text = keylog.read_text()
                with log.open("a") as f:
                    f.write(text[:-10])  # the last line still being written: not read yet
                    f.flush()
                    f.write(text[-10:])
            fr = d.frame(number, ts, 1, data, orig)
            types += [p.msgtype for p in fr.pdus]
            notes += [n.text for top in fr.tree() for n in top.walk() if "decrypted late" in n.text]
        return types, notes

    direct, none = decode(False)
    late, notes = decode(True)
    # the same PDUs (a direction's held records come out with its next frame, so the interleaving differs)
    assert sorted(late) == sorted(direct) and direct.count(3) == 8 and not none
    assert notes  # the records that waited for their keys say so


def test_key_log_parsing_and_growth(tmp_path):
    log = tmp_path / "k.log"
    cr = "ab" * 32
    log.write_text(f"# comment\nCLIENT_RANDOM {cr} {'11' * 48}\nEXPORTER_SECRET {cr} {'22' * 32}\nCLIENT_TRAFF")
    k = KeyLog(str(log))
    assert k.get("CLIENT_RANDOM", bytes.fromhex(cr)) == bytes.fromhex("11" * 48) and k.lines == 1
    with log.open("a") as f:
        f.write(f"IC_SECRET_0 {cr} {'33' * 32}\nSERVER_TRAFFIC_SECRET_0 zz {'44' * 32}\n")
    assert k.refresh()
    assert k.get("CLIENT_TRAFFIC_SECRET_0", bytes.fromhex(cr)) == bytes.fromhex("33" * 32) and k.lines == 2
    bad = mqttsniff("--demo", "--tls-keylog", str(tmp_path / "missing.log"), ok=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.log" in bad.stderr
    assert "Traceback" not in bad.stderr


@needs_root
def test_live_capture_decrypts_with_keys_written_during_the_capture(tmp_path, tshark):
    """mqttsniff -i lo starts with an empty key log; the client writes its secrets while it talks."""
    keylog = tmp_path / "live.log"
    keylog.write_text("")
    with T.tls_broker(tmp_path) as (port, ca):
        written = tmp_path / "live.pcapng"
        cmd = [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", "-d", f"tcp.port=={port},tls",
               "--tls-keylog", str(keylog), "-w", str(written),
               *fields_args(["mqtt.msgtype", "mqtt.topic"])]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        err = b""
        while b"capturing on" not in err:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, err
            err += chunk
        try:
            T.paho_session(port, T.client_context(ca, keylog, "1.3"), "live", T.TOPICS)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            out, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, (err + rest).decode()
    types = [t for line in out.decode().splitlines() for t in line.split("\t")[0].split("|") if t]
    assert types.count("3") == 8 and types.count("1") == 1, out.decode()
    # -w wrote the session's keys into the pcapng (Decryption Secrets Blocks): it opens decrypted in
    # tshark and in mqttsniff without any key log
    theirs = tshark_rows(tshark, written, port, None, ["mqtt.msgtype"])
    assert [t for r in theirs for t in r.split("|") if t].count("3") == 8
    again = ours(written, port, None, ["mqtt.msgtype"])
    assert again == theirs


@needs_root
def test_pcapng_decryption_secrets_block_is_read(captures, tmp_path, tshark):
    """editcap --inject-secrets puts the key log into the pcapng: no -o tls.keylog_file needed."""
    pcap, keylog, port = captures["tls1.3-chacha20"]
    injected = tmp_path / "with-keys.pcapng"
    res = subprocess.run([T.require_tool("editcap"), "--inject-secrets", f"tls,{keylog}", str(pcap), str(injected)],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = ours(injected, port, None, FIELDS)
    assert got == tshark_rows(tshark, injected, port, None, FIELDS)
    assert sum(r.split("\t")[1].split("|").count("3") for r in got) == 8


@needs_root
def test_cryptography_is_imported_only_when_keys_are_used(captures):
    """Plain MQTT (and TLS without a key log) never pays for importing `cryptography`."""
    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    probe = (
        "import sys, io, contextlib\n"
        "from sniffer.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run(sys.argv[1:])\n"
        "print('cryptography' in sys.modules)\n"
    )
    for args, imported in (
        (["--demo", "--no-ui", "-V"], "False"),
        (["-r", str(pcap), "-d", f"tcp.port=={port},tls", "-V"], "False"),
        (["-r", str(pcap), "-d", f"tcp.port=={port},tls", "-V", "--tls-keylog", str(keylog)], "True"),
    ):
        res = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=REPO)
        assert res.stdout.strip() == imported, (args, res.stderr)


@needs_root
@pytest.mark.parametrize(
    "version,suite",
    [
        ("1.3", "TLS_AES_128_CCM_SHA256"),
        ("1.3", "TLS_AES_128_CCM_8_SHA256"),
        ("1.2", "AES128-CCM"),  # TLS_RSA_WITH_AES_128_CCM, as mbedTLS devices offer
        ("1.2", "AES256-CCM8"),
    ],
)
def test_aes_ccm_suites_agree_with_tshark(tmp_path, tshark, version, suite):
    pcap, keylog, port = T.capture_s_client(tmp_path, version, suite)
    got = ours(pcap, port, keylog, FIELDS)
    assert got == tshark_rows(tshark, pcap, port, keylog, FIELDS)
    types = [t for line in got for t in line.split("\t")[1].split("|") if t]
    assert types == ["1", "2", "3", "14"]


@needs_root
def test_two_pass_links_requests_to_later_responses_inside_tls(captures):
    """-2's first pass decrypts too: a CONNECT names its CONNACK (mqtt.response_in)."""
    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    one = ours(pcap, port, keylog, ["mqtt.response_in"], "-Y", "mqtt.msgtype == 1")
    two = ours(pcap, port, keylog, ["mqtt.response_in"], "-Y", "mqtt.msgtype == 1", "-2")
    connack = ours(pcap, port, keylog, ["frame.number"], "-Y", "mqtt.msgtype == 2")
    assert one == [""] and two == connack and connack[0].isdigit()


def test_plain_mqtt_on_port_8883_still_decodes(tmp_path):
    """Port 8883 means TLS, but a broker that speaks plain MQTT there (it happens) is still decoded."""
    from sniffer.synth import mqtt_encode as E

    path = tmp_path / "plain8883.pcap"
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, ("10.0.0.2", 40000), ("10.0.0.1", 8883))
        t = flow.open(1_000_000)
        t = flow.send(0, E.connect("plain-on-8883"), t + 1000)
        t = flow.send(1, E.connack(), t + 1000)
        t = flow.send(0, E.publish("a/b", b"x", qos=1, msgid=5), t + 1000)
        t = flow.send(1, E.puback(5), t + 1000)
        flow.close(t + 1000)
    out = mqttsniff("-r", str(path), "-T", "fields", "-e", "mqtt.msgtype", "-e", "tls.record.length", "-Y", "mqtt")
    assert out.stdout.splitlines() == ["1\t", "2\t", "3\t", "4\t"]


@needs_root
def test_keys_logged_after_their_records_are_moved_before_them_in_the_written_pcapng(captures, tmp_path, tshark):
    """A live client logs its keys just after the server's encrypted flight went by: -w writes the secrets
    block as soon as the lines appear, and at close moves every such block to the front, so that tshark
    (which reads in one pass) decrypts the file too."""
    from sniffer.capture.pcapng import PcapngWriter

    pcap, keylog, port = captures["tls1.3-aes256gcm"]
    frames = read_pcap(pcap)
    out = tmp_path / "late.pcapng"
    w = PcapngWriter(str(out), 1, 262144, "lo")
    half = len(frames) // 2
    for part, secrets in ((frames[:half], None), (frames[half:], lambda: keylog.read_bytes())):
        w.secrets = secrets
        w.write([(ts, 1, d, o) for ts, d, o in part], [int(ts * 1e9) for ts, _d, _o in part])
    w.close()
    theirs = tshark_rows(tshark, out, port, None, ["mqtt.msgtype"])
    assert [t for r in theirs for t in r.split("|") if t].count("3") == 8
    assert ours(out, port, None, ["mqtt.msgtype"]) == theirs


@needs_root
@pytest.mark.parametrize("variant", ["tls1.3-aes256gcm", "tls1.2-cbc-sha-etm"])
def test_mangled_tls_bytes_are_data_never_an_exception(captures, variant):
    """Bytes flipped, lengths blown up and records cut inside the TLS payload of a real session: every
    frame still dissects, its tree, Info and data sources build, and what cannot be read says why."""
    import random

    pcap, keylog, port = captures[variant]
    frames = read_pcap(pcap)
    rng = random.Random(14)
    errors = 0
    for trial in range(60):
        d = Dissector(sessions=trial % 2 == 0)
        d.tls_ports = frozenset({port})
        d.tls_keylog = KeyLog(str(keylog))
        for number, (ts, data, orig) in enumerate(frames, 1):
            ihl = (data[14] & 0x0F) * 4
            poff = 14 + ihl + (data[14 + ihl + 12] >> 4) * 4
            if len(data) > poff and rng.random() < 0.3:
                buf = bytearray(data)
                kind = rng.randrange(3)
                if kind == 0:  # flip bytes (record headers, handshake lengths, ciphertext)
                    for _ in range(rng.randint(1, 4)):
                        buf[rng.randrange(poff, len(buf))] ^= 1 << rng.randrange(8)
                elif kind == 1:  # a record length of 0xffff or 0
                    at = poff + rng.randrange(max(1, min(8, len(buf) - poff - 4))) + 3
                    buf[at : at + 2] = rng.choice([b"\xff\xff", b"\x00\x00", b"\x40\x01"])
                else:  # a handshake length from another world
                    at = rng.randrange(poff, len(buf))
                    buf[at : at + 3] = b"\xff\xff\xff"[: len(buf) - at]
                data = bytes(buf[: len(data)])
            fr = d.frame(number, ts, 1, data, orig)
            nodes = fr.tree()
            fr.sources()
            assert isinstance(fr.info, str)
            errors += sum(1 for top in nodes for n in top.walk() if n.severity == "Error")
    assert errors  # the damage was seen, as malformed records with their reasons


def _record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


def _handshake(htype: int, body: bytes) -> bytes:
    return _record(22, bytes([htype]) + len(body).to_bytes(3, "big") + body)


def test_a_suite_that_cannot_be_in_the_negotiated_version_is_a_note_not_an_exception(tmp_path):
    """A (forged) TLS 1.3 ServerHello choosing a TLS 1.2 CBC suite, keys for it in the key log: the
    application data stays encrypted with a note; nothing raises."""
    cr, sr = bytes(range(32)), bytes(range(32, 64))
    hello = b"\x03\x03" + cr + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + b"\x00\x00"
    server = b"\x03\x03" + sr + b"\x00" + b"\xc0\x13" + b"\x00" + b"\x00\x06" + b"\x00\x2b\x00\x02\x03\x04"
    log = tmp_path / "keys.log"
    log.write_text("".join(f"{label} {cr.hex()} {'11' * 32}\n" for label in (
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_RANDOM")))  # fmt: skip
    path = tmp_path / "forged.pcap"
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, ("10.0.0.2", 40000), ("10.0.0.1", 8883))
        t = flow.open(1_000_000)
        t = flow.send(0, _handshake(1, hello), t + 1000)
        t = flow.send(1, _handshake(2, server) + _record(23, bytes(48)), t + 1000)
        t = flow.send(0, _record(23, bytes(64)), t + 1000)
        flow.close(t + 1000)
    out = mqttsniff("-r", str(path), "--tls-keylog", str(log), "-T", "fields", "-e", "tls.handshake.ciphersuite",
                    "-e", "_ws.expert.message", "-Y", "tls")  # fmt: skip
    assert "0xc013" in out.stdout and "is not one mqttsniff decrypts in TLS 1.3" in out.stdout, out.stdout


@needs_root
def test_certificate_subject_in_the_clear_and_decrypted(captures, tshark):
    """TLS 1.2 sends the server's certificate in the clear; TLS 1.3 once decrypted: its subject either way
    (the certificates were made with -subj /CN=localhost; tshark's x509 fields agree)."""
    for variant, keys in (("tls1.2-aes128gcm", False), ("tls1.3-aes256gcm", True)):
        pcap, keylog, port = captures[variant]
        got = ours(pcap, port, keylog if keys else None, ["frame.number", "tls.handshake.certificate.subject"], "-Y",
                   "tls.handshake.certificate.subject")  # fmt: skip
        assert [r.split("\t")[1] for r in got] == ["CN=localhost"]
        theirs = tshark_rows(tshark, pcap, port, keylog if keys else None, ["frame.number", "x509sat.uTF8String"])
        frame = got[0].split("\t")[0]
        assert any(r.startswith(frame + "\t") and "localhost" in r for r in theirs)


def test_sni_and_alpn_from_the_wire_never_reach_the_terminal_raw(tmp_path):
    hello_ext = b"\x00\x00\x00\x11\x00\x0f\x00\x00\x0c" + b"\x1b]0;pwned\x07!" + b"\x00\x10\x00\x07\x00\x05\x04\x1b[2J"
    hello = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00" + len(hello_ext).to_bytes(2, "big") + hello_ext
    path = tmp_path / "evil.pcap"
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, ("10.0.0.2", 40000), ("10.0.0.1", 8883))
        t = flow.open(1_000_000)
        flow.close(flow.send(0, _handshake(1, hello), t + 1000) + 1000)
    for args in (["-V"], ["-T", "json"], ["-T", "fields", "-e", "tls.handshake.extensions_server_name",
                                           "-e", "tls.handshake.extensions_alpn_str"], []):  # fmt: skip
        out = mqttsniff("-r", str(path), *args).stdout
        assert "\x1b" not in out and "\x07" not in out
        assert "pwned" in out or not args


def test_records_waiting_for_keys_are_bounded_and_counted(captures, tmp_path):
    """Records that wait for their keys are capped across the capture (KeyLog.max_held); those past the cap
    are counted, so that once the keys appear the records after them still decrypt (right sequence numbers)."""
    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    frames = read_pcap(pcap)
    log = tmp_path / "empty.log"
    log.write_text("")
    d = Dissector(sessions=False)
    d.tls_ports = frozenset({port})
    d.tls_keylog = KeyLog(str(log))
    d.tls_keylog.max_held = 200  # a few small records, not the 20 KiB PUBLISH
    types, texts, peak = [], [], 0
    for number, (ts, data, orig) in enumerate(frames, 1):
        if number == len(frames) * 2 // 3:
            log.write_text(keylog.read_text())
        fr = d.frame(number, ts, 1, data, orig)
        peak = max(peak, d.tls_keylog.held)
        types += [p.msgtype for p in fr.pdus]
        texts += [n.text for top in fr.tree() for n in top.walk()]
    assert peak <= 200
    assert any("were not kept (the cap on bytes held" in t for t in texts)
    assert not any("authentication failed" in t for t in texts)  # the sequence numbers stayed right
    assert 14 in types  # the DISCONNECT, after the keys appeared, decrypted


@needs_root
def test_packet_list_marks_tls_notes_as_the_tree_has_them(captures, tmp_path):
    """The UI's row marks (sniffer.expert_level.frame_level, no tree built) see a TLS record's notes: the
    missing key (Warning) and a record failing authentication (Error), exactly as the full tree has them."""
    from sniffer.expert_level import frame_level, tree_level

    pcap, keylog, port = captures["tls1.2-aes128gcm"]
    bad = tmp_path / "bad.log"
    lines = [line.split() for line in keylog.read_text().splitlines()]
    bad.write_text("".join(f"{p[0]} {p[1]} {'00' * 48}\n" for p in lines if len(p) == 3))  # the wrong master
    seen = set()
    for log in (None, bad):
        d = Dissector()
        d.tls_ports = frozenset({port})
        d.tls_keylog = None if log is None else KeyLog(str(log))
        for number, (ts, data, orig) in enumerate(read_pcap(pcap), 1):
            fr = d.frame(number, ts, 1, data, orig)
            want = max((tree_level(n) for n in fr.tree()), default=0)
            assert frame_level(fr) == want, number
            seen.add(want)
    assert {3, 4} <= seen  # a Warning (no key) and an Error (authentication failed) were both met


def test_a_session_caught_after_its_handshake_says_so(tmp_path):
    path = tmp_path / "midway.pcap"
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, ("10.0.0.2", 40000), ("10.0.0.1", 8883))
        t = flow.open(1_000_000)
        t = flow.send(0, _record(23, bytes(40)) + _record(23, bytes(30)), t + 1000)
        flow.close(flow.send(1, _record(23, bytes(25)), t + 1000) + 1000)
    rows = mqttsniff("-r", str(path), "-T", "fields", "-e", "_ws.col.Info", "-e", "_ws.expert.message", "-Y", "tls")
    assert rows.stdout.splitlines() == [
        "Application Data, Application Data\tencrypted records of a session whose handshake was not captured:"
        " cannot be decrypted",
        "Application Data\t",
    ]


@needs_root
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_node_tls_keylog_session_agrees_with_tshark(tmp_path, tshark, version):
    """`node --tls-keylog=FILE`, the way to get keys from MQTT.js clients (README): Node's TLS stack."""
    pcap, keylog, port = T.capture_node(tmp_path, version)
    got = ours(pcap, port, keylog, FIELDS)
    assert got == tshark_rows(tshark, pcap, port, keylog, FIELDS)
    assert [t for line in got for t in line.split("\t")[1].split("|") if t] == ["1", "2", "3", "14"]


def _layouts() -> dict[str, list[tuple[int, list[list[bytes]]]]]:
    """Where TLS records and TCP segments cut an MQTT 5 byte stream (turns of segments of records)."""
    from sniffer.synth import mqtt_encode as E

    def pub(topic: str, payload: bytes, ctype: str) -> bytes:
        return E.publish(topic, payload, version=5, props={"content_type": ctype})

    a = pub("a/1", b'{"x":1}', "application/json")  # mqtt:json
    b = pub("b/2", b"z" * 3000, "text/plain")  # mqtt:data-text-lines
    c = pub("c/3", b"<a/>", "application/xml")  # mqtt:xml
    e = pub("e/4", b"21.5", "application/json")  # mqtt:json:data-text-lines (tshark's parser wants a container)
    h = len(b) // 2
    start = [(0, [[E.connect("tls-layouts", version=5)]]), (1, [[E.connack(version=5)]])]
    return {
        "two PDUs in one record": [*start, (0, [[a + c]])],
        "two records in one segment": [*start, (0, [[a, c]])],
        "a PDU across two records of one segment": [*start, (0, [[a + b[:h], b[h:] + c]])],
        "a PDU across two segments": [*start, (0, [[a + b[:h]], [b[h:] + c]])],
        "a PDU across three records": [*start, (0, [[b[:100]], [b[100:200]], [b[200:] + e + c[:3]], [c[3:]]])],
        "the start and the rest in one segment": [*start, (0, [[b[:100], b[100:]], [e]])],
        "a rest, then a PDU begun": [*start, (0, [[b[:100]], [b[100:] + a[:4]], [a[4:], e]])],
        "both directions": [*start, (0, [[a]]), (1, [[b[:h]], [b[h:], c]])],
        "a whole PDU, then a record that begins one": [*start, (0, [[a, b[:100]], [b[100:]]])],
        "a record's rest and a PDU's start, then a record": [*start, (0, [[b[:100]], [b[100:], a[:3]], [a[3:]]])],
        # the third element re-cuts the turn's TCP segments: records across segments
        "a record over four segments": [*start, (0, [[b + a]], [1000, 1000, 1000])],
        "a record over three segments, then one": [*start, (0, [[b], [a]], [1000, 1000, 1040])],
        "a record across two segments, then one": [*start, (0, [[a], [c]], [10])],
        "a record across two, then a record's start": [*start, (0, [[c], [a]], [10, 40])],
        "a record without a whole PDU across two, then one": [*start, (0, [[b[:100]], [c], [b[100:]]], [10])],
        "the server's records across segments": [*start, (0, [[a]]), (1, [[b[:50], b[50:]], [c]], [20])],
    }


DESEGMENTATION = ["tcp.pdu.size", "tcp.segment_data", "tcp.segment", "tcp.segment.count", "tcp.reassembled.length",
                  "tls.segment.data", "tls.segment", "tls.segment.count", "tls.reassembled.length"]  # fmt: skip
V_LINES = re.compile(
    r"^(?:Frame \d+|Transport Layer Security|    TLSv1.. Record Layer: Application Data.*|    TLS segment data .*"
    r"|    \[PDU Size: .*|    TCP segment data .*|\[\d+ Reassembled T.. [Ss]egments .*|    \[Frame: \d+, pay.*"
    r"|    \[Segment count: .*"
    r"|    \[Reassembled (?:TCP|PDU) length: .*|MQ Telemetry Transport Protocol.*)$",
    re.M,
)


def tshark_rows_raw(tshark: str, pcap: Path, args: list[str]) -> str:
    cmd = [tshark, "-r", str(pcap), "-d", "tcp.port==8883,tls", "-d", "tls.port==8883,mqtt", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_frame_protocols_inside_tls_list_mqtt_per_record_hand_off_as_tshark(tmp_path, tshark, version):
    """tshark hands each decrypted record to MQTT apart: frame.protocols lists `mqtt` (and the payloads'
    layers) once per hand-off that completes a PDU, a PDU finished from earlier records being a hand-off of
    its own (tls:mqtt:data-text-lines:mqtt:xml); TCP hands a record finished from earlier segments to TLS apart
    from the rest (tls:mqtt:tls:mqtt); a segment that only begins a record is `tls`, one in a record's middle
    `tcp` with TCP's Info; a hand-off that finished a reassembled PDU or record with more behind it leaves the
    Protocol column as it was. frame.protocols, the Protocol column and the MQTT PDUs equal tshark's on every
    frame of each layout, TLS 1.2 and 1.3; the Info column lists every PDU of the frame where tshark's shows only
    what the last hand-off left (README, differences)."""
    fields = ["frame.number", "frame.protocols", "_ws.col.Protocol", "mqtt.msgtype", "_ws.col.Info"]
    compared = hidden = 0
    certs = T.make_certs(tmp_path)
    for name, layout in _layouts().items():
        work = tmp_path / name.replace(" ", "-").replace(",", "").replace("'", "")
        work.mkdir()
        pcap, keylog = T.memory_session(work, version, layout, certs)
        want = tshark_rows(tshark, pcap, 8883, keylog, fields)
        got = ours(pcap, 8883, keylog, fields)
        assert len(got) == len(want), name
        for w, g in zip(want, got, strict=True):
            wn, wp, wc, wt, wi = w.split("\t")
            gn, gp, gc, gt, gi = g.split("\t")
            # (tshark names the certificate's X.509 modules in the layers of the ServerHello's frame: README)
            wp = ":".join(p for p in wp.split(":") if not p.startswith("x509"))
            assert (gn, gp, gc, gt) == (wn, wp, wc, wt), (name, w, g)
            if gi != wi:  # only where tshark's Info lost PDUs, and ours then names each
                assert "mqtt" in gp and gi.count("Publish Message") == gt.split("|").count("3"), (name, w, g)
                assert all(p in gi for p in wi.split("[TLS segment of a reassembled PDU]")[-1].split(", ")), (w, g)
                hidden += gi.count("Publish Message") > wi.count("Publish Message")
            compared += "tls:mqtt" in gp
        # what TCP's and TLS's desegmentation add: [PDU Size], TCP/TLS segment data, the reassembled items; and
        # the layers' order in -V (a TLS layer per TCP hand-off, each followed by the MQTT it carried)
        seg_fields = ["frame.number", *DESEGMENTATION]
        assert ours(pcap, 8883, keylog, seg_fields) == tshark_rows(tshark, pcap, 8883, keylog, seg_fields), name
        keys = ["-o", f"tls.keylog_file:{keylog}", "-V"]
        tree = mqttsniff("-r", str(pcap), *keys).stdout
        assert V_LINES.findall(tree) == V_LINES.findall(tshark_rows_raw(tshark, pcap, keys)), name
        # a segment that only begins a record has tshark's TLS layer, empty: -Y tls finds it, JSON names it
        assert ours(pcap, 8883, keylog, ["frame.number"], "-Y", "tls") == tshark_rows(
            tshark, pcap, 8883, keylog, ["frame.number"], "-Y", "tls"
        )
    assert compared >= 30
    assert hidden >= 6  # (the README's difference, asserted on tshark's side: a release that fixes it fails here)
    starts = [
        r.split("\t") for r in ours(pcap, 8883, keylog, ["frame.number", "_ws.col.Info"], "-Y", "tls && !tls.record")
    ]
    assert starts and all(i == "[TCP segment of a reassembled PDU]" for _n, i in starts)
    layers = json.loads(mqttsniff("-r", str(pcap), "-o", f"tls.keylog_file:{keylog}", "-T", "json", "-Y",
                                  f"frame.number == {starts[0][0]}").stdout)[0]["_source"]["layers"]  # fmt: skip
    assert layers["tls"] == "Transport Layer Security"
