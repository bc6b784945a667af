"""Secrets stay masked: a password split across TCP segments, and MQTT 5 Authentication Data.

Captures are generated (TcpFlow) with the secret cut where the test says; the test knows which bytes
of each frame are secret, so it checks that exactly those are `**` in every hex dump (frame bytes and
reassembled PDU), with --show-secrets as the control that they are really there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from sniffer.net.pcapfile import open_capture
from sniffer.output.text import hex_sources
from sniffer.pipeline import Dissector
from sniffer.store import PacketStore
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList

PASSWORD = b"S3CRETPASSWORD"
AUTH_DATA = b"AUTHDATA-7f3a9c"
HEX_LINE = re.compile(r"^[0-9a-f]{4}  ((?:(?:[0-9a-f]{2}|\*\*) ?)+)")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO)


def dumps(text: str) -> list[list[str | None]]:
    """Every hex dump of `-x` output as a list of bytes (hex text, or None for a masked byte)."""
    out: list[list[str | None]] = []
    prev_blank = True
    for line in text.splitlines():
        m = HEX_LINE.match(line)
        if m is None:
            prev_blank = not line.strip() or line.endswith(":")
            continue
        if line.startswith("0000") and prev_blank:
            out.append([])
        prev_blank = False
        out[-1].extend(None if b == "**" else b for b in m.group(1).split())
    return out


def write(tmp_path: Path, name: str, sends: list[tuple[int, bytes, list[int] | None]]) -> Path:
    fl = FrameList()
    flow = TcpFlow(fl)
    t = flow.open(0)
    for side, pdu, split in sends:
        t = flow.send(side, pdu, t + 1000, split=split)
    flow.close(t + 1000)
    path = tmp_path / name
    fl.save(str(path))
    return path


def check_masked(path: Path, secret: bytes) -> None:
    """Masked output differs from --show-secrets exactly at the secret's bytes, in every dump."""
    masked, shown = run("-r", str(path), "-x"), run("-r", str(path), "-x", "--show-secrets")
    assert masked.returncode == shown.returncode == 0, masked.stderr
    md, sd = dumps(masked.stdout), dumps(shown.stdout)
    assert len(md) == len(sd)
    seen = b""
    for m, s in zip(md, sd, strict=True):
        raw = bytes.fromhex("".join(b for b in s if b is not None))
        hidden = [i for i, b in enumerate(m) if b is None]
        assert all(m[i] == s[i] for i in range(len(m)) if m[i] is not None)
        # the masked bytes are one run, and that run is part of the secret (its tail, head or all)
        if hidden:
            run_ = raw[hidden[0] : hidden[-1] + 1]
            assert len(run_) == len(hidden) and run_ in secret, (run_, secret)
            seen += run_
        # no byte of the secret is left in clear: any piece of it in the dump lies where it is masked
        for k in range(len(secret)):
            for piece in (secret[: k + 1], secret[k:]):
                if len(piece) >= 3:
                    pos = raw.find(piece)
                    while pos >= 0:
                        assert all(m[i] is None for i in range(pos, pos + len(piece))), (piece, raw)
                        pos = raw.find(piece, pos + 1)
    assert secret in seen or seen.count(secret[:4]) >= 1  # the secret was there to mask


@pytest.mark.parametrize("cut", [0, 1, 8, len(PASSWORD) - 1])
def test_password_split_across_segments_is_masked_in_every_frame(tmp_path: Path, cut: int) -> None:
    """cut 0: the segment ends right after the password's length bytes; 8: S3CRETPA | SSWORD."""
    c = E.connect("dev1", username="user", password=PASSWORD)
    path = write(tmp_path, "split.pcap", [(0, c, [c.index(PASSWORD) + cut]), (1, E.connack(), None)])
    check_masked(path, PASSWORD)


def test_password_over_three_segments(tmp_path: Path) -> None:
    c = E.connect("dev1", username="user", password=PASSWORD)
    at = c.index(PASSWORD)
    path = write(tmp_path, "three.pcap", [(0, c, [at + 3, 5]), (1, E.connack(), None)])
    check_masked(path, PASSWORD)


def _v5_sends(cut: int) -> list[tuple[int, bytes, list[int] | None]]:
    props = {"authentication_method": "SCRAM-SHA-1", "authentication_data": AUTH_DATA}
    c = E.connect("dev5", version=5, props=props)
    a = E.auth(0x18, props=props)
    ack = E.connack(version=5, props=props)
    return [
        (0, c, [c.index(AUTH_DATA) + cut]),
        (1, a, [a.index(AUTH_DATA) + cut]),
        (0, a, None),
        (1, ack, [ack.index(AUTH_DATA) + cut]),
    ]


