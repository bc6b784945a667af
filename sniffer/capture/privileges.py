"""Privileges like tcpdump: a clear message when capture is not allowed, and dropping root after open.

Opening an AF_PACKET socket needs root or CAP_NET_RAW. Once the socket (and its ring) is open nothing
else needs privileges, so when started through sudo we become the invoking user (SUDO_UID/SUDO_GID)
before the dissector runs and before any ``-w`` file is created, which then belongs to that user.
"""

from __future__ import annotations

import os
import pwd
import sys


def permission_message(ifname: str) -> str:
    """One line: why capture failed, and the two safe fixes.

    setcap must never go on the shared interpreter (/usr/bin/python3.x): every script it runs would get raw
    sockets. In a venv, the venv's python is a symlink to that shared binary, so the hint first replaces the
    link by a copy, which then is the only program granted the capability.
    """
    head = f"mqttsniff: you don't have permission to capture on {ifname} (needs root or CAP_NET_RAW): run it with sudo"
    venv_py = sys.executable
    if sys.prefix == sys.base_prefix or not venv_py:
        return f"{head}, or install mqttsniff in a venv and grant the capability to that venv's own copy of python"
    grant = f"sudo setcap cap_net_raw,cap_net_admin+eip {venv_py}"
    if os.path.islink(venv_py):
        copy = f'cp --remove-destination "$(readlink -f {venv_py})" {venv_py}'
        return f"{head}, or give this venv its own python and grant only that one: `{copy} && {grant}`"
    return f"{head}, or grant this venv's own python: `{grant}`"


def target_user(user: str | None) -> tuple[int, int, str] | None:
    """(uid, gid, name) to become after opening the socket, or None to stay as we are.

    ``user`` is -Z's argument: "root" keeps root; a name becomes that user; None means the user who ran
    sudo, if any.
    """
    if os.geteuid() != 0:
        return None
    if user is not None:
        if user == "root":
            return None
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ValueError(f"mqttsniff: unknown user {user!r} given to -Z") from None
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if not uid or not uid.isdigit() or int(uid) == 0:
        return None
    gid_n = int(gid) if gid and gid.isdigit() else int(uid)
    try:
        name = pwd.getpwuid(int(uid)).pw_name
    except KeyError:
        name = os.environ.get("SUDO_USER") or uid
    return int(uid), gid_n, name


def drop_privileges(user: str | None = None) -> str | None:
    """Become the target user for good (groups, gid, then uid); returns the name, or None if unchanged."""
    target = target_user(user)
    if target is None:
        return None
    uid, gid, name = target
    try:
        os.initgroups(name, gid)
    except (OSError, TypeError):
        os.setgroups([gid])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() != uid or os.getegid() != gid:  # setresuid never fails silently, but be sure
        raise OSError("could not drop privileges")
    return name
