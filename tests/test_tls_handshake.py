"""The TLS handshake decoded as Wireshark decodes it: every message's subtree in -V, every tls.handshake.*
field in -T fields and JSON, line for line and value for value against tshark 4.0, on the handshakes of
four real TLS stacks (Python's ssl and paho, Node's tls, openssl s_client, mosquitto's server side; TLS 1.2
and 1.3, decrypted with their key logs; mutual TLS with a device certificate) and on crafted hellos that
carry what those stacks do not send (GREASE, a HelloRetryRequest, a PSK, cookies, unknown extensions). What
tshark decodes and mqttsniff does not: the certificates' ASN.1 (tshark's x509 modules; both label each
certificate with its subject)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import tls_helpers as T
from capture_helpers import needs_root

import sniffer.tls.fields  # noqa: F401  (registers the tls.* fields listed below)
from sniffer.fields import REGISTRY
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter

# every field the handshake's decoding registers, but mqttsniff's own certificate subject
HANDSHAKE_FIELDS = sorted(
    a
    for a in REGISTRY
    if a.startswith(("tls.handshake", "tls.extension.", "tls.record_size_limit", "tls.compress_certificate"))
    and a != "tls.handshake.certificate.subject"
)


# mqttsniff's own (the certificate's subject, the note that says why nothing is decrypted), and a CA's name, an
# object of x509 items in tshark's JSON, empty in ours (the ASN.1 is not decoded; its -V label names it)
OWN = ("tls.handshake.certificate.subject", "_ws.expert", "tls.handshake.dname=")


def run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def both(tshark: str, pcap: Path, port: int, keylog: Path | None, *args: str) -> tuple[str, str]:
    """(mqttsniff's output, tshark's) of the same arguments on a TLS capture."""
    common = ["-r", str(pcap), "-d", f"tcp.port=={port},tls", *args]
    if keylog is not None:
        common += ["-o", f"tls.keylog_file:{keylog}"]
    return run([sys.executable, "-m", "sniffer", *common]), run([tshark, *common, *as_mqtt(port)])


def as_mqtt(port: int) -> list[str]:
    """What tshark needs to name the decrypted data MQTT (mqttsniff knows it from the port it was told)."""
    return ["-d", f"tls.port=={port},mqtt"]


def handshakes(text: str) -> list[list[str]]:
    """Every "Handshake Protocol: …" subtree of a -V output (the encrypted ones aside), its lines as printed;
    what lies under a "Certificate: …" or "Distinguished Name: …" line (tshark's x509 tree, mqttsniff's
    subject) left out."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("Handshake Protocol: ") and "Encrypted Handshake" not in line:
            indent, block, skip = len(line) - len(line.lstrip()), [line], None
            i += 1
            while i < len(lines) and len(lines[i]) - len(lines[i].lstrip()) > indent:
                here = len(lines[i]) - len(lines[i].lstrip())
                if skip is None or here <= skip:
                    skip = here if lines[i].strip().startswith(("Certificate: ", "Distinguished Name: ")) else None
                    block.append(lines[i])
                i += 1
            out.append(block)
        else:
            i += 1
    return out


def same_line(mine: str, theirs: str) -> bool:
    """Equal, or tshark cut a label past 240 bytes ("JA3 Fullstring [truncated]: …", README's differences)
    and ours holds the whole of it."""
    if " [truncated]: " in theirs:
        head = theirs.replace(" [truncated]", "", 1)
        return mine.startswith(head[: len(head) - 1]) and len(mine) > len(head)
    return mine == theirs


def assert_tree_equal(mine: str, theirs: str) -> int:
    ours, ref = handshakes(mine), handshakes(theirs)
    assert len(ours) == len(ref) > 0
    for a, b in zip(ours, ref, strict=True):
        assert len(a) == len(b), "\n".join(a) + "\n---\n" + "\n".join(b)
        bad = [(x, y) for x, y in zip(a, b, strict=True) if not same_line(x, y)]
        assert not bad, bad[:5]
    return len(ours)


