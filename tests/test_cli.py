"""The command line as a user meets it: outputs, options, and clear one-line errors."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO

MQTT5 = CORPUS / "mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap"
TWO_PDUS = CORPUS / "mqtt311_sub-unsub-qos1_2pdus-in-1-segment__suricata-verify.pcap"
QOS2_31 = CORPUS / "mqtt31_publish-qos2_mosquitto_ipv6__suricata-verify.pcap"


def mqttsniff(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sniffer", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=timeout,
    )


def one_line_error(res: subprocess.CompletedProcess) -> str:
    err = res.stderr.decode()
    assert res.returncode != 0
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("mqttsniff: "), err
    return err


@pytest.mark.parametrize("capture", sorted(p.name for p in CORPUS.glob("*.pcap*")))
def test_summary_matches_tshark_columns(capture: str, tshark: str) -> None:
    path = str(CORPUS / capture)
    ours = mqttsniff("-r", path).stdout.decode().splitlines()
    theirs = subprocess.run([tshark, "-r", path], capture_output=True, text=True).stdout.splitlines()
    # Wireshark glues TCP analysis flags in front of MQTT Info with a stray " , "; we leave them in the TCP tree
    theirs = [re.sub(r"MQTT (\d+) (\[TCP [^]]+\] )+, ", r"MQTT \1 ", line.rstrip()) for line in theirs]
    assert ours == theirs


def test_verbose_tree_and_hex() -> None:
    out = mqttsniff("-r", str(MQTT5), "-V", "-x", "--show-secrets").stdout.decode()
    assert "MQ Telemetry Transport Protocol, Connect Command" in out
    assert "Transmission Control Protocol, Src Port: 38764, Dst Port: 1883" in out
    assert "0000  " in out  # hex dump rows


@pytest.mark.parametrize("args", [["-x"], ["-P", "-x"], ["-P"], ["-x", "-c", "5"]])
def test_hex_and_summary_lines_are_laid_out_as_tsharks(args: list[str], tshark: str) -> None:
    """-x alone prints the dumps only, -P adds the summary line before them (a blank line between), as tshark;
    with -V, -P puts the line right before the tree (the trees themselves: the session layer's additions)."""
    path = str(CORPUS / "mqtt5_publish-35KB-jpeg_multisegment__suricata-verify.pcap")  # (a reassembled PDU too)
    ours = mqttsniff("-r", path, *args, "--show-secrets").stdout.decode()
    assert ours == subprocess.run([tshark, "-r", path, *args], capture_output=True, text=True).stdout
    verbose = mqttsniff("-r", path, "-V", "-P", "-x", "-c", "2").stdout.decode().splitlines()
    theirs = subprocess.run([tshark, "-r", path, "-V", "-P", "-x", "-c", "2"], capture_output=True, text=True)
    assert [ln for ln in verbose if not ln.startswith(("Frame ", "    "))] == [
        ln for ln in theirs.stdout.splitlines() if not ln.startswith(("Frame ", "    "))
    ]  # (summary lines, layer titles, blank lines and dumps in the same places)


def test_only_protocols_collapses_others() -> None:
    out = mqttsniff("-r", str(MQTT5), "-V", "-O", "mqtt", "-c", "4").stdout.decode()
    lines = out.splitlines()
    tcp = [line for line in lines if line.startswith("Transmission Control Protocol")]
    assert tcp, "the TCP layer is still listed, collapsed"
    assert not any(line.startswith("    Source Port") for line in lines), "TCP must not be expanded with -O mqtt"
    assert any(line.startswith("    Header Flags") for line in lines), "MQTT is expanded"


def test_password_masked_everywhere_unless_shown() -> None:
    # mqtt.passwd of this capture is "pass"; hex 70617373
    fields = mqttsniff("-r", str(MQTT5), "-T", "fields", "-e", "mqtt.passwd").stdout.decode()
    assert "********" in fields and "pass" not in fields
    verbose = mqttsniff("-r", str(MQTT5), "-V", "-x").stdout.decode()
    assert "Password: ********" in verbose
    assert "04 ** ** ** **" in verbose, "the password's 4 bytes are blanked in the hex dump"
    revealed = mqttsniff("-r", str(MQTT5), "-V", "-x", "--show-secrets").stdout.decode()
    assert "Password: pass" in revealed and "04 70 61 73 73" in revealed and "**" not in revealed
    shown = mqttsniff("-r", str(MQTT5), "-T", "fields", "-e", "mqtt.passwd", "--show-secrets").stdout.decode()
    assert "pass" in shown


def test_fields_join_several_pdus_with_commas(tshark: str) -> None:
    args = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.msgid"]
    ours = mqttsniff("-r", str(TWO_PDUS), *args).stdout.decode()
    theirs = subprocess.run([tshark, "-r", str(TWO_PDUS), *args], capture_output=True, text=True).stdout
    assert ours == theirs
    assert any("10,10" in line for line in ours.splitlines()), "two UNSUBSCRIBEs in one frame"


def test_field_options_header_separator_occurrence(tshark: str) -> None:
    args = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-E", "header=y", "-E", "separator=;"]
    args += ["-E", "occurrence=f", "-E", "quote=d"]
    ours = mqttsniff("-r", str(TWO_PDUS), *args).stdout.decode()
    theirs = subprocess.run([tshark, "-r", str(TWO_PDUS), *args], capture_output=True, text=True).stdout
    assert ours == theirs


@pytest.mark.parametrize("quote", ["d", "s"])
def test_field_quotes_wrap_the_aggregated_cell(tshark: str, quote: str) -> None:
    # frame 10 holds two UNSUBSCRIBEs: tshark prints "10,10", one pair of quotes around the cell
    args = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.topic", "-E", f"quote={quote}"]
    args += ["-E", "aggregator=;"]
    ours = mqttsniff("-r", str(TWO_PDUS), *args).stdout.decode()
    theirs = subprocess.run([tshark, "-r", str(TWO_PDUS), *args], capture_output=True, text=True).stdout
    assert ours == theirs
    assert any(";" in line for line in ours.splitlines()), "a frame with two values"


def test_json_and_ndjson_carry_every_layer() -> None:
    data = json.loads(mqttsniff("-r", str(MQTT5), "-T", "json").stdout)
    assert len(data) == 13
    layers = data[3]["_source"]["layers"]
    assert {"frame", "tcp", "mqtt"} <= set(layers)
    assert layers["mqtt"]["mqtt.hdrflags"] == "0x10"
    lines = mqttsniff("-r", str(MQTT5), "-T", "ndjson").stdout.decode().splitlines()
    assert len(lines) == 13
    rec = json.loads(lines[7])
    assert rec["frame_number"] == 8 and "mqtt" in rec["layers"]


def test_count_stops_early() -> None:
    out = mqttsniff("-r", str(MQTT5), "-c", "3").stdout.decode().splitlines()
    assert len(out) == 3


@pytest.mark.parametrize("fmt", [[], ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.topic"]])
def test_two_pass_prints_what_one_pass_does(fmt: list[str]) -> None:
    # -2 with the summary (or these fields) once failed: "internal error: TypeError: SummaryDissector.__init__()
    # got an unexpected keyword argument 'prefill'"; neither shows anything of the session layer
    one = mqttsniff("-r", str(QOS2_31), *fmt)
    two = mqttsniff("-r", str(QOS2_31), "-2", *fmt)
    assert one.returncode == 0 and two.returncode == 0, two.stderr.decode()
    assert two.stdout == one.stdout and one.stdout.count(b"\n") == 15


def test_read_from_stdin_is_the_same_as_the_file() -> None:
    whole = mqttsniff("-r", str(QOS2_31)).stdout
    piped = mqttsniff("-r", "-", stdin=QOS2_31.read_bytes()).stdout
    assert piped == whole and whole


def test_decode_as_other_port(tmp_path: Path) -> None:
    # the demo capture runs on 1883; a port that carries nothing changes nothing, a bad spec is refused
    res = mqttsniff("-r", str(MQTT5), "-d", "tcp.port==8883,mqtt")
    assert res.returncode == 0
    err = one_line_error(mqttsniff("-r", str(MQTT5), "-d", "udp.port==1,mqtt"))
    assert "tcp.port==N,mqtt" in err


def test_missing_file(tmp_path: Path) -> None:
    err = one_line_error(mqttsniff("-r", str(tmp_path / "nope.pcap")))
    assert "nope.pcap" in err


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not a capture file\n")
    err = one_line_error(mqttsniff("-r", str(p)))
    assert "notes.txt" in err or "capture" in err


def test_truncated_capture_decodes_up_to_the_cut(tmp_path: Path) -> None:
    data = MQTT5.read_bytes()
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[: len(data) - 40])
    res = mqttsniff("-r", str(p))
    assert res.returncode == 1  # like tshark: the frames before the cut, a warning, a failure code
    err = res.stderr.decode()
    assert "Traceback" not in err and "cut short" in err
    assert len(res.stdout.decode().splitlines()) == 12


def test_unknown_field_suggests_names() -> None:
    err = one_line_error(mqttsniff("-r", str(MQTT5), "-T", "fields", "-e", "mqtt.topik"))
    assert "mqtt.topic" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-r", "x", "-i", "lo"],
        ["-T", "fields", "-r", str(MQTT5)],
        ["-r", str(MQTT5), "-c", "0"],
        ["-r", str(MQTT5), "-E", "bogus=1", "-T", "fields", "-e", "frame.number"],
        ["--no-such-option"],
        ["-r", str(MQTT5), "-o", "no.such.pref:1"],  # tshark's -o: unknown preference
        ["-r", str(MQTT5), "-o", "no-colon"],
    ],
)
def test_bad_arguments_one_line(args: list[str]) -> None:
    res = mqttsniff(*args)
    one_line_error(res)
    assert res.returncode == 2


