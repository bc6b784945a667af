"""A capture behind a real router that loses segments: holes inside PUBLISH payloads, and nothing made up.

Three network namespaces (clients, a router, mosquitto), veth pairs that hand TCP over in segments of one
MSS (gso_max_segs 1), nftables on the router dropping every 5th full-size segment it forwards, tcpdump on
the broker's side of the router: the capture has holes where the clients' TCP did not see a loss of its
own (a drop on the sender's host would be retried before it reached the wire). The same paho traffic as
test_tcp_analysis: 300 messages, one in ten 6,000 bytes of one ASCII digit, so the bytes after a hole are
payload such as `0000…`, each 0x30 a PUBLISH fixed header of 48 bytes. tshark decodes them as thousands of
`Publish Message[Malformed Packet]`; decoding resumes at real packets only."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_helpers import broker_in_netns, run_ok, start_tcpdump, stop_all
from conftest import require_tool
from test_tcp_analysis import ANALYSIS, OURS, fields, send_traffic

from sniffer.capture import DEFAULT_FILTER  # (MQTT's port and TCP's fragments, as mqttsniff -i captures)

CLIENT_NET, MIDDLE_NET, BROKER_NET = "10.78.1", "10.78.3", "10.78.2"


def routed_capture(
    work: Path, rules: list[list[str]], narrow: int = 0, sysctls: tuple[str, ...] = (), live: bool = False
) -> Iterator[Path]:
    """The paho traffic of test_tcp_analysis from the clients' namespace to mosquitto in the broker's, through
    a router's namespace whose forward chain has nftables `rules`. `narrow`: the MTU of a link from there to a
    second router before the broker (both ends of the path keep 1500, and so their MSS); `sysctls`: set on
    both ends; `live`: mqttsniff captures there too, with its default filter (work/live.pcapng, its summary
    work/live.txt, its exit code work/live.rc). Yields tcpdump's capture on the broker's side."""
    ip, nft = require_tool("ip"), require_tool("nft")
    tag = f"rt{id(work) % 100000}"
    client, router, broker = f"{tag}c", f"{tag}r", f"{tag}b"
    # the hops: (namespace, its address on the way in, on the way out); the last link's MTU may be narrow
    hops = [client, router, *([f"{tag}m"] if narrow else []), broker]
    nets = [CLIENT_NET, *([MIDDLE_NET] if narrow else []), BROKER_NET]

    def inside(ns: str) -> list[str]:
        return [ip, "netns", "exec", ns]

    procs: list[subprocess.Popen] = []
    try:
        for ns in hops:
            run_ok(ip, "netns", "add", ns)
            run_ok(*inside(ns), ip, "link", "set", "lo", "up")
        for k, net in enumerate(nets):
            a, b = hops[k], hops[k + 1]
            run_ok(ip, "link", "add", f"{a}{k}", "netns", a, "type", "veth", "peer", "name", f"{b}{k}", "netns", b)
            for ns, host in ((a, 1 if k else 2), (b, 2 if k else 1)):  # (the client is .2, the broker .2)
                dev = f"{ns}{k}"
                run_ok(*inside(ns), ip, "addr", "add", f"{net}.{host}/24", "dev", dev)
                run_ok(*inside(ns), ip, "link", "set", dev, "gso_max_segs", "1", "up")  # segments of one MSS
                if narrow and net == MIDDLE_NET:
                    run_ok(*inside(ns), ip, "link", "set", dev, "mtu", str(narrow))
        run_ok(*inside(client), ip, "route", "add", "default", "via", f"{CLIENT_NET}.1")
        run_ok(*inside(broker), ip, "route", "add", "default", "via", f"{BROKER_NET}.1")
        for ns in hops[1:-1]:
            run_ok(*inside(ns), "sysctl", "-qw", "net.ipv4.ip_forward=1")
        if narrow:
            run_ok(*inside(router), ip, "route", "add", f"{BROKER_NET}.0/24", "via", f"{MIDDLE_NET}.2")
            run_ok(*inside(hops[2]), ip, "route", "add", f"{CLIENT_NET}.0/24", "via", f"{MIDDLE_NET}.1")
        for setting in sysctls:
            for ns in (client, broker):
                run_ok(*inside(ns), "sysctl", "-qw", setting)
        run_ok(*inside(router), nft, "add", "table", "inet", "l")
        run_ok(*inside(router), nft, "add", "chain", "inet", "l", "f", "{ type filter hook forward priority 0; }")
        for rule in rules:
            run_ok(*inside(router), nft, "add", "rule", "inet", "l", "f", *rule)
        procs.append(broker_in_netns(broker, work))
        pcap = work / "routed.pcap"
        cap = start_tcpdump(f"{broker}{len(nets) - 1}", pcap, DEFAULT_FILTER, netns=broker, immediate=True)
        procs.append(cap)  # (immediate: both DISCONNECTs are in the file)
        ours = None
        if live:
            cmd = [*inside(broker), sys.executable, "-m", "sniffer", "-i", f"{broker}{len(nets) - 1}"]
            with open(work / "live.txt", "wb") as out:
                ours = subprocess.Popen([*cmd, "-w", str(work / "live.pcapng")], stdout=out, stderr=subprocess.PIPE)
            procs.append(ours)
            deadline = time.monotonic() + 20
            while b"capturing on" not in (ours.stderr.read1(300) if ours.stderr else b""):
                assert time.monotonic() < deadline, "mqttsniff did not start"
        time.sleep(0.3)  # (mosquitto's listener)
        send_traffic(f"{BROKER_NET}.2", inside(client))
        time.sleep(0.5)
        stop_all([cap])
        if ours is not None:
            ours.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
            (work / "live.rc").write_text(str(ours.wait(30)))
        yield pcap
    finally:
        stop_all(procs)
        for ns in hops:
            subprocess.run([ip, "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory, root: None) -> Iterator[Path]:
    """Every 5th full-size segment the router forwards is dropped."""
    drop = ["meta", "length", "gt", "1000", "numgen", "inc", "mod", "5", "==", "0", "drop"]
    yield from routed_capture(tmp_path_factory.mktemp("routed"), [drop])


def test_tcp_analysis_behind_the_router_equals_tsharks(routed: Path, tshark: str) -> None:
    theirs = fields([tshark], routed, ANALYSIS)
    assert fields(OURS, routed, ANALYSIS) == theirs
    lost = ANALYSIS.index("tcp.analysis.lost_segment") + 1
    assert sum(1 for r in theirs if r.split("\t")[lost]) >= 10  # holes in the capture: the case is there


def test_nothing_is_made_up_from_payload_after_a_hole(routed: Path) -> None:
    rows = [r.split("\t") for r in fields(OURS, routed, ("mqtt.msgtype", "mqtt.topic", "_ws.expert.message"))]
    types = [t for r in rows for t in r[1].split(",") if t]
    # 300 PUBLISHes each way (a PUBLISH whose first segment was lost, then resent, is decoded from the resent
    # copy, truncated), their acknowledgments, 100 PUBRELs; no "Reserved" packet, nothing else
    assert types.count("3") <= 600 and types.count("3") >= 570, types.count("3")
    assert types.count("6") == 100 and set(types) <= {"1", "2", "3", "4", "5", "6", "7", "8", "9", "14"}
    topics = {t for r in rows for t in r[2].split(",") if t}
    assert topics <= {f"t/{k}" for k in range(7)} | {"t/#"}, topics
    notes = [m for r in rows for m in r[3].split(",")]
    assert any("bytes skipped while resynchronising" in m for m in notes)  # payload after a hole was skipped
    clients = subprocess.run([*OURS, "-r", str(routed), "-q", "-z", "mqtt,clients"], capture_output=True, text=True)
    assert clients.stdout.count("ended: DISCONNECT by client") == 2, clients.stdout  # pub1's too
