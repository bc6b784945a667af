"""Where the time goes per frame: instructions (valgrind's cachegrind, exact and unaffected by load) per frame,
by function group, for a mqttsniff command on a capture.

    python bench/instr_per_frame.py CAPTURE [--frames 10000] [--top 25] [-- MQTTSNIFF ARGS...]

Runs `python -m sniffer -r CAPTURE -c N ARGS` under cachegrind for N = --frames and 2 × --frames and
divides the difference by --frames: start-up and the end of the run cancel out, what is left is the
steady per-frame cost. The same difference per function is summed into groups (our modules by name,
the interpreter, allocation, strings, struct, output) and the heaviest functions are listed.
Uses the build that `python -m sniffer` picks (compiled, or pure Python with MQTTSNIFF_PURE=1).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

# (group, regex on "file:function"), first match wins
GROUPS: list[tuple[str, str]] = [
    ("pcap reader", r"pcapfile|CaptureReader|source___"),
    ("link/IP/TCP parse", r"frame___|_struct\.c|s_unpack|bu_uint|nu_uint|lu_uint"),
    ("TCP reassembly", r"reassembly___"),
    ("MQTT framing", r"decoder___|skim___|constants___"),
    ("MQTT Info text", r"dissect___"),
    ("pipeline (RowDissector.frame)", r"pipeline___"),
    ("summary line", r"summary___|text___"),
    ("fields output", r"output/fields|fields___"),
    ("session tracker", r"tracker___|facts___"),
    ("driver loop", r"driver"),
    (
        "strings (format, build, encode)",
        r"unicode|str_ops|CPyStr|Format|codecs|dtoa|format|CPyTagged_Str|_PyLong_Format|long_to_decimal",
    ),
    ("write (io, encode)", r"textio|bufferedio|fileio|_io"),
    (
        "allocation / refcount",
        r"obmalloc|malloc|free|dealloc|_Py_NewReference|_Py_Dealloc|gcmodule|PyObject_GC|tuple_alloc|PyTuple_New|PyLong_From|_PyLong_New|PyBytes_FromStringAndSize|memmove|memcpy|memset|PyList_New|list_dealloc",
    ),
    ("dicts / hashing", r"dict|hash|siphash"),
    ("interpreter (pure-Python code)", r"ceval|Python/|Objects/"),
]


def run(cmd: list[str], out: str) -> dict[str, int]:
    subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    counts: dict[str, int] = defaultdict(int)
    fl = fn = ""
    with open(out) as f:
        for line in f:
            if line.startswith("fl="):
                fl = line[3:].strip()
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line[:1].isdigit():
                parts = line.split()
                if len(parts) >= 2:
                    counts[f"{fl}:{fn}"] += int(parts[1])
    return counts


def group_of(name: str) -> str:
    for g, rx in GROUPS:
        if re.search(rx, name):
            return g
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--top", type=int, default=25)
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = ap.parse_args(argv[: len(argv) - len(extra) - (1 if extra else 0)])
    a.args = extra
    n = a.frames
    base = [sys.executable, "-m", "sniffer", "-r", a.capture]
    with tempfile.TemporaryDirectory(prefix="instr-") as tmp:
        one = run([*base, "-c", str(n), *a.args], os.path.join(tmp, "one"))
        two = run([*base, "-c", str(2 * n), *a.args], os.path.join(tmp, "two"))
    diff = {k: two.get(k, 0) - one.get(k, 0) for k in set(one) | set(two)}
    total = sum(diff.values())
    groups: dict[str, int] = defaultdict(int)
    for k, v in diff.items():
        groups[group_of(k)] += v
    print(f"{total / n:,.0f} instructions per frame ({' '.join(a.args) or 'summary'}; {os.path.basename(a.capture)})")
    for g, v in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {v / n:9,.0f}  {g}")
    print("heaviest functions:")
    for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"  {v / n:9,.0f}  {k.split('/')[-1] if '/' in k.split(':')[0] else k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
