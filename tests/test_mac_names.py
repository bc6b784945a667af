"""MAC address names (sniffer.net.names) against tshark's default name resolution, and -n / -N / -o.

The capture mixes what a bench or a gateway sees: an ESP32 (Espressif) and an Apple host, addresses in
the IEEE's 28- and 36-bit blocks, multicast and broadcast destinations, a locally administered address
nobody names, a device whose OUI is in manuf with the group bit set, and ARP frames over Ethernet and
Linux cooked captures (v1 and v2). tshark 4.0 with its own manuf/wka files is the reference.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, tshark_out

from sniffer.net.names import MacNames
from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow, mac
from sniffer.synth.pcap_write import PcapWriter

T0 = 1_700_000_000_000_000
# (client, broker) MAC pairs, one MQTT connection each
PAIRS = [
    ("24:0a:c4:12:34:56", "28:cf:e9:21:14:8f"),  # Espressif device, Apple broker host
    ("00:50:c2:00:1a:bc", "70:b3:d5:00:10:05"),  # 36-bit IEEE blocks (names keep the free bits)
    ("00:55:da:1a:bc:de", "00:55:da:10:00:05"),  # a 28-bit block, leading zero bytes dropped
    ("02:00:00:00:00:07", "01:00:5e:00:00:fb"),  # locally administered (no name), IPv4 multicast
    ("25:0a:c4:00:00:01", "33:33:00:01:00:00"),  # Espressif's OUI with the group bit, IPv6 multicast
    ("00:00:0c:07:ac:01", "01:80:c2:00:00:0e"),  # a well-known range (HSRP), a well-known address (LLDP)
]


def _arp(op: int, sha: str, spa: bytes, tha: str, tpa: bytes) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac(sha) + spa + mac(tha) + tpa


ARPS = [  # (destination, ARP body)
    ("ff:ff:ff:ff:ff:ff", _arp(1, "24:0a:c4:12:34:56", b"\n\0\0\2", "00:00:00:00:00:00", b"\n\0\0\1")),
    ("24:0a:c4:12:34:56", _arp(2, "28:cf:e9:21:14:8f", b"\n\0\0\1", "24:0a:c4:12:34:56", b"\n\0\0\2")),
]


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("names")
    eth = d / "eth.pcap"
    w = PcapWriter(str(eth))
    for i, (dst, body) in enumerate(ARPS):
        w.write(T0 + i, mac(dst) + body[8:14] + b"\x08\x06" + body)
    for i, (client, broker) in enumerate(PAIRS):
        flow = TcpFlow(w, client=(f"192.168.1.{20 + i}", 50000 + i), client_mac=client, server_mac=broker)
        t = flow.open(T0 + 1000 * (i + 1))
        flow.send(0, [m.fixed(12, 0, b"")], t + 10)
    w.close()
    sll1, sll2 = d / "sll1.pcap", d / "sll2.pcap"
    w1, w2 = PcapWriter(str(sll1), linktype=113), PcapWriter(str(sll2), linktype=276)
    for i, (_dst, body) in enumerate(ARPS):
        src = body[8:14]
        w1.write(T0 + i, struct.pack("!HHH", 0, 1, 6) + src + b"\0\0\x08\x06" + body)
        w2.write(T0 + i, b"\x08\x06\0\0" + struct.pack("!IHBB", 2, 1, 0, 6) + src + b"\0\0" + body)
    w1.close()
    w2.close()
    return {"eth": eth, "sll1": sll1, "sll2": sll2}


def ours(*args: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _link_blocks(out: str) -> list[str]:
    """The Ethernet and Linux cooked layers of every frame of a -V print."""
    keep, lines = False, []
    for ln in out.splitlines():
        if ln and not ln.startswith(" "):
            keep = ln.startswith(("Ethernet II", "Linux cooked"))
        if keep and ln:
            lines.append(ln)
    return lines


def test_summary_names_the_link_addresses_as_tshark(tshark: str, captures: dict[str, Path]) -> None:
    for path in captures.values():
        mine, ref = ours("-r", str(path)), tshark_out(tshark, "-r", str(path))
        assert mine == ref
        assert "Espressi_12:34:56 → " in mine and "Apple_21:14:8f → " in mine
        assert ours("-n", "-r", str(path)) == tshark_out(tshark, "-n", "-r", str(path))


def test_tree_shows_names_beside_addresses_as_tshark(tshark: str, captures: dict[str, Path]) -> None:
    for path in captures.values():
        mine, ref = _link_blocks(ours("-r", str(path), "-V")), _link_blocks(tshark_out(tshark, "-r", str(path), "-V"))
        assert len(ref) >= 2 * len(ARPS) and mine == ref
        assert any("Source: Espressi_12:34:56 (24:0a:c4:12:34:56)" in ln for ln in mine)
        plain = _link_blocks(ours("-n", "-r", str(path), "-V"))
        assert plain == _link_blocks(tshark_out(tshark, "-n", "-r", str(path), "-V"))
        assert not any("Espressi" in ln for ln in plain)
    mine = "\n".join(_link_blocks(ours("-r", str(captures["eth"]), "-V")))
    for shown in ("JMBSDeve_0a:bc", "SOREDIto_05", "KoolPOS_0a:bc:de", "KoolPOS_05", "IPv4mcast_fb",
                  "Espressi_00:00:01", "IPv6mcast_01:00:00", "All-HSRP-routers_01", "LLDP_Multicast",
                  "02:00:00:00:00:07 (02:00:00:00:00:07)"):  # fmt: skip
        assert shown in mine, shown


def _eth_layers(out: str) -> list[dict]:
    return [p["_source"]["layers"].get("eth") for p in json.loads(out)]


def test_json_has_tsharks_hidden_name_and_vendor_fields(tshark: str, captures: dict[str, Path]) -> None:
    path = str(captures["eth"])
    for extra in ([], ["-n"]):
        mine, ref = (
            _eth_layers(ours(*extra, "-r", path, "-T", "json")),
            _eth_layers(tshark_out(tshark, *extra, "-r", path, "-T", "json")),
        )
        assert mine == ref
    first = mine[0]
    assert first["eth.src_tree"]["eth.src.oui_resolved"] == "Espressif Inc."  # the vendor, even with -n


def test_fields_and_filters_on_names_as_tshark(tshark: str, captures: dict[str, Path]) -> None:
    path = str(captures["eth"])
    fields = ["eth.src_resolved", "eth.dst_resolved", "eth.addr_resolved", "eth.src.oui", "eth.dst.oui_resolved",
              "eth.addr.oui_resolved", "eth.src.lg", "eth.dst.ig"]  # fmt: skip
    args = ["-r", path, "-T", "fields"] + [a for f in fields for a in ("-e", f)]
    assert ours(*args) == tshark_out(tshark, *args)
    for expr in ('eth.src.oui_resolved contains "Espressif"', 'eth.addr_resolved == "Broadcast"',
                 'eth.dst_resolved matches "^IPv[46]mcast_"', "eth.dst.ig == 1"):  # fmt: skip
        args = ["-r", path, "-Y", expr, "-T", "fields", "-e", "frame.number"]
        want = tshark_out(tshark, *args)
        assert want.strip() and ours(*args) == want, expr


def test_personal_ethers_file_names_devices(tshark: str, captures: dict[str, Path], tmp_path: Path) -> None:
    # a user names their devices in ~/.config/wireshark/ethers (here WIRESHARK_CONFIG_DIR, which tshark honours)
    (tmp_path / "ethers").write_text("24:0a:c4:12:34:56\tthermostat  # the lab's ESP32\n28-CF-E9-21-14-8F gateway\n")
    env = {**os.environ, "WIRESHARK_CONFIG_DIR": str(tmp_path)}
    path = str(captures["eth"])
    mine = ours("-r", path, env=env)
    ref = subprocess.run([tshark, "-r", path], capture_output=True, text=True, env=env, check=True).stdout
    assert mine == ref and "thermostat → Broadcast" in mine and "gateway → thermostat" in mine


def test_a_hostile_name_in_an_ethers_file_is_escaped(captures: dict[str, Path], tmp_path: Path) -> None:
    # a name reaches the summary's Source column as it is; an ethers file is anyone's to write
    (tmp_path / "ethers").write_text("24:0a:c4:12:34:56 \x1b[31mred\x07\n")
    env = {**os.environ, "WIRESHARK_CONFIG_DIR": str(tmp_path)}
    for args in ((), ("-V",), ("-T", "fields", "-e", "eth.src_resolved")):
        out = ours("-r", str(captures["eth"]), *args, env=env)
        assert "\x1b" not in out and "\x07" not in out and "\\033[31mred\\a" in out, args


def test_name_resolution_switches(captures: dict[str, Path]) -> None:
    path = str(captures["eth"])
    plain = ours("-n", "-r", path)
    assert "Espressi" not in plain and "24:0a:c4:12:34:56 → ff:ff:ff:ff:ff:ff" in plain
    assert ours("-o", "nameres.mac_name:FALSE", "-r", path) == plain
    named = ours("-r", path)
    assert ours("-N", "m", "-r", path) == named and ours("-n", "-N", "m", "-r", path) == named  # -N wins, as tshark
    for bad, says in ((["-N", "t"], "transport (port) names"), (["-N", "q"], "unknown name resolution flag"),
                      (["-o", "nameres.mac_name:maybe"], "expected TRUE or FALSE")):  # fmt: skip
        res = subprocess.run([sys.executable, "-m", "sniffer", *bad, "-r", path], capture_output=True, text=True)
        assert res.returncode != 0 and says in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_rules_on_small_files_and_without_wireshark(tmp_path: Path) -> None:
    # the rules on files of our own (tshark's output on the real files is checked above), and no files at all
    (tmp_path / "manuf").write_text(
        "# comment\n24:0A:C4\tEspressi\tEspressif Inc.\n70:B3:D5\tIEEERegi\tIEEE Registration Authority\n"
        "70:B3:D5:00:10:00/36\tSOREDIto\tSOREDI touch systems GmbH\n01:0E:CF\tPN-MC\t\tPROFINET Multicast\n"
    )
    (tmp_path / "wka").write_text(
        "FF-FF-FF-FF-FF-FF\tBroadcast\n01-00-5E/25\t\tIPv4mcast\n03-00-00-00-00-01\tNETBIOS-# x\n"
    )
    names = MacNames(data=tmp_path, config=tmp_path / "none", ethers=tmp_path / "none")
    b = bytes.fromhex
    assert names.name(b("240ac4123456")) == "Espressi_12:34:56"
    assert names.name(b("250ac4000001")) == "Espressi_00:00:01"  # the vendor whatever the group bit says
    assert names.vendor(b("250ac4000001")) is None and names.vendor(b("240ac4000001")) == "Espressif Inc."
    assert names.name(b("70b3d5001abc")) == "SOREDIto_0a:bc" and names.name(b("70b3d5002abc")) == "IEEERegi_00:2a:bc"
    assert names.name(b("70b3d5001005")) == "SOREDIto_05"
    assert names.name(b("01005e0000fb")) == "IPv4mcast_fb" and names.name(b("01005e7ffffa")) == "IPv4mcast_7f:ff:fa"
    assert names.name(b("030000000001")) == "NETBIOS-" and names.vendor(b("010ecf000000")) == "PROFINET Multicast"
    assert (
        names.name(b("020000000007")) is None
        and names.shown(b("020000000007")) == "02:00:00:00:00:07 (02:00:00:00:00:07)"
    )
    names.enabled = False
    assert (
        names.shown(b("240ac4123456")) == "24:0a:c4:12:34:56"
        and names.resolved(b("ffffffffffff")) == "ff:ff:ff:ff:ff:ff"
    )
    bare = MacNames(data=tmp_path / "no-wireshark", config=tmp_path / "none", ethers=tmp_path / "none")
    assert bare.name(b("240ac4123456")) is None and bare.resolved(b("ffffffffffff")) == "ff:ff:ff:ff:ff:ff"


def test_group_source_warning_counted_as_tshark(tshark: str, captures: dict[str, Path]) -> None:
    # a multicast source (forged, or a broken stack) is a Warning in every frame it sends: -z expert's count
    # and the frame's severity match tshark's even where no other note makes the frame build a tree
    path = str(captures["eth"])

    def warns(out: str) -> list[str]:
        block = out.split("Warns (", 1)[1].split("\n\n", 1)[0]
        return [ln.strip() for ln in block.splitlines()]

    ref = warns(tshark_out(tshark, "-r", path, "-q", "-z", "expert"))
    assert "Source MAC must not be a group address" in ref[-1] and "Ethernet" in ref[-1]
    assert warns(ours("-r", path, "-q", "-z", "expert")) == ref
    expr = "_ws.expert.severity == warning && eth.src_not_group"
    args = ["-r", path, "-Y", "eth.src_not_group", "-T", "fields", "-e", "frame.number"]
    assert ours(*args) == tshark_out(tshark, *args) != ""
    assert ours("-r", path, "-Y", expr, "-T", "fields", "-e", "frame.number") == ours(*args)