def leaves(obj, out: list[str], key: str = "") -> list[str]:
    """key=value of every leaf of a JSON layer, in order (a repeated key's values are a list, as tshark's
    --no-duplicate-keys writes them); label items are structure, not values."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            leaves(v, out, k)
    elif isinstance(obj, list):
        for v in obj:
            leaves(v, out, key)
    elif not key.endswith("_tree"):
        out.append(f"{key}={obj}")
    return out


def check_everything(tshark: str, pcap: Path, port: int, keylog: Path | None) -> None:
    mine, theirs = both(tshark, pcap, port, keylog, "-V")
    assert_tree_equal(mine, theirs)
    fields = [x for f in HANDSHAKE_FIELDS for x in ("-e", f)]
    mine, theirs = both(tshark, pcap, port, keylog, "-Y", "tls.handshake", "-T", "fields", *fields)
    rows = [(a.split("\t"), b.split("\t")) for a, b in zip(mine.splitlines(), theirs.splitlines(), strict=True)]
    bad = [(f, x, y) for a, b in rows for f, x, y in zip(HANDSHAKE_FIELDS, a, b, strict=True) if x != y]
    assert not bad, bad[:5]
    # mqttsniff's JSON is valid JSON: a repeated key's values are a list, as tshark's --no-duplicate-keys has them
    common = ["-r", str(pcap), "-d", f"tcp.port=={port},tls", "-Y", "tls.handshake", "-T", "json"]
    common += ["-o", f"tls.keylog_file:{keylog}"] if keylog is not None else []
    mine, theirs = (
        run([sys.executable, "-m", "sniffer", *common]),
        run([tshark, *common, *as_mqtt(port), "--no-duplicate-keys"]),
    )
    for a, b in zip(json.loads(mine), json.loads(theirs), strict=True):
        ours = [x for x in leaves(a["_source"]["layers"]["tls"], []) if not x.startswith(OWN)]
        ref = [x for x in leaves(b["_source"]["layers"]["tls"], []) if not x.startswith(("x509", "ber.", "pkcs"))]
        assert ours == ref


@pytest.fixture(scope="module")
def memory(tmp_path_factory) -> dict[str, tuple[Path, Path, int]]:
    """TLS 1.2 and 1.3 sessions of Python's ssl client and server (OpenSSL) over memory BIOs."""
    work = tmp_path_factory.mktemp("hs-memory")
    certs = T.make_certs(work)
    connect = bytes.fromhex("100c00044d5154540402003c0000")
    out = {}
    for version in ("1.2", "1.3"):
        pcap, keylog = T.memory_session(work, version, [(0, [[connect]])], certs)
        out[version] = (pcap, keylog, 8883)
        pcap, keylog = T.memory_session(work, version, [(0, [[connect]])], certs, mutual=True)
        out[f"{version}-mutual"] = (pcap, keylog, 8883)
    for suite in ("AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"):  # RSA and finite-field DH key exchanges
        pcap, keylog = T.memory_session(work, "1.2", [(0, [[connect]])], certs, ciphers=suite)
        out[f"1.2-{suite}"] = (pcap, keylog, 8883)
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> dict[str, tuple[Path, Path, int]]:
    """Real stacks against mosquitto's TLS listener, captured on lo: paho (Python's ssl), Node's tls and
    openssl s_client, TLS 1.2 and 1.3."""
    out = {}
    for version in ("1.2", "1.3"):
        out[f"paho-{version}"] = T.capture_session(tmp_path_factory.mktemp(f"paho{version}"), version)
        work = tmp_path_factory.mktemp(f"mutual{version}")
        out[f"paho-mutual-{version}"] = T.capture_session(work, version, mutual=True)
        out[f"node-{version}"] = T.capture_node(tmp_path_factory.mktemp(f"node{version}"), version)
    out["s_client-1.3"] = T.capture_s_client(tmp_path_factory.mktemp("sc13"), "1.3", "TLS_AES_128_CCM_SHA256")
    out["s_client-1.2"] = T.capture_s_client(tmp_path_factory.mktemp("sc12"), "1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    return out


@pytest.mark.parametrize(
    "version", ["1.2", "1.3", "1.2-mutual", "1.3-mutual", "1.2-AES128-GCM-SHA256", "1.2-DHE-RSA-AES128-GCM-SHA256"]
)
@pytest.mark.parametrize("keys", [True, False], ids=["decrypted", "no-keys"])
def test_openssl_handshake_is_tsharks(memory, tshark, version, keys):
    """Mutual TLS (the server's CertificateRequest, the device's certificate and Certificate Verify) too, as
    AWS IoT and most device fleets authenticate devices."""
    pcap, keylog, port = memory[version]
    check_everything(tshark, pcap, port, keylog if keys else None)
    if version.endswith("mutual") and (keys or version.startswith("1.2")):  # (TLS 1.3 encrypts them)
        mine, _ = both(tshark, pcap, port, keylog if keys else None, "-V")
        assert "Handshake Protocol: Certificate Request" in mine
        assert "(id-at-organizationName=Acme IoT,id-at-commonName=device-42)" in mine
    if "RSA" in version:
        mine, _ = both(tshark, pcap, port, None, "-V")
        assert ("Diffie-Hellman Server Params" if "DHE" in version else "RSA Encrypted PreMaster Secret") in mine


@needs_root
@pytest.mark.parametrize(
    "stack",
    ["paho-1.2", "paho-1.3", "paho-mutual-1.2", "paho-mutual-1.3", "node-1.2", "node-1.3", "s_client-1.2",
     "s_client-1.3"],
)  # fmt: skip
def test_real_stacks_handshakes_are_tsharks(live, tshark, stack):
    """Node offers ~60 suites (its JA3 string passes 240 bytes: tshark cuts it, ours is whole), s_client a
    CCM suite; TLS 1.3's encrypted messages (EncryptedExtensions, Certificate, CertificateVerify, Finished,
    NewSessionTicket) as decrypted by both."""
    pcap, keylog, port = live[stack]
    check_everything(tshark, pcap, port, keylog)


def _ext(etype: int, body: bytes) -> bytes:
    return struct.pack("!HH", etype, len(body)) + body


def _v8(b: bytes) -> bytes:
    return bytes([len(b)]) + b


def _v16(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def _message(htype: int, body: bytes, record_version: int = 0x0303) -> bytes:
    msg = bytes([htype]) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, record_version, len(msg)) + msg


HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def crafted_hellos() -> list[tuple[int, bytes]]:
    """(side, record) of a ClientHello with GREASE everywhere and every extension mqttsniff decodes (and some
    it does not), a HelloRetryRequest, a TLS 1.2 ServerHello without extensions."""
    key_shares = struct.pack("!HH", 0x1D, 4) + b"\x01\x02\x03\x04" + struct.pack("!HH", 0x17, 2) + b"\xee\xff"
    psk = _v16(_v16(b"ID-1") + struct.pack("!I", 12345)) + _v16(_v8(b"\x11" * 32))
    exts = b"".join([
        _ext(0x0A0A, b""), _ext(0, _v16(b"\x00" + _v16(b"broker.example"))), _ext(5, b"\x01\x00\x00\x00\x00"),
        _ext(10, _v16(b"\x2a\x2a\x00\x1d\x00\x17\x12\x34")), _ext(11, _v8(b"\x00")),
        _ext(13, _v16(b"\x04\x03\x08\x04\x04\x01\x02\x02\x09\x09")), _ext(16, _v16(_v8(b"mqtt") + _v8(b"x-other"))),
        _ext(18, b""), _ext(21, bytes(7)), _ext(27, _v8(b"\x00\x02")), _ext(28, b"\x40\x01"),
        _ext(35, b"\xaa\xbb\xcc"), _ext(42, b""), _ext(43, _v8(b"\x3a\x3a\x03\x04\x03\x03")),
        _ext(44, _v16(b"cookie!")),
        _ext(45, _v8(b"\x01\x00")), _ext(49, b""), _ext(50, _v16(b"\x04\x03")), _ext(51, _v16(key_shares)),
        _ext(0x4444, b"\x01\x02"), _ext(0x4445, b""), _ext(65281, _v8(b"")), _ext(41, psk),
    ])  # fmt: skip
    suites = _v16(b"\x1a\x1a\x13\x01\x13\x02\xc0\x2f\x12\x34")
    client = b"\x03\x03" + bytes(range(32)) + _v8(b"\x55" * 8) + suites + _v8(b"\x00") + _v16(exts)
    hrr_exts = _ext(43, b"\x03\x04") + _ext(51, b"\x00\x17") + _ext(44, _v16(b"cookie!"))
    hrr = b"\x03\x03" + HRR_RANDOM + _v8(b"\x55" * 8) + b"\x13\x01\x00" + _v16(hrr_exts)
    plain = b"\x03\x03" + bytes(range(100, 132)) + _v8(b"\x66" * 32) + b"\xc0\x2f\x00"
    return [(0, _message(1, client, 0x0301)), (1, _message(2, hrr)), (1, _message(2, plain))]


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def der_name(*attrs: tuple[bytes, str]) -> bytes:
    """A DER Name of (attribute OID bytes, UTF8String) RDNs, in that order."""
    return _der(0x30, b"".join(_der(0x31, _der(0x30, _der(0x06, oid) + _der(0x0C, v.encode()))) for oid, v in attrs))


def certificate_request_with_cas() -> list[tuple[int, bytes]]:
    """A TLS 1.2 ServerHello and a Certificate Request naming two CAs (one of two RDNs), as a device fleet's
    broker sends to say which CAs it accepts."""
    cn, org = b"\x55\x04\x03", b"\x55\x04\x0a"
    names = [der_name((cn, "Fleet Root CA")), der_name((cn, "device-42"), (org, "Acme IoT"))]
    cas = b"".join(_v16(n) for n in names)
    body = _v8(b"\x01\x40") + _v16(b"\x04\x03\x08\x04") + _v16(cas)
    hello = b"\x03\x03" + bytes(32) + b"\x00\xc0\x2f\x00"
    messages = bytes([2]) + len(hello).to_bytes(3, "big") + hello + bytes([13]) + len(body).to_bytes(3, "big") + body
    client = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\xc0\x2f\x01\x00"
    return [(0, _message(1, client)), (1, struct.pack("!BHH", 22, 0x0303, len(messages)) + messages)]


def write_flow(path: Path, records: list[tuple[int, bytes]]) -> Path:
    with PcapWriter(str(path)) as w:
        flow = TcpFlow(w, ("127.0.0.1", 40001), ("127.0.0.1", 8883))
        t = flow.open(1_000_000)
        for side, record in records:
            t = flow.send(side, record, t + 1000)
        flow.close(t + 1000)
    return path


def test_crafted_hellos_are_tsharks(tmp_path, tshark):
    pcap = write_flow(tmp_path / "hellos.pcap", crafted_hellos())
    check_everything(tshark, pcap, 8883, None)
    mine, theirs = both(tshark, pcap, 8883, None)
    assert mine == theirs  # the summary: "Hello Retry Request" and its TLSv1.3 column
    assert "TLSv1.3 148 Hello Retry Request" in mine


def test_certificate_request_naming_its_cas_is_tsharks(tmp_path, tshark):
    pcap = write_flow(tmp_path / "cas.pcap", certificate_request_with_cas())
    check_everything(tshark, pcap, 8883, None)
    mine, _ = both(tshark, pcap, 8883, None, "-V")
    assert "Distinguished Name: (id-at-organizationName=Acme IoT,id-at-commonName=device-42)" in mine


def test_ja3_is_the_md5_of_its_string_without_grease(tmp_path, tshark):
    pcap = write_flow(tmp_path / "hellos.pcap", crafted_hellos()[:1])
    fields = [
        "-Y",
        "tls.handshake.type == 1",
        "-T",
        "fields",
        "-e",
        "tls.handshake.ja3_full",
        "-e",
        "tls.handshake.ja3",
    ]
    mine, theirs = both(tshark, pcap, 8883, None, *fields)
    assert mine == theirs
    full, digest = mine.strip().split("\t")
    assert hashlib.md5(full.encode()).hexdigest() == digest
    assert full.startswith("771,4865-4866-49199-4660,0-5-10-11-13-16-") and "2570" not in full and "6682" not in full


def test_filters_on_handshake_fields_find_tsharks_frames(memory, tshark):
    pcap, keylog, port = memory["1.3"]
    for expr in ("tls.handshake.extensions_supported_group == 0x001d", "tls.handshake.sig_hash_alg == 0x0804",
                 "tls.handshake.extensions_key_share_group == 29", "tls.handshake.ja3",
                 'tls.handshake.extensions_server_name == "localhost"',
                 "tls.handshake.session_ticket_lifetime_hint > 0",
                 "tls.handshake.verify_data", "tls.handshake.certificate_length > 700"):  # fmt: skip
        mine, theirs = both(tshark, pcap, port, keylog, "-Y", expr, "-T", "fields", "-e", "frame.number")
        assert mine == theirs and mine, expr


def test_cut_or_lying_hellos_are_malformed_never_an_exception(tmp_path):
    """Every prefix of the crafted ClientHello's body, and every one of its length bytes set to 0xff, in a
    record that claims what it holds: a note, never a traceback."""
    record = crafted_hellos()[0][1]
    body = record[9:]
    cases = [body[:n] for n in range(0, len(body), 7)]
    cases += [body[:i] + b"\xff" + body[i + 1 :] for i in range(0, len(body), 3)]
    records = [(0, _message(1, b)) for b in cases]
    pcap = write_flow(tmp_path / "cut.pcap", records)
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", "tcp.port==8883,tls", "-V"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert res.stdout.count("Handshake Protocol: Client Hello") >= len(records)
    assert "shorter than its fields say" in res.stdout


def test_a_hostile_certificate_subject_never_reaches_the_terminal_raw(tmp_path, tshark):
    """A server certificate whose CN holds ESC, BEL and Rich markup: the Certificate label (tshark's, in the
    clear in TLS 1.2) and mqttsniff's subject field are escaped in -V and -T fields, as tshark escapes them."""
    openssl = T.require_tool("openssl")
    evil = b"\x1b]0;pwned\x07[bold red]x[/]\x1b[2J"
    der_path = tmp_path / "cert.der"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(der_path), "-outform", "DER", "-days", "1", "-subj", "/CN=" + "Q" * len(evil)],
                   check=True, capture_output=True)  # fmt: skip
    der = der_path.read_bytes().replace(b"Q" * len(evil), evil)  # (its signature no longer holds: nothing checks it)
    chain = len(der).to_bytes(3, "big") + der
    certificate = bytes([11]) + (len(chain) + 3).to_bytes(3, "big") + len(chain).to_bytes(3, "big") + chain
    hello = bytes([2]) + (38).to_bytes(3, "big") + b"\x03\x03" + bytes(32) + b"\x00\xc0\x2f\x00"
    client = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\xc0\x2f\x01\x00"
    record = struct.pack("!BHH", 22, 0x0303, len(hello + certificate)) + hello + certificate
    pcap = write_flow(tmp_path / "evil.pcap", [(0, _message(1, client)), (1, record)])
    mine, theirs = both(tshark, pcap, 8883, None, "-V")
    label = [ln for ln in mine.splitlines() if ln.strip().startswith("Certificate: ")]
    assert label == [ln for ln in theirs.splitlines() if ln.strip().startswith("Certificate: ")]
    assert label[0].endswith(r"(id-at-commonName=\033]0;pwned\a[bold red]x[/]\033[2J)")
    fields = run(
        [sys.executable, "-m", "sniffer", "-r", str(pcap), "-T", "fields", "-e", "tls.handshake.certificate.subject"]
    )
    assert r"CN=\033]0;pwned\a[bold red]x[/]\033[2J" in fields
    assert "\x1b" not in mine + fields and "\x07" not in mine + fields
