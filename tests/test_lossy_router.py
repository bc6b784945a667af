"""A capture behind a real router that loses segments: holes inside PUBLISH payloads, and nothing made up.

Three network namespaces (clients, a router, mosquitto), veth pairs that hand TCP over in segments of one
MSS (gso_max_segs 1), nftables on the router dropping every 5th full-size segment it forwards, tcpdump on
the broker's side of the router: the capture has holes where the clients' TCP did not see a loss of its
own (a drop on the sender's host would be retried before it reached the wire). The same paho traffic as
test_tcp_analysis: 300 messages, one in ten 6,000 bytes of one ASCII digit, so the bytes after a hole are
payload such as `0000…`, each 0x30 a PUBLISH fixed header of 48 bytes. tshark decodes them as thousands of
`Publish Message[Malformed Packet]`; decoding resumes at real packets only."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_helpers import broker_in_netns, run_ok, start_tcpdump, stop_all
from conftest import require_tool
from test_tcp_analysis import ANALYSIS, OURS, fields, send_traffic

CLIENT_NET, BROKER_NET = "10.78.1", "10.78.2"


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory, root: None) -> Iterator[Path]:
    ip, nft = require_tool("ip"), require_tool("nft")
    work = tmp_path_factory.mktemp("routed")
    tag = f"rt{id(work) % 100000}"
    client, router, broker = f"{tag}c", f"{tag}r", f"{tag}b"

    def inside(ns: str) -> list[str]:
        return [ip, "netns", "exec", ns]

    procs: list[subprocess.Popen] = []
    try:
        for ns in (client, router, broker):
            run_ok(ip, "netns", "add", ns)
        run_ok(
            ip, "link", "add", f"{tag}c0", "netns", client, "type", "veth", "peer", "name", f"{tag}r0", "netns", router
        )
        run_ok(
            ip, "link", "add", f"{tag}r1", "netns", router, "type", "veth", "peer", "name", f"{tag}b0", "netns", broker
        )
        for ns, dev, addr in (
            (client, f"{tag}c0", f"{CLIENT_NET}.2/24"),
            (router, f"{tag}r0", f"{CLIENT_NET}.1/24"),
            (router, f"{tag}r1", f"{BROKER_NET}.1/24"),
            (broker, f"{tag}b0", f"{BROKER_NET}.2/24"),
        ):
            run_ok(*inside(ns), ip, "addr", "add", addr, "dev", dev)
            run_ok(*inside(ns), ip, "link", "set", dev, "gso_max_segs", "1", "up")  # segments of one MSS
            run_ok(*inside(ns), ip, "link", "set", "lo", "up")
        run_ok(*inside(client), ip, "route", "add", "default", "via", f"{CLIENT_NET}.1")
        run_ok(*inside(broker), ip, "route", "add", "default", "via", f"{BROKER_NET}.1")
        run_ok(*inside(router), "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run_ok(*inside(router), nft, "add", "table", "inet", "l")
        run_ok(*inside(router), nft, "add", "chain", "inet", "l", "f", "{ type filter hook forward priority 0; }")
        run_ok(*inside(router), nft, "add", "rule", "inet", "l", "f",
             "meta", "length", "gt", "1000", "numgen", "inc", "mod", "5", "==", "0", "drop")  # fmt: skip
        procs.append(broker_in_netns(broker, work))
        pcap = work / "routed.pcap"
        cap = start_tcpdump(f"{tag}b0", pcap, "tcp port 1883", netns=broker, immediate=True)  # (both DISCONNECTs)
        procs.append(cap)
        time.sleep(0.3)  # (mosquitto's listener)
        send_traffic(f"{BROKER_NET}.2", inside(client))
        time.sleep(0.5)
        stop_all([cap])
        yield pcap
    finally:
        stop_all(procs)
        for ns in (client, router, broker):
            subprocess.run([ip, "netns", "del", ns], capture_output=True)


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
