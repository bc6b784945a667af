"""Captured bytes never control the operator's terminal: every output escapes what a client put on the wire.

A capture built by sniffer/synth carries, in every text field a client chooses (client id, user
name, will topic, topics, topic filters, user property keys and values, content type, payload),
newlines, tabs, CR, an OSC title sequence, a screen clear, a DCS string, a C1 CSI, a bidi override,
a backslash and Rich/Textual markup. Each output is checked against tshark 4.0 on that capture:
-V labels and the escaped values equal tshark's own labels (its PDML shownames), -T fields is
byte-identical to tshark wherever tshark's value holds nothing a terminal acts on, and otherwise
equals tshark's label escaping; JSON values parse to tshark's strings; -x dumps are tshark's; display
filters still match the raw values as tshark's do. And no output holds a raw terminal control.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter
from tests.conftest import REPO
from tests.ui_helpers import make_app, records, run, settle

# What a hostile client writes: the controls tshark -T fields escapes itself, then the ones it
# writes raw (OSC window title, ED clear screen, DCS, C1 CSI, RLO bidi override), a backslash,
# and markup that Rich/Textual would interpret if it were parsed.
HOSTILE = "a\nb\tc\rd\x1b]0;pwned\x07e\x1b[2Jf\x1bP+q\x1b\\g\x9bh\u202ei\\j[bold red]x[/][@click=app.quit]"
# Only what tshark -T fields escapes itself (\b \t \n \f \r), a backslash and markup: byte-identical
TAME = "a\nb\tc\rd\be\ff\\g[bold red]x[/][@click=app.quit]"
JSON_PAYLOAD = json.dumps(
    {"method": "thing.event\u202e.post", "id": "1\x9b2", "params": {"k": "[bold]v\x1b]0;t\x07"}}, ensure_ascii=False
)
STRING_FIELDS = (
    "mqtt.clientid",
    "mqtt.username",
    "mqtt.willtopic",
    "mqtt.topic",
    "mqtt.prop_key",
    "mqtt.prop_value",
    "mqtt.property.content_type",
)
# Not printable for Python, yet printable for GLib and tshark, and no terminal acts on them (the
# line and paragraph separators, which tshark keeps too, would break str.splitlines(): escaped)
_KEEP = {"Zs", "Co"}


def controls(text: str, allowed: str = "") -> set[str]:
    """Characters in `text` a terminal may act on (controls, format, unassigned), except `allowed`."""
    return {c for c in text if not c.isprintable() and c not in allowed and unicodedata.category(c) not in _KEEP}


def build(path: Path) -> None:
    """Two MQTT 5 connections and one MQTT 3.1.1 connection with HOSTILE or TAME in every text field.
    MQTT 5 property blocks stay under 128 bytes (tshark 4.0 misreads longer ones, see README)."""
    with PcapWriter(str(path)) as w:
        t = 1_700_000_000_000_000
        f = TcpFlow(w, client=("192.168.1.20", 50001))
        t = f.open(t)
        will = m.Will("w" + HOSTILE, b"bye")
        conn = m.connect("c" + HOSTILE, version=5, username="u" + HOSTILE, password="p", will=will,
                         props={"user_property": [("k" + HOSTILE, "v")]})  # fmt: skip
        t = f.send(0, conn, t + 1000, ack=False)
        t = f.send(1, m.connack(version=5), t + 1000)
        pub = m.publish("t" + HOSTILE, "m" + HOSTILE, qos=1, msgid=7, version=5,
                        props={"user_property": [("k", "v" + HOSTILE)]})  # fmt: skip
        t = f.send(0, pub, t + 1000, ack=False)
        t = f.send(1, m.puback(7, version=5), t + 1000)
        t = f.send(0, m.publish("t" + TAME, JSON_PAYLOAD, version=5, props={"content_type": "ct" + HOSTILE}), t + 1000)
        t = f.send(0, m.subscribe(8, [("s" + HOSTILE, 1)], version=5), t + 1000, ack=False)
        t = f.send(1, m.suback(8, [1], version=5), t + 1000)
        t = f.close(t + 1000)
        g = TcpFlow(w, client=("192.168.1.21", 50002))
        t = g.open(t + 1000)
        t = g.send(0, m.connect("c" + TAME, username="u" + TAME), t + 1000, ack=False)
        t = g.send(1, m.connack(), t + 1000)
        t = g.send(0, m.publish(TAME, "x"), t + 1000)
        t = g.close(t + 1000)


@pytest.fixture(scope="module")
def cap(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("esc") / "hostile.pcap"
    build(path)
    return path


def ours(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, cwd=REPO, timeout=120)


def tshark_out(tshark: str, *args: str) -> bytes:
    return subprocess.run([tshark, *args], capture_output=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def shownames(tshark: str, cap: Path) -> dict[tuple[int, str], list[str]]:
    """(frame, field) -> tshark's labels ("Topic: …", escaped as tshark's -V tree shows them), from PDML."""
    pdml = tshark_out(tshark, "-r", str(cap), "-T", "pdml").decode()
    out: dict[tuple[int, str], list[str]] = {}
    for number, packet in enumerate(pdml.split("<packet>")[1:], 1):
        for name, showname in re.findall(r'<field name="([^"]+)" showname="([^"]*)"', packet):
            out.setdefault((number, name), []).append(html.unescape(showname))
    assert any(name == "mqtt.topic" for _, name in out), "tshark decoded no MQTT topic"
    return out


def test_fields_match_tshark(tshark: str, cap: Path, shownames) -> None:
    args = ["-r", str(cap), "-T", "fields", "-e", "frame.number"] + [x for f in STRING_FIELDS for x in ("-e", f)]
    theirs = tshark_out(tshark, *args).decode().splitlines()
    p = ours(*args)
    assert p.returncode == 0, p.stderr
    mine = p.stdout.decode().splitlines()
    assert len(mine) == len(theirs)
    identical = escaped = 0
    for line, their_line in zip(mine, theirs, strict=True):
        cells, their_cells = line.split("\t"), their_line.split("\t")
        assert len(cells) == len(their_cells) == len(STRING_FIELDS) + 1, line  # no forged columns
        number = int(cells[0])
        for name, cell, their in zip(STRING_FIELDS, cells[1:], their_cells[1:], strict=True):
            assert not controls(cell), (number, name, cell)
            if not controls(their):
                assert cell == their, (number, name)  # byte-identical where tshark writes nothing raw
                identical += bool(cell)
            else:
                # tshark writes ESC, BEL, C1, RLO raw here; we write them as tshark's -V tree does
                labels = [s.split(": ", 1)[1] for s in shownames[(number, name)]]
                assert cell == ",".join(labels), (number, name)
                escaped += 1
    assert identical >= 4 and escaped >= 7  # both cases really occur


def test_verbose_labels_are_tsharks(tshark: str, cap: Path, shownames) -> None:
    p = ours("-r", str(cap), "-V")
    assert p.returncode == 0, p.stderr
    text = p.stdout.decode()
    assert not controls(text, "\n")
    lines = {ln.strip() for ln in text.splitlines()}
    checked = 0
    for (_number, name), labels in shownames.items():
        if name in STRING_FIELDS:
            for label in labels:
                assert label in lines, label
                checked += 1
    assert checked >= 11
    assert "[bold red]x[/][@click=app.quit]" in text  # markup stays literal


def test_summary_escapes_the_info_column(tshark: str, cap: Path, shownames) -> None:
    """tshark 4.0 writes topics raw into its Info column (a newline in a topic breaks its summary
    line in two); ours shows them as its -V labels do, in both summary paths."""
    theirs = tshark_out(tshark, "-r", str(cap), "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info",
                        "-e", "mqtt.topic")  # fmt: skip
    expected: dict[int, str] = {}
    for line in theirs.decode().splitlines():
        number, info, topics = line.split("\t")
        for raw, label in zip(topics.split(","), shownames.get((int(number), "mqtt.topic"), []), strict=False):
            assert raw in info
            info = info.replace(raw, label.split(": ", 1)[1])
        expected[int(number)] = info
    assert sum("\\033]0;pwned\\a" in i for i in expected.values()) == 2  # the PUBLISH and the SUBSCRIBE
    for args in (["-r", str(cap)], ["-r", str(cap), "-Y", "frame"]):  # the fast path and summary_line()
        p = ours(*args)
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode()
        assert not controls(out, "\n")
        lines = out.splitlines()
        assert len(lines) == len(expected)  # no line broken by a newline from the wire
        for line in lines:
            number = int(line.split()[0])
            assert line.endswith(" " + expected[number]), line
    p = ours("-r", str(cap), "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info")
    for line in p.stdout.decode().splitlines():
        number, info = line.split("\t")
        assert info == expected[int(number)]


def _values(obj, name: str, out: list[str]) -> list[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == name:
                out.extend(v if isinstance(v, list) else [v])
            else:
                _values(v, name, out)
    elif isinstance(obj, list):
        for v in obj:
            _values(v, name, out)
    return out


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_values_are_tsharks_and_terminal_safe(tshark: str, cap: Path, fmt: str) -> None:
    """The same strings as tshark's JSON once parsed; unlike tshark's text, no C1, DEL or bidi raw."""
    theirs = json.loads(tshark_out(tshark, "-r", str(cap), "-T", "json"))
    their_raw = tshark_out(tshark, "-r", str(cap), "-T", "json").decode()
    assert controls(their_raw, "\n")  # tshark 4.0 writes C1 and RLO raw into its JSON
    p = ours("-r", str(cap), "-T", fmt)
    assert p.returncode == 0, p.stderr
    text = p.stdout.decode()
    assert not controls(text, "\n")
    if fmt == "json":
        mine = [rec["_source"]["layers"] for rec in json.loads(text)]
    else:
        mine = [json.loads(line)["layers"] for line in text.splitlines()]
    assert len(mine) == len(theirs)
    checked = 0
    for my_layers, their in zip(mine, theirs, strict=True):
        for name in STRING_FIELDS:
            want = _values(their["_source"]["layers"].get("mqtt", {}), name, [])
            assert _values(my_layers.get("mqtt", {}), name, []) == want, name
            checked += len(want)
    assert checked >= 11


def test_hex_dump_is_tsharks(tshark: str, cap: Path) -> None:
    hexline = re.compile(r"^[0-9a-f]{4}  ")
    theirs = [ln for ln in tshark_out(tshark, "-r", str(cap), "-x").decode().splitlines() if hexline.match(ln)]
    p = ours("-r", str(cap), "-x", "--show-secrets")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert not controls(out, "\n")
    mine = [ln for ln in out.splitlines() if hexline.match(ln)]
    assert mine == theirs


FILTERS = [
    r'mqtt.topic contains "\n"',
    r'mqtt.clientid contains "\x1b]0;pwned\x07"',
    r'mqtt.prop_value contains "\u202e"',
    r'mqtt.topic contains "\\j[bold red]"',
    r'mqtt.topic contains "\\033"',  # the escaped form is display only: no frame holds it
    r'mqtt.username matches "\r.\x1b"',
]


@pytest.mark.parametrize("expr", FILTERS)
def test_display_filters_see_the_raw_values(tshark: str, cap: Path, expr: str) -> None:
    theirs = tshark_out(tshark, "-r", str(cap), "-Y", expr, "-T", "fields", "-e", "frame.number")
    p = ours("-r", str(cap), "-Y", expr, "-T", "fields", "-e", "frame.number")
    assert p.returncode == 0, p.stderr
    assert p.stdout == theirs


def test_errors_escape_file_names_and_filters(tmp_path: Path) -> None:
    name = "x\x1b]0;pwned\x07\x1b[2J\u202e.pcap"
    missing = tmp_path / name
    bad = tmp_path / ("bad" + name)
    bad.write_bytes(b"not a capture at all, just text\n" * 4)
    for args in (["-r", str(missing)], ["-r", str(bad)], ["-r", str(bad), "-Y", "mqtt.topik\x1b[2J == 1"]):
        p = ours(*args)
        err = p.stderr.decode()
        assert p.returncode != 0 and p.stdout == b""
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert not controls(err, "\n"), err
        assert "\\033" in err or "\\x1b" in err  # shown, escaped (the filter lexer quotes with repr)


def test_ui_shows_escapes_not_terminal_codes(cap: Path) -> None:
    """The packet list, the detail tree and the payload pane as the terminal receives them: the
    hostile text is there, escaped, and nothing the client sent is a code or a style."""
    from io import StringIO

    from rich.console import Console

    def screen_bytes(app) -> str:
        """What Textual writes to the terminal for the whole screen (as export_screenshot renders it)."""
        console = Console(width=app.size.width, height=app.size.height, file=StringIO(), force_terminal=True,
                          color_system="truecolor", legacy_windows=False, safe_box=False)  # fmt: skip
        console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
        return console.file.getvalue()

    def wire_codes(term: str) -> set[str]:
        """Codes in the terminal output that Textual itself never writes (it writes CSI ... m/H/K only)."""
        found = set(re.findall(r"\x1b\][^\x07]*\x07|\x1b\[2J|\x1bP|[\x07\x0d\x9b\u202e]", term))
        return found

    recs = records(cap)

    async def go() -> None:
        app = make_app(recs, name="hostile.pcap")
        async with app.run_test(size=(200, 50)) as pilot:
            await settle(app, pilot, len(recs))
            publish = next(i for i in range(app.store.count) if "Publish Message (id=7)" in app.store.row(i)[6])
            rows = "".join(seg.text for y in range(app.plist.count) for seg in app.plist.render_line(y))
            assert "\\033]0;pwned\\a" in rows and "[bold red]x[/]" in rows
            assert not controls(rows)
            app.plist._set_cursor(publish)
            await pilot.pause(0.1)
            labels = []

            def walk(tn) -> None:
                for c in tn.children:
                    labels.append(c.label)
                    walk(c)

            walk(app.details.root)
            topic = next(lb for lb in labels if lb.plain.startswith("Topic: "))
            want = "Topic: ta\\nb\\tc\\rd\\033]0;pwned\\ae\\033[2Jf\\033P+q\\033\\g\\u009Bh\\u202Ei\\j"
            assert topic.plain == want + "[bold red]x[/][@click=app.quit]"
            assert not topic.spans and not topic.style  # the markup in it styled nothing
            assert all(not controls(lb.plain) for lb in labels)
            term = screen_bytes(app)
            assert "Topic: ta\\nb\\tc\\rd\\033]0;pwned" in term
            assert not wire_codes(term), wire_codes(term)
            # the payload pane, as text (v: auto picks hex for this payload, then text, json, hex)
            await pilot.press("p")
            await pilot.pause(0.1)
            assert app.payload_mode == "auto"
            await pilot.press("v")
            await pilot.pause(0.1)
            shown = str(app.payload_text.render())
            assert app.payload_mode == "text"
            assert "ma\nb\tc\\rd\\033]0;pwned\\ae" in shown and "[bold red]x[/]" in shown
            assert "Message on ta\\nb\\tc\\rd\\033]0;pwned" in shown
            assert not controls(shown, "\n\t")
            assert not wire_codes(screen_bytes(app))
            # the JSON payload of the next PUBLISH: its C1 and bidi characters as \\u escapes
            tame = next(i for i in range(publish + 1, app.store.count) if "Publish Message" in app.store.row(i)[6])
            app.plist._set_cursor(tame)
            await pilot.pause(0.1)
            await pilot.press("v")  # json
            await pilot.pause(0.1)
            shown = str(app.payload_text.render())
            assert app.payload_mode == "json"
            assert "thing.event\\u202e.post" in shown and "1\\u009b2" in shown and "[bold]v\\u001b]0;t" in shown
            assert not controls(shown, "\n")
            assert not wire_codes(screen_bytes(app))

    run(go())


# One PUBLISH per character: every C0 control, DEL, every C1 control, format characters (soft hyphen,
# bidi marks, embeddings, overrides and isolates, zero-width space, BOM, a tag), line and paragraph
# separators, spaces, private use, an unassigned code point, an emoji, backslash and quotes.
CHARS = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA1)]
    + list("\u00ad\u061c\u200b\u200e\u2028\u2029\u202a\u202e\u2066\u2069\u3000\ufeff\ufff9\ue000\u0378")
    + ["\U000e0001", "\U0001f600", "\\", '"', "'"]
)


@pytest.fixture(scope="module")
def chars_cap(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("esc") / "chars.pcap"
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.send(0, m.connect("c"), f.open(1_700_000_000_000_000) + 1000, ack=False)
        t = f.send(1, m.connack(), t + 1000)
        for ch in CHARS:
            t = f.send(0, m.publish("A" + ch + "B", "x"), t + 1000)
        f.close(t + 1000)
    return path


def test_every_character_as_tshark_labels_it(tshark: str, chars_cap: Path) -> None:
    """-V escapes each character exactly as tshark's tree does; -T fields is tshark's where tshark
    escapes or keeps a character, and the tree's escape where tshark writes a control raw. A NUL is
    the one difference (tshark cuts the string there: README, "Where mqttsniff and Wireshark differ")."""
    only_publish = ("-r", str(chars_cap), "-Y", "mqtt.msgtype == 3")
    # lines end at "\n" only: tshark writes U+2028 raw, which str.splitlines() would also cut at
    their_tree = [ln.strip() for ln in tshark_out(tshark, *only_publish, "-V").decode().split("\n")]
    their_topics = [ln[len("Topic: ") :] for ln in their_tree if ln.startswith("Topic: ")]
    their_fields = tshark_out(tshark, *only_publish, "-T", "fields", "-e", "mqtt.topic").decode().split("\n")[:-1]
    p = ours(*only_publish, "-V")
    my_topics = [ln.strip()[len("Topic: ") :] for ln in p.stdout.decode().split("\n") if "    Topic: " in ln]
    p = ours(*only_publish, "-T", "fields", "-e", "mqtt.topic")
    my_fields = p.stdout.decode().splitlines()  # ours holds no line separator of any kind
    assert len(my_topics) == len(my_fields) == len(their_topics) == len(their_fields) == len(CHARS)
    for ch, mine, theirs, my_field, their_field in zip(
        CHARS, my_topics, their_topics, my_fields, their_fields, strict=True
    ):
        if ch == "\0":
            assert theirs == their_field == "A" and mine == my_field == "A\\000B"
            continue
        if ch in "\u2028\u2029":  # tshark keeps them; escaped here (see sniffer/textesc.py)
            assert theirs == their_field == "A" + ch + "B" and mine == my_field == f"A\\u{ord(ch):04X}B"
            continue
        assert mine == theirs, f"U+{ord(ch):04X}"
        assert my_field == (their_field if not controls(their_field) else theirs), f"U+{ord(ch):04X}"
        assert not controls(mine) and not controls(my_field)


def test_a_publish_cut_short_still_escapes_its_topic(tmp_path: Path) -> None:
    """A PUBLISH whose middle segment was lost is shown malformed with the topic it had: escaped, like every other
    Info (found in a second read: this path wrote the topic raw)."""
    from test_lossy_link import CLIENT_PORT, connected, save

    from sniffer.synth import impair

    fl, f, t = connected("dev")
    t = f.send(0, m.publish("x/\x1b]0;pwned\x07\x1b[31mred", b"b" * 4000, qos=1, msgid=7), t + 1000, ack=False)
    t = f.send(0, m.publish("after", b"a"), t + 1000)
    f.close(t + 1000)
    lost = impair.data_frames(fl.frames_list, sport=CLIENT_PORT)[2]
    path = save(impair.drop(fl.frames_list, [lost]), tmp_path / "cut.pcap")
    for args in ([], ["-T", "fields", "-e", "_ws.col.Info"]):
        out = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(path), *args], capture_output=True, text=True,
                             cwd=REPO).stdout  # fmt: skip
        assert "Publish Message (id=7) [x/\\033]0;pwned\\a\\033[31mred][Malformed Packet]" in out, out
        assert "\x1b" not in out and "\x07" not in out