def test_an_output_without_the_arrow_gets_it_escaped() -> None:
    """An output encoding that lacks "\u2192" (a latin-1 locale, PYTHONIOENCODING) gets every line, with
    the arrows as \\u2192, not an internal error on the first one; UTF-8 gets the arrow's bytes."""
    utf8 = mqttsniff("-r", str(MQTT5))
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    res = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(MQTT5)], capture_output=True, cwd=REPO, env=env)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    assert "\u2192".encode() in utf8.stdout
    assert res.stdout == utf8.stdout.replace("\u2192".encode(), b"\\u2192")


def test_broken_pipe_is_quiet() -> None:
    big = CORPUS / "mqtt311_publish-100KB-both-directions__suricata-verify.pcap"
    cmd = f"{sys.executable} -m sniffer -r {big} -V -x | head -1"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, cwd=REPO, timeout=60)
    assert res.stdout.decode().count("\n") == 1
    assert b"Traceback" not in res.stderr and b"Error" not in res.stderr, res.stderr


def test_demo_runs_without_root() -> None:
    res = mqttsniff("--demo")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "Connect Command" in out and "Publish Message" in out


def test_version_and_glossary() -> None:
    assert mqttsniff("--version").stdout.decode().startswith("mqttsniff ")
    gl = mqttsniff("-G", "fields").stdout.decode()
    assert "\tmqtt.topic\t" in gl and "\tmqtt.property.session_expiry_interval\t" in gl