@pytest.mark.parametrize("cut", [0, 6])
def test_mqtt5_authentication_data_is_masked_in_bytes(tmp_path: Path, cut: int) -> None:
    check_masked(write(tmp_path, "auth.pcap", _v5_sends(cut)), AUTH_DATA)


def test_mqtt5_authentication_data_is_masked_in_text_outputs(tmp_path: Path) -> None:
    path = write(tmp_path, "auth.pcap", _v5_sends(4))
    fields = ["-T", "fields", "-e", "mqtt.property.authentication_data", "-e", "mqtt.prop_string", "-Y", "mqtt"]
    masked, shown = run("-r", str(path), *fields), run("-r", str(path), *fields, "--show-secrets")
    assert AUTH_DATA.hex() in shown.stdout and "SCRAM-SHA-1" in shown.stdout
    assert AUTH_DATA.hex() not in masked.stdout and "********" in masked.stdout
    assert "SCRAM-SHA-1" in masked.stdout  # the method is no secret
    for args in (["-V"], ["-T", "json"], ["-T", "fields", "-e", "tcp.payload"]):
        out = run("-r", str(path), *args).stdout
        hexed = AUTH_DATA.hex(":") if "json" in args else AUTH_DATA.hex()  # JSON bytes as tshark's: 41:55:...
        assert hexed not in out and AUTH_DATA.decode() not in out and "********" in out
        assert hexed in run("-r", str(path), *args, "--show-secrets").stdout
    json.loads(run("-r", str(path), "-T", "json").stdout)


def test_the_ui_store_keeps_the_mask_of_a_frame_whose_connect_completes_later(tmp_path: Path) -> None:
    """The UI rebuilds frames from its store: the first segment's mask must survive that."""
    c = E.connect("dev1", username="user", password=PASSWORD)
    path = write(tmp_path, "split.pcap", [(0, c, [c.index(PASSWORD) + 8]), (1, E.connack(), None)])
    d, store, frames = Dissector(), PacketStore(), []
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(path)), 1):
        f = d.frame(n, ts, lt, data, ol)
        store.add(f)
        frames.append(f)
    first = next(i for i, f in enumerate(frames) if PASSWORD[:8] in f.data)
    g = store.frame(first)
    text = "\n".join(hex_sources(g, g.tree(), False))
    assert "S3 CR" not in text and "53 33 43 52" not in text and "** ** ** **" in text
    assert "53 33 43 52" in "\n".join(hex_sources(g, g.tree(), True))


def test_password_is_masked_in_tcp_payload_fields(tmp_path: Path) -> None:
    """JSON and -T fields carry the segments' bytes (tcp.payload): the password's are ** there too."""
    c = E.connect("dev1", username="user", password=PASSWORD)
    path = write(tmp_path, "split.pcap", [(0, c, [c.index(PASSWORD) + 8]), (1, E.connack(), None)])
    for args in (["-T", "json"], ["-T", "ndjson"], ["-T", "fields", "-e", "tcp.payload"]):
        masked = run("-r", str(path), *args)
        assert masked.returncode == 0, masked.stderr
        shown = run("-r", str(path), *args, "--show-secrets").stdout
        sep = ":" if "fields" not in args else ""  # JSON bytes as tshark's: 53:33:...
        for piece in (PASSWORD[:8], PASSWORD[8:]):
            hexed = sep.join(f"{b:02x}" for b in piece)
            assert hexed in shown and hexed not in masked.stdout, (args, piece)
        assert sep.join(["**"] * 8) in masked.stdout


def test_the_reassembly_items_keep_a_split_password_masked(tmp_path: Path) -> None:
    """A CONNECT across two segments: the "[Reassembled TCP Data: …]" label of -V (text, which the outputs'
    masking of bytes fields does not reach), and tcp.reassembled.data / tcp.segment_data in -T fields and JSON."""
    c = E.connect("dev1", username="user", password=PASSWORD)
    path = write(tmp_path, "split.pcap", [(0, c, [c.index(PASSWORD) + 8]), (1, E.connack(), None)])
    fields = ["-T", "fields", "-e", "tcp.reassembled.data", "-e", "tcp.segment_data"]
    for args in (["-V"], fields, ["-T", "json"]):
        out = run("-r", str(path), *args).stdout
        assert PASSWORD.hex() not in out and PASSWORD.hex(":") not in out and PASSWORD.decode() not in out, args
        assert "**" in out, args
        if args != ["-V"]:  # (a label is masked for good: the value itself is shown by -T fields and JSON)
            shown = PASSWORD.hex(":") if "json" in args else PASSWORD.hex()
            assert shown in run("-r", str(path), *args, "--show-secrets").stdout, args
    assert (
        "[Reassembled TCP Data: 102600044d51545404c2003c000464657631000475736572000e****"
        in run("-r", str(path), "-V").stdout
    )
