"""A pcapng's interfaces in every frame, as tshark shows them: "on interface lo, id 0" in the frame's title,
`frame.section_number`, `frame.interface_id`, `frame.interface_name` and `frame.interface_description`.

Every live capture mqttsniff and Wireshark write is a pcapng; tshark's -V, JSON and `-T fields` name each
frame's interface, and a capture of several interfaces is filtered by it (`frame.interface_id == 1`). Ours
named the interface only for merged sources, and only as a bare `Interface name` item. Checked on real
captures on lo (dumpcap's, which describes lo as "Loopback", and ours) and on a file of two interfaces, one
unnamed and one with a name a terminal would act on.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, require_tool, sniff_out, tshark_out

FIELDS = ("frame.section_number", "frame.interface_id", "frame.interface_name", "frame.interface_description")
UDP_PORT = 39123


def _frame_lines(out: str) -> list[str]:
    """The frame layer's title and interface lines of a -V output."""
    keep = ("Frame ", "    Section number", "    Interface id", "        Interface name", "        Interface desc")
    return [ln for ln in out.splitlines() if ln.startswith(keep)]


def _send_until_done(procs: list[subprocess.Popen], port: int, timeout: float = 30.0) -> None:
    """Datagrams to `port`, one every 0.1 s, until every capture in `procs` stopped at its count (a capture
    that opens late on a loaded machine still gets its frames: a fixed wait before sending raced it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                pytest.fail(f"{[p.args[0] for p in procs]} did not stop at their frame count")
            s.sendto(b"x", ("127.0.0.1", port))
            time.sleep(0.1)
    finally:
        s.close()


def _capture(cmd: list[str], path: Path) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _send_until_done([proc], UDP_PORT)
    assert proc.returncode == 0 and path.exists(), proc.stderr.read() if proc.stderr else ""


def _escaped(text: str) -> str:
    """tshark's text with the two controls of the hostile name below escaped as its tree's name item has them
    (its frame title, Interface id line and -T fields write them raw: README, differences)."""
    return text.replace("\x1b", "\\033").replace("\x07", "\\a")


def _compare(tshark: str, path: Path) -> list[str]:
    p = str(path)
    mine = _frame_lines(sniff_out("-r", p, "-V"))
    assert mine == _frame_lines(_escaped(tshark_out(tshark, "-r", p, "-V"))) and mine, path
    args = ["-r", p, "-T", "fields"] + [a for f in FIELDS for a in ("-e", f)]
    assert sniff_out(*args) == _escaped(tshark_out(tshark, *args))

    def frames(out: str) -> list[dict]:
        keep = ("frame.section_number", "frame.interface_id", "frame.interface_id_tree")
        return [{k: v for k, v in r["_source"]["layers"]["frame"].items() if k in keep} for r in json.loads(out)]

    # (JSON's values are the strings as written, escaped as JSON escapes them: equal to tshark's once parsed)
    assert frames(sniff_out("-r", p, "-T", "json")) == frames(tshark_out(tshark, "-r", p, "-T", "json"))
    return mine


def test_real_captures_on_lo_name_their_interface(tmp_path: Path, tshark: str, root: None) -> None:
    dumpcap = require_tool("dumpcap")
    theirs, ours = tmp_path / "dumpcap.pcapng", tmp_path / "ours.pcapng"
    _capture([dumpcap, "-q", "-i", "lo", "-f", f"udp port {UDP_PORT}", "-c", "3", "-w", str(theirs)], theirs)
    _capture([sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"udp port {UDP_PORT}", "-c", "3", "-w", str(ours)],
             ours)  # fmt: skip
    lines = _compare(tshark, theirs)
    assert lines[0].endswith(" on interface lo, id 0")
    assert lines[1:5] == ["    Section number: 1", "    Interface id: 0 (lo)", "        Interface name: lo",
                          "        Interface description: Loopback"]  # fmt: skip
    assert _compare(tshark, ours)[2] == "    Interface id: 0 (lo)"
    args = ["-r", str(theirs), "-Y", 'frame.interface_name == "lo" && frame.interface_id == 0']
    assert len(sniff_out(*args).splitlines()) == 3


def test_a_live_capture_names_its_interface(tshark: str, root: None) -> None:
    """`mqttsniff -i lo -V` and `tshark -i lo -V` side by side: the same interface lines (no file written)."""
    cmds = [[sys.executable, "-m", "sniffer"], [tshark]]
    procs = [subprocess.Popen([*c, "-i", "lo", "-f", f"udp port {UDP_PORT + 1}", "-c", "2", "-V"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in cmds]  # fmt: skip
    _send_until_done(procs, UDP_PORT + 1)
    outs = [p.communicate(timeout=20)[0] for p in procs]
    mine, theirs = (_frame_lines(o) for o in outs)
    assert mine == theirs and len(mine) == 2 * 4 and mine[0].endswith(" on interface lo, id 0"), outs


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def test_two_interfaces_one_unnamed_one_hostile(tmp_path: Path, tshark: str) -> None:
    """An unnamed interface is "unknown"; a name with ESC and BEL is escaped as tshark escapes it; frames are
    filtered by their interface's id."""
    udp = struct.pack("!HHHH", 5000, 5001, 9, 0) + b"x"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, b"\n\0\0\1", b"\n\0\0\2") + udp
    frame = bytes(6) + b"\2" + bytes(5) + b"\x08\x00" + ip
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(0, b""))
    out += _block(1, struct.pack("<HHI", 1, 0, 0) + _option(0, b""))
    out += _block(1, struct.pack("<HHI", 1, 0, 0) + _option(2, b"gw\x1b[31m\x07") + _option(3, b"the gateway's")
                  + _option(0, b""))  # fmt: skip
    for k, ifid in enumerate((0, 1, 1, 0)):
        ts = 1_700_000_000_000_000 + k
        body = struct.pack("<IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame
        out += _block(6, body + b"\0" * (-len(frame) % 4) + _option(0, b""))
    path = tmp_path / "two.pcapng"
    path.write_bytes(out)
    lines = _compare(tshark, path)
    assert "    Interface id: 0 (unknown)" in lines and "\x1b" not in "".join(lines)
    assert "on interface gw\x1b[31m\x07, id 1" in tshark_out(tshark, "-r", str(path), "-V")  # (both sides)
    assert "        Interface name: gw\\033[31m\\a" in lines
    args = ["-r", str(path), "-Y", "frame.interface_id == 1", "-T", "fields", "-e", "frame.number"]
    assert sniff_out(*args) == tshark_out(tshark, *args) == "2\n3\n"
