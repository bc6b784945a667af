"""Where the time goes per frame: instructions (valgrind's cachegrind, exact and unaffected by load) per frame,
by function group, for a mqttsniff command on a capture.

    python bench/instr_per_frame.py CAPTURE [--frames 10000] [--top 25] [--stages] [-- MQTTSNIFF ARGS...]

Runs `python -m sniffer -r CAPTURE -c N ARGS` under cachegrind for N = --frames and 2 × --frames and
divides the difference by --frames: start-up and the end of the run cancel out, what is left is the
steady per-frame cost. The same difference per function is summed into groups (our modules by name,
the interpreter, allocation, strings, struct, output) and the heaviest functions are listed.
Uses the build that `python -m sniffer` picks (compiled, or pure Python with MQTTSNIFF_PURE=1).
--stages runs callgrind instead and shows the stages of a frame inclusively (what each costs with all it
calls: reader, parse, reassembly, MQTT framing, the row's text), from the compiled build's function names.
Note: valgrind counts each byte of a `rep movsb` copy as an instruction, so copies of large frames weigh
more here than on the CPU.
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


# (stage, compiled function names, "|"-separated: the largest inclusive count is taken)
STAGES: list[tuple[str, str]] = [
    ("whole run", "PyObject_Vectorcall"),
    ("pcap reader (records, batches)", "list_extend"),
    ("RowDissector.frame, all of it", "CPyDef_pipeline___RowDissector___frame"),
    ("  link/IP/TCP parse", "CPyDef_frame___parse_tcp|CPyDef_frame___parse"),
    ("  TCP streams + reassembly", "CPyDef_reassembly___TcpStreams___segment"),
    ("  MQTT framing (feed_into)", "CPyDef_decoder___DirectionDecoder___feed_into"),
    ("  the row: summary line", "CPyDef_summary___SummaryDissector____row"),
    ("  the row: -T fields line", "CPyDef_summary___FieldsDissector____row"),
    ("    Info text (frame_info)", "CPyDef_pipeline___frame_info"),
    ("      TCP Info (tcp_info)", "CPyDef_reassembly___tcp_info"),
    ("      MQTT Info (dissect.info)", "CPyDef_dissect___info"),
    ("    No. and Time", "unicode_mod|CPyDef_text___summary_head"),
    ("write (UTF-8 encode, TextIOWrapper)", "_io_TextIOWrapper_write"),
]


def run_inclusive(cmd: list[str], out: str) -> dict[str, int]:
    """Inclusive instructions per function name (callgrind)."""
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
        if m:
            name = m.group(2).split(":")[-1]
            counts[name] = max(counts.get(name, 0), int(m.group(1).replace(",", "")))
    return counts


def group_of(name: str) -> str:
    for g, rx in GROUPS:
        if re.search(rx, name):
            return g
    return "other"


def short(name: str) -> str:
    """A cachegrind "file:function" without the file's directories."""
    return name.split("/")[-1] if "/" in name.split(":")[0] else name


def per_frame(capture: str, n: int, args: list[str]) -> tuple[float, dict[str, float], list[tuple[str, float]]]:
    """(instructions per frame, the same per group heaviest first, per function heaviest first) of
    `python -m sniffer -r CAPTURE ARGS`: runs of -c 2n and -c n frames under cachegrind, their
    difference divided by n (start-up and the end of the run cancel out)."""
    base = [sys.executable, "-m", "sniffer", "-r", capture]
    with tempfile.TemporaryDirectory(prefix="instr-") as tmp:
        one = run([*base, "-c", str(n), *args], os.path.join(tmp, "one"))
        two = run([*base, "-c", str(2 * n), *args], os.path.join(tmp, "two"))
    diff = {k: two.get(k, 0) - one.get(k, 0) for k in set(one) | set(two)}
    groups: dict[str, int] = defaultdict(int)
    for k, v in diff.items():
        groups[group_of(k)] += v
    by_group = {g: v / n for g, v in sorted(groups.items(), key=lambda kv: -kv[1])}
    by_fn = [(short(k), v / n) for k, v in sorted(diff.items(), key=lambda kv: -kv[1])]
    return sum(diff.values()) / n, by_group, by_fn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--stages", action="store_true", help="inclusive cost of each stage (callgrind)")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = ap.parse_args(argv[: len(argv) - len(extra) - (1 if extra else 0)])
    a.args = extra
    n = a.frames
    base = [sys.executable, "-m", "sniffer", "-r", a.capture]
    if a.stages:
        with tempfile.TemporaryDirectory(prefix="instr-") as tmp:
            one = run_inclusive([*base, "-c", str(n), *a.args], os.path.join(tmp, "one"))
            two = run_inclusive([*base, "-c", str(2 * n), *a.args], os.path.join(tmp, "two"))
        print(f"instructions per frame by stage ({' '.join(a.args) or 'summary'}; {os.path.basename(a.capture)})")
        for label, names in STAGES:
            v = max(two.get(x, 0) - one.get(x, 0) for x in names.split("|"))
            if v:
                print(f"  {v / n:9,.0f}  {label}")
        return 0
    total, by_group, by_fn = per_frame(a.capture, n, a.args)
    print(f"{total:,.0f} instructions per frame ({' '.join(a.args) or 'summary'}; {os.path.basename(a.capture)})")
    for g, v in by_group.items():
        print(f"  {v:9,.0f}  {g}")
    print("heaviest functions:")
    for k, v in by_fn[: a.top]:
        print(f"  {v:9,.0f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
