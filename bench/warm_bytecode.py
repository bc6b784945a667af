"""Compile the package's bytecode before a benchmark times whole processes, as an install leaves it.

`pip install .` writes every module's .pyc; an editable install writes them on the first run, unless
PYTHONDONTWRITEBYTECODE is set (it is on the machines these benches ran on). Then every run re-parses the
~40 modules the compiled build does not hold (cli, outputs, payload decoders…): 270 M instructions, ~50 ms
of start-up measured on a 1-frame capture, which a user's install never pays. compileall writes the .pyc
files whatever that variable says, and Python reads them whatever it says.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sniffer"


def ensure() -> str:
    """Write the package's missing or stale .pyc files; a line for the report saying so."""
    ok = compileall.compile_dir(str(PACKAGE), quiet=1)
    env = " (PYTHONDONTWRITEBYTECODE is set here)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    state = "written" if ok else "written, with errors"
    return f"- bytecode: `sniffer/` .pyc files {state} before the run, as an install leaves them{env}"
