"""Issue 12's target as written: the summary pass with the session tracker on against the summary pass of
the code before the session layer existed, each a whole `mqttsniff -r` run (CPU seconds of the child),
interleaved, several runs. Not a test; not in run_all.py (it needs a second, older build).

    git worktree add /tmp/before12 feae57e
    python3 -m venv /tmp/venv_b12 && /tmp/venv_b12/bin/pip install -e /tmp/before12   # its compiled build
    python bench/compare_builds.py CAPTURE --before /tmp/venv_b12/bin/python:/tmp/before12 [--runs 7]

"now, tracker forced on" runs this checkout's CLI with sniffer.session.demand.needed() answering yes, as when
an output shows what the tracker says.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORCE_ON = (
    "import sys; import sniffer.session.demand as d; d.needed = lambda *a, **k: True; "
    "from sniffer.cli import main; sys.argv[0] = 'mqttsniff'; sys.exit(main())"
)


def child_cpu(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    with open(os.devnull, "w") as null:
        p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, cwd=cwd, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            sys.exit(f"{cmd[0]} failed: {p.stderr.read().decode() if p.stderr else ''}")
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("--before", required=True, help="PYTHON:CHECKOUT of the build before the change")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    py_before, _, dir_before = a.before.partition(":")
    env = {k: v for k, v in os.environ.items() if k not in ("MQTTSNIFF_PURE", "PYTHONPATH")}
    cap = os.path.abspath(a.capture)
    cmds = {
        "before the change, summary": ([py_before, "-m", "sniffer", "-r", cap], dir_before),
        "now, summary (tracker off)": ([sys.executable, "-m", "sniffer", "-r", cap], str(ROOT)),
        "now, summary, tracker forced on": ([sys.executable, "-c", FORCE_ON, "-r", cap], str(ROOT)),
    }
    res: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(a.runs):
        for k in list(cmds) if i % 2 == 0 else list(reversed(cmds)):
            res[k].append(child_cpu(*cmds[k], env))
    base = res["before the change, summary"]
    print("| pass | median CPU s | min | ratio to before (median / min to min) |\n|---|---:|---:|---:|")
    for k, v in res.items():
        r = f"{statistics.median(v) / statistics.median(base):.2f}× / {min(v) / min(base):.2f}×"
        print(f"| {k} | {statistics.median(v):.2f} | {min(v):.2f} | {r} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
