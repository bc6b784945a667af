"""Shared test fixtures: paths to the corpus and the tools every test relies on.

A test that needs a tool the README's test command installs fails loudly when it
is missing (it never skips): CI installs everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the UI remembers its pane sizes in the user's config dir (sniffer/ui/layout.py): every test, and the
# programs they start, get a fresh one, neither reading the developer's (a snapshot would differ) nor writing it
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="mqttsniff-test-config-")
CORPUS = REPO / "tests" / "captures"


def require_tool(name: str) -> str:
    """Path of an external program, or a loud failure naming the install step."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run the README's test command (it apt-get installs it)")
    return path


@pytest.fixture(scope="session")
def root() -> None:
    """Live capture on lo needs root (or CAP_NET_RAW): without it a test fails loudly, never skips."""
    if os.geteuid() != 0:
        pytest.fail("live capture needs root or CAP_NET_RAW: run the README's test command as root (or with sudo)")


@pytest.fixture(scope="session")
def tshark() -> str:
    return require_tool("tshark")


def sniff_out(*args: str) -> str:
    """What `mqttsniff ARGS` prints (it must exit 0)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return res.stdout


def tshark_out(tshark: str, *args: str) -> str:
    """What `tshark ARGS` prints (it must exit 0)."""
    import subprocess

    return subprocess.run([tshark, *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng"))
    if not files:
        pytest.fail(f"no captures in {CORPUS}: the public captures ship in tests/captures")
    return files


# --- a real mosquitto broker on 127.0.0.1 and a free port (live-capture tests, benchmarks) ---


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, port: int, proc) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.proc = proc


@contextlib.contextmanager
def start_broker(workdir: Path, extra_conf: str = "", users: dict[str, str] | None = None):
    """A mosquitto started on 127.0.0.1:<free port> (no persistence), stopped on exit.

    Anonymous clients are allowed unless `users` (name -> password) is given: then a password
    file made by mosquitto_passwd is the only way in (`allow_anonymous false`).
    """
    import os
    import socket
    import subprocess
    import time

    exe = require_tool("mosquitto")
    port = free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    auth = "allow_anonymous true\n"
    if users is not None:
        pwfile = workdir / f"passwd-{port}"
        pwfile.write_text("")
        for name, password in users.items():
            subprocess.run([require_tool("mosquitto_passwd"), "-b", str(pwfile), name, password], check=True)
        auth = f"allow_anonymous false\npassword_file {pwfile}\n"
        if os.geteuid() == 0:
            # As root mosquitto drops to the user 'mosquitto', who cannot read pytest's 0700 tmp dirs.
            auth += "user root\n"
    conf.write_text(f"listener {port} 127.0.0.1\n{auth}persistence false\n{extra_conf}")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mosquitto did not start: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    try:
        yield Broker(port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mosquitto_broker(tmp_path):
    """A real mosquitto broker for one test."""
    with start_broker(tmp_path) as broker:
        yield broker
