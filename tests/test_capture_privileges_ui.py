"""The live UI after dropping root to the sudo user, with a Python that user cannot read.

`sudo mqttsniff -i lo` opens the socket as root, then becomes SUDO_USER. Where Python lives under a
directory that user cannot read (pyenv under /root, mode 700), every module the UI needs later must
already be loaded: the UI once died with `No module named 'pickle'` and a second traceback. The test
makes a real user (removed afterwards), makes sure the interpreter's standard library is unreadable
for it (already so under /root; else a deny ACL for that user only, removed afterwards), runs the
UI in tmux as root with SUDO_USER/SUDO_UID/SUDO_GID set as sudo sets them, and uses it.
"""

from __future__ import annotations

import os
import pwd
import re
import struct
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import pytest
from capture_helpers import Tmux, needs_root
from conftest import REPO, require_tool, start_broker

pytestmark = needs_root


@pytest.fixture
def user():
    name = f"mqsn{uuid.uuid4().hex[:8]}"
    subprocess.run([require_tool("useradd"), "-M", "-U", "-s", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run([require_tool("userdel"), name], check=False)


def _can_list(user: pwd.struct_passwd, path: str) -> bool:
    setpriv = require_tool("setpriv")
    res = subprocess.run(
        [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "ls", path],
        capture_output=True,
    )
    return res.returncode == 0


def _deny_acl(path: str, uid: int) -> bytes:
    """A POSIX access ACL (the kernel's xattr format) keeping the mode's bits and denying ``uid``."""
    mode = os.stat(path).st_mode
    undefined = 0xFFFFFFFF
    entries = [
        (0x01, (mode >> 6) & 7, undefined),  # owner
        (0x02, 0, uid),  # the test user: nothing
        (0x04, (mode >> 3) & 7, undefined),  # group
        (0x10, (mode >> 3) & 7, undefined),  # mask
        (0x20, mode & 7, undefined),  # other
    ]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@pytest.fixture
def unreadable_python(user):
    """The interpreter's standard library, unreadable for ``user`` for the test's length."""
    stdlib = sysconfig.get_paths()["stdlib"]
    undo = None
    if _can_list(user, stdlib):
        key = "system.posix_acl_access"
        try:
            before = os.getxattr(stdlib, key)
        except OSError:
            before = None
        os.setxattr(stdlib, key, _deny_acl(stdlib, user.pw_uid))
        undo = (stdlib, key, before)
    try:
        assert not _can_list(user, stdlib), f"{user.pw_name} can still read {stdlib}"
        yield stdlib
    finally:
        if undo is not None:
            path, key, before = undo
            if before is None:
                os.removexattr(path, key)
            else:
                os.setxattr(path, key, before)


def _publish(port: int, n: int) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="privdrop-ui", protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    for i in range(n):
        c.publish("drop/test", f'{{"seq": {i}}}', qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def test_ui_after_dropping_root_with_an_unreadable_python(user, unreadable_python, tmp_path: Path) -> None:
    pidfile, script = tmp_path / "pid", tmp_path / "run.sh"
    with start_broker(tmp_path) as broker:
        script.write_text(
            f"cd {REPO}\nexport PYTHONPATH={REPO} SUDO_USER={user.pw_name} SUDO_UID={user.pw_uid}"
            f" SUDO_GID={user.pw_gid}\n"
            f'sh -c \'echo $$ > {pidfile}; exec {sys.executable} -m sniffer -i lo -f "tcp port {broker.port}"'
            f" -d tcp.port=={broker.port},mqtt'\n"
            "echo EXITED $?\nsleep 60\n"
        )
        t = Tmux(f"sh {script}", "mqttsniff-privdrop", forbid=("Traceback", "No module named"))
        try:
            t.wait_for(lambda s: "capturing" in s and f"tcp port {broker.port}" in s)
            status = Path(f"/proc/{int(pidfile.read_text())}/status").read_text()
            uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
            assert uids == [str(user.pw_uid)] * 4, status  # the UI runs as the sudo user, for good
            _publish(broker.port, 3)
            screen = t.wait_for(lambda s: "Publish Ack (id=3)" in s)
            assert "Publish Message (id=3) [drop/test]" in screen
            # what the UI loads on demand: a filter, the detail tree, the payload view, help, the palette
            t.keys("-l", "/mqtt.msgtype == 3")
            t.keys("Enter")
            t.wait_for(lambda s: "shown 3" in s)
            t.keys("G")
            t.wait_for(lambda s: "Topic: drop/test" in s)
            t.keys("p")
            t.wait_for(lambda s: "Message decoded as: json" in s)
            t.keys("?")
            t.wait_for(lambda s: "mqttsniff keys" in s and "Esc closes" in s)  # (the key list scrolls)
            t.keys("Escape")  # (tmux holds an Escape a moment, to tell it from Alt+key: wait for it)
            t.wait_for(lambda s: "Esc closes" not in s)
            t.keys("C-p")
            t.wait_for(lambda s: "Search for commands" in s)
            t.keys("Escape")
            t.wait_for(lambda s: "Search for commands" not in s)
            t.keys("t")  # the light theme
            time.sleep(0.5)
            t.keys("q")
            t.wait_for(lambda s: "not saved" in s)
            t.keys("y")
            screen = t.wait_for(lambda s: "EXITED" in s)
            assert "EXITED 0" in screen, t.history()
            assert "packets captured" in screen, screen
        finally:
            t.close()
            _wait_gone(int(pidfile.read_text())) if pidfile.exists() else None


def _wait_gone(pid: int) -> None:
    """The UI may still be printing its counts after tmux hung up: wait, so the user can be removed."""
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)