def test_dissector_layers_never_import_the_ui() -> None:
    code = (
        "import sys, sniffer.pipeline, sniffer.output.printer, sniffer.cli;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('textual','rich','scapy')];"
        "print(','.join(bad))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=os.environ)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"imported: {res.stdout}"


def test_stdin_streams_lines_before_the_input_ends() -> None:
    """`tcpdump -U -w - | mqttsniff -r -`: each frame is printed as soon as it arrives."""
    data = MQTT5.read_bytes()
    header, first_record = data[:24], data[24 : 24 + 16 + 94]  # frame 1 is 94 bytes
    proc = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-r", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        proc.stdin.write(header + first_record)
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no line while the input is still open"
        line = proc.stdout.readline().decode()
        assert line.startswith("    1 ") and "[SYN]" in line
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)


# Modules the headless path must not import (issue 17, start-up): the live-capture machinery (ctypes,
# socket.py, threads), and what only a rare path needs: hashlib/hmac/base64 (a cloud CONNECT's
# credentials), difflib (a misspelt -e field), dataclasses (~8 ms), importlib.resources (--demo).
HEADLESS_UNNEEDED = (
    "sniffer.capture.live",
    "ctypes",
    "socket",
    "hashlib",
    "hmac",
    "base64",
    "difflib",
    "dataclasses",
    "importlib.resources",
    "textual",
    "rich",
    "scapy",
    "cryptography",
)


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "1"],
        ["-T", "fields", "-e", "mqtt.topic"],
        ["-T", "json"],
        ["-T", "ndjson"],
        ["-V"],
        ["--demo", "-c", "1"],
    ],
)
def test_headless_start_up_imports_only_what_it_uses(args: list[str]) -> None:
    """Every import costs each start-up (the first headless line came 234 ms after the start): reading a
    capture without cloud credentials imports none of HEADLESS_UNNEEDED."""
    cap = REPO / "tests" / "captures" / "mqtt31_paho-python_pubsub-retain-ping__zeek.pcap"
    argv = args if "--demo" in args else ["-r", str(cap), *args]
    code = (
        "import sys; from sniffer.cli import main; code = main(sys.argv[1:]);"
        f"sys.stderr.write(repr(sorted(m for m in {HEADLESS_UNNEEDED!r} if m in sys.modules)));"
        "sys.exit(code)"
    )
    res = subprocess.run([sys.executable, "-c", code, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, cwd=REPO, env=os.environ, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr.endswith("[]"), f"imported: {res.stderr[-300:]}"
