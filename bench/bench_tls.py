"""TLS decryption benchmark: a real MQTT-over-TLS session (mosquitto with a TLS listener, a paho client
through Python's ssl writing a key log, QoS 0 PUBLISH packets that the broker sends back) captured on lo
by tcpdump, then read with `mqttsniff -o tls.keylog_file:K` and `tshark -o tls.keylog_file:K` side by
side: wall time, TLS records decrypted per second, and whether both found the same MQTT PDUs.

Run as root:  python bench/bench_tls.py [--messages 20000] [--tls 1.3|1.2] [--runs 3]
Target: at least 20,000 TLS records per second on one core (mqttsniff reads a file in one thread).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import warm_bytecode  # bench/, the folder of the script

REPO = Path(__file__).resolve().parent.parent
TARGET = 20_000


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        sys.exit(f"bench_tls: {name} is not installed")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certs(work: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, cert = (work / n for n in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt"))
    (work / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = [tool("openssl")]
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench CA", "-keyout", ca_key,
         "-out", ca],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1", "-extfile",
         work / "san.ext", "-out", cert],
    ):  # fmt: skip
        subprocess.run(run + [str(a) for a in args], check=True, capture_output=True)
    for p in (ca, cert, key):
        p.chmod(0o644)
    return ca, cert, key


def capture(work: Path, messages: int, version: str) -> tuple[Path, Path, int]:
    """The session on lo: (pcap, key log, broker port)."""
    import paho.mqtt.client as mqtt

    ca, cert, key = certs(work)
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\nallow_anonymous true\n"
        "persistence false\nuser root\nmax_queued_messages 0\n"
    )
    broker = subprocess.Popen([tool("mosquitto"), "-c", str(conf)], stderr=subprocess.DEVNULL)
    pcap, keylog = work / "tls.pcap", work / "keys.log"
    dump = None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        dump = subprocess.Popen(
            [
                tool("tcpdump"),
                "-i",
                "lo",
                "-U",
                "-n",
                "-s",
                "262144",
                "-B",
                "65536",
                "-w",
                str(pcap),
                f"tcp port {port}",
            ],
            stderr=subprocess.PIPE,
        )
        assert dump.stderr is not None
        while b"listening" not in dump.stderr.readline():
            pass
        ctx = ssl.create_default_context(cafile=str(ca))
        v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = v
        ctx.keylog_filename = str(keylog)
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-tls")
        got = [0]
        c.on_message = lambda _c, _u, _m: got.__setitem__(0, got[0] + 1)
        c.tls_set_context(ctx)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        c.loop_start()
        while not c.is_connected():
            time.sleep(0.01)
        c.subscribe("bench/#", 0)
        time.sleep(0.2)
        payload = b'{"temperature": 21.5, "humidity": 40, "seq": 0000000}'
        for i in range(messages):
            c.publish(f"bench/sensor/{i % 50}", payload, 0)
            if i % 50 == 49:
                time.sleep(0.002)  # let the broker keep up: QoS 0 would drop otherwise
        deadline = time.monotonic() + 60
        while got[0] < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        c.disconnect()
        c.loop_stop()
        time.sleep(0.3)
    finally:
        if dump is not None:
            dump.send_signal(signal.SIGINT)
            dump.wait(10)
        broker.terminate()
        broker.wait(10)
    print(f"captured {pcap.stat().st_size / 1e6:.1f} MB, {messages} published, {got[0]} came back")
    return pcap, keylog, port


def timed(cmd: list[str], runs: int) -> tuple[float, bytes]:
    best, out = 1e9, b""
    for _ in range(runs):
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, cwd=REPO)
        elapsed = time.perf_counter() - t
        if res.returncode != 0:
            sys.exit(f"bench_tls: {cmd[0]} failed: {res.stderr.decode(errors='replace')[-400:]}")
        best, out = min(best, elapsed), res.stdout
    return best, out


def main(argv: list[str] | None = None) -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench_tls: capturing on lo needs root")
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        pcap, keylog, port = capture(Path(tmp), args.messages, args.tls)
        fields = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype"]
        ours_t, ours = timed([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", f"tcp.port=={port},tls",
                              "-o", f"tls.keylog_file:{keylog}", *fields], args.runs)  # fmt: skip
        rec = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(pcap), "-d", f"tcp.port=={port},tls", "-o",
                              f"tls.keylog_file:{keylog}", "-T", "fields", "-e", "tls.record.length"],
                             capture_output=True, cwd=REPO).stdout  # fmt: skip
        records = sum(len([x for x in line.split(b",") if x]) for line in rec.splitlines())
        # On lo a frame can hold hundreds of records (MQTT PDUs): tshark 4.0 then trips on its layer limit
        # ("Dissector bug ... saved_layers_len < prefs.gui_max_tree_depth") and decodes no MQTT of that
        # connection afterwards, unless the limit is raised
        shark_t, shark = timed([tool("tshark"), "-o", "gui.max_tree_depth:4000", "-r", str(pcap), "-d",
                                f"tcp.port=={port},tls", "-d",
                                f"tls.port=={port},mqtt", "-o", f"tls.keylog_file:{keylog}", *fields],
                               args.runs)  # fmt: skip
        if os.environ.get("BENCH_TLS_KEEP"):
            keep = Path(os.environ["BENCH_TLS_KEEP"])
            shutil.copy(pcap, keep / "tls.pcap")
            shutil.copy(keylog, keep / "keys.log")
            (keep / "port").write_text(str(port))
    same = ours == shark  # the same frames with the same MQTT PDUs, byte for byte
    pdus = sum(len([t for t in line.split(b"\t")[-1].split(b",") if t]) for line in ours.splitlines())
    rate = records / ours_t
    print(f"TLS {args.tls}, {records} records (best of {args.runs}, process start-up included):")
    print(f"  mqttsniff -o tls.keylog_file   {ours_t:6.2f} s   {rate:9.0f} records/s")
    print(f"  tshark -o tls.keylog_file      {shark_t:6.2f} s   {records / shark_t:9.0f} records/s")
    print(f"  {shark_t / ours_t:.1f}x tshark's speed; -T fields output identical to tshark's: {'yes' if same else 'NO'}"
          f" ({pdus} MQTT PDUs)")  # fmt: skip
    ok = rate >= TARGET and same
    print(f"  target >= {TARGET} records/s: {'✓' if ok else '✗'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
