"""Remote capture over SSH: `-i ssh://[user@]host[:port]/IFACE` runs tcpdump on the host and reads its pcap stream.

The connection is the user's own OpenSSH client (`ssh`), so ~/.ssh/config, keys, the agent, ProxyJump and
known-hosts checks work as the user set them up; mqttsniff never speaks SSH and never handles a password.
`BatchMode=yes` is passed unless the user sets BatchMode with `--ssh-option`: a capture must not hang on
a prompt it cannot show (the UI owns the terminal, reconnects run unattended). With `BatchMode=no` ssh
asks on /dev/tty (never on stdin, which stays the UI's): the first connection is made before the UI opens,
so that prompt reaches the plain terminal; a reconnect under the UI would prompt into it, hence the default.

One remote shell script (POSIX sh, BusyBox ash included) does everything in one connection: it finds
tcpdump, says it is ready, answers a few clock probes (a line in, `date +%s.%N` out, timed by us: the
offset of the remote clock with the round trip as its error), then runs tcpdump with the user's
capture filter and `not (the SSH connection itself)`, taken from `$SSH_CONNECTION` as the remote side
sees it (through a jump host that is the jump host's address, which is what the packets carry there).
tcpdump runs in the background beside a watcher that stops it when the script's stdin ends: mqttsniff's
stop, or the connection's end.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import select
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sniffer.capture.backlog import Handoff

READY = "MQTTSNIFF-READY"
CLOCK = "MQTTSNIFF-CLOCK"
PROBES = 3  # clock probes per connection; the one with the shortest round trip is kept
CONNECT_TIMEOUT = 15.0  # seconds for ssh to connect and the remote tcpdump to start
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between reconnect attempts
PIPE_SIZE = 1 << 20  # ssh's stdout pipe (Linux's default limit for a user: /proc/sys/fs/pipe-max-size)
MAX_QUEUED = 200_000  # frames waiting in memory for the consumer before batches wait on disk (backlog)
MAX_QUEUED_BYTES = 256 << 20
EXIT_NO_TCPDUMP = 127
NO_TCPDUMP_LINE = "tcpdump: not found on the remote host"  # the remote script's own line for it
EXIT_NO_SSH_CONNECTION = 125
EXIT_INTERRUPTED = 130  # a stop request while connecting (sniffer.capture.multi: 128 + the signal's number)
# ssh starts with SIGINT and SIGHUP ignored (ssh keeps them ignored): a terminal's Ctrl-C (or its closing)
# signals the whole foreground group, and ssh dying of it at the same moment as our stop looked like a lost
# link and cut off the remote tcpdump's last packets and counts. mqttsniff's own stop ends ssh cleanly
# instead, and if mqttsniff dies, ssh's stdin ends and so does the remote script.
_NO_SIGINT = ("/bin/sh", "-c", 'trap "" INT HUP; exec "$@"', "mqttsniff-ssh")

_HOST = re.compile(r"[A-Za-z0-9_.%-]+|\[[0-9A-Fa-f:.%A-Za-z]+\]")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?")
_TCPDUMP_COUNTS = re.compile(r"\d+ packets? (captured|received by filter|dropped by kernel)")
_KILLED = re.compile(r"\b(Killed|Terminated|Hangup)\b")
_IFACE = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")


class RemoteError(Exception):
    """A remote capture that cannot start or go on; ``str()`` is the one line for the user."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class RemoteTarget:
    host: str
    iface: str
    user: str | None = None
    port: int | None = None

    @property
    def name(self) -> str:
        """The interface name frames carry (frame.interface_name): host:iface, as sshdump names them."""
        return f"{self.host}:{self.iface}"

    @property
    def destination(self) -> str:
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return f"{self.user}@{host}" if self.user else host


def is_remote(spec: str) -> bool:
    return spec.startswith("ssh://")


def parse_url(spec: str, need_iface: bool = True) -> RemoteTarget:
    """ssh://[user@]host[:port]/IFACE -> RemoteTarget; RemoteError naming what is wrong."""
    rest = spec[len("ssh://") :] if is_remote(spec) else ""
    where, slash, iface = rest.partition("/")
    if not need_iface and not iface:
        iface = "any"
    elif not slash or not iface:
        raise RemoteError(f"bad remote interface '{spec}': expected ssh://[user@]host[:port]/IFACE", 2)
    user, at, hostport = where.rpartition("@")
    if at and not _USER.fullmatch(user):
        raise RemoteError(f"bad user name in '{spec}'", 2)
    host, port_text = hostport, ""
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port_text = hostport[: close + 1], hostport[close + 1 :].removeprefix(":")
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
    if not host or not _HOST.fullmatch(host) or host.startswith("-"):
        raise RemoteError(f"bad host in '{spec}': expected ssh://[user@]host[:port]/IFACE", 2)
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RemoteError(f"bad port in '{spec}': expected a number 1-65535", 2)
        port = int(port_text)
    if not _IFACE.fullmatch(iface):
        raise RemoteError(f"bad interface name in '{spec}'", 2)
    return RemoteTarget(host, iface, user or None, port)


def remote_script(
    iface: str, bpf_expr: str, snaplen: int, sudo: str | None, list_only: bool = False, buffer_mb: float = 8
) -> str:
    """The POSIX sh script run on the remote host (see the module docstring)."""
    elevate = {"sudo": "sudo -n ", "doas": "doas -n ", None: ""}[sudo]
    head = (
        'PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"; '
        # (bash's command -v also names a file it cannot run)
        't=$(command -v tcpdump 2>/dev/null) && [ -x "$t" ] || '
        f"{{ echo '{NO_TCPDUMP_LINE}' >&2; exit {EXIT_NO_TCPDUMP}; }}; "
    )
    if list_only:
        return head + f"exec {elevate}tcpdump -D"
    # the user's filter is quoted whole; the SSH connection's addresses come from the remote shell
    own = '\'(\' tcp and host "$1" and port "$2" and host "$3" and port "$4" \')\''
    filt = f"{shlex.quote('(' + bpf_expr + ')')} and not {own}" if bpf_expr else f"not {own}"
    return (
        head + "set -- $SSH_CONNECTION; "
        "[ $# -eq 4 ] || "
        f"{{ echo 'SSH_CONNECTION is not set by the SSH server' >&2; exit {EXIT_NO_SSH_CONNECTION}; }}; "
        f"echo {READY} >&2; "
        f"n=0; while [ $n -lt {PROBES} ] && read -r _l; do date +{CLOCK}%s.%N >&2; n=$((n+1)); done; "
        # tcpdump in the background and a watcher on stdin: when mqttsniff closes it (a clean stop) or
        # the connection dies (sshd closes it), tcpdump gets SIGINT, prints its counts and exits, so
        # no capture is left running on the gateway; when tcpdump fails, the script ends with its code
        # --immediate-mode where tcpdump has it (4.7+): without it a packet may wait a second in libpcap's ring
        "im=; tcpdump --help 2>&1 | grep -q immediate-mode && im=--immediate-mode; "
        # -B: tcpdump's default 2 MB ring held a burst of ~10 frames here (a QoS 1 exchange lost 16 of 51)
        f"{elevate}tcpdump $im -U -w - -n -s {int(snaplen)} -B {int(buffer_mb * 1024)} -i {shlex.quote(iface)} {filt}"
        " & p=$!; "
        "( read -r _l; kill -INT $p 2>/dev/null ) <&0 & w=$!; "
        "wait $p; rc=$?; kill $w 2>/dev/null; exit $rc"
    )


def ssh_argv(target: RemoteTarget, script: str, ssh_options: list[str], force_batch: bool = False) -> list[str]:
    """The ssh command line: the user's options as -o, BatchMode=yes unless they chose, keep-alives.

    `force_batch`: BatchMode=yes whatever the user chose (ssh takes the first value given for an
    option), for a reconnect while the UI owns the terminal: a prompt there would be drawn over it.
    MQTTSNIFF_SSH replaces the `ssh` command itself (the tests use `ssh -F /dev/null`)."""
    ssh = shlex.split(os.environ.get("MQTTSNIFF_SSH", "ssh"))
    argv = [*ssh, "-T", "-x", "-a"]
    keys = {o.partition("=")[0].strip().lower() for o in ssh_options}
    if "batchmode" not in keys or force_batch:
        argv += ["-o", "BatchMode=yes"]
    if "serveraliveinterval" not in keys:  # a dead link ends in ~15 s instead of TCP's minutes
        argv += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    if "connecttimeout" not in keys:
        argv += ["-o", "ConnectTimeout=10"]
    for opt in ssh_options:
        argv += ["-o", opt]
    if target.port is not None:
        argv += ["-p", str(target.port)]
    return [*argv, "--", target.destination, script]


def explain(target: RemoteTarget, returncode: int | None, stderr_lines: list[str], sudo: str | None) -> str:
    """One line for a connection that ended: the remote's (or ssh's) first meaningful stderr line."""
    lines = [ln.strip() for ln in stderr_lines if ln.strip() and not ln.startswith((READY, CLOCK))]
    noise = ("Warning: Permanently added", "listening on", "tcpdump: listening", "Could not chdir to home directory")
    lines = [ln for ln in lines if not ln.startswith(noise) and not _TCPDUMP_COUNTS.match(ln)]
    first = lines[0] if lines else ""
    killed = _KILLED.search(first)
    if killed and "tcpdump" in first:  # the remote shell's job notice quotes our whole command line
        first = f"the remote tcpdump was {killed.group(1).lower()}"
    where = f"{target.name}:"
    # 127 is also any shell's "command not found" (e.g. a wrapper named by MQTTSNIFF_SSH whose interpreter
    # is missing, whatever its path): sudo/doas are missing only when the shell names them as the command
    # (dash, bash, busybox; zsh words it the other way round), tcpdump only when the script's own line says so
    if (
        returncode == EXIT_NO_TCPDUMP
        and sudo
        and re.search(rf"(?:^|[\s:]){sudo}: (?:command )?not found|not found: {sudo}$", first)
    ):
        return f"{where} {sudo} not found on {target.host} (--remote-sudo {'doas' if sudo == 'sudo' else 'sudo'}?)"
    if returncode == EXIT_NO_TCPDUMP and first.startswith(NO_TCPDUMP_LINE):
        return (
            f"{where} tcpdump not found on {target.host}"
            " (install it there, e.g. apt-get install tcpdump or opkg install tcpdump)"
        )
    low = first.lower()
    if "permission" in low and "tcpdump" in low or "operation not permitted" in low:
        hint = "" if sudo else " (try --remote-sudo)"
        return f"{where} no permission to capture on {target.host}: {first}{hint}"
    if first.startswith(("sudo:", "doas:")):
        return (
            f"{where} {first}"
            " (--remote-sudo needs tcpdump allowed without a password: NOPASSWD in sudoers, nopass in doas.conf)"
        )
    if returncode == 255 and first:
        return f"{where} ssh failed: {first}"
    if first:
        return f"{where} {first}"
    if returncode == 255:
        return f"{where} the SSH connection ended"
    return f"{where} the remote tcpdump ended (exit code {returncode})"


def format_offset(offset: float | None, rtt: float | None) -> str:
    if offset is None or rtt is None:
        return "clock offset unknown"
    return f"clock offset {offset * 1000:+.1f} ms (±{rtt * 500:.1f} ms)"


class _Connection:
    """One ssh process: started, probed, its stdout a pcap stream; its stderr collected by a thread."""

    def __init__(self, argv: list[str], abort: Callable[[], bool] | None = None) -> None:
        if shutil.which(argv[0]) is None:  # said here: behind the shell it would be a line on stderr
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
        self.abort = abort  # asked while waiting on the remote: True (a stop request) ends the wait
        self.proc = subprocess.Popen(
            [*_NO_SIGINT, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=False,
        )
        if self.proc.stdout is not None:
            # a 1 MiB pipe (64 KiB by default) rides out the moments the dissector holds the GIL: a full
            # pipe stalls ssh, then the remote tcpdump, whose kernel ring then drops
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.stderr: list[str] = []
        self._lines: deque[tuple[float, str]] = deque()
        self._cond = threading.Condition()
        self._eof = False
        self._err_thread = threading.Thread(target=self._read_stderr, name="mqttsniff-ssh-stderr", daemon=True)
        self._err_thread.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                if len(self.stderr) < 200:
                    self.stderr.append(line)
                self._lines.append((time.time(), line))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_line(self, prefix: str, timeout: float) -> tuple[float, str] | None:
        """The next stderr line starting with prefix (and when it came), None on EOF, timeout or abort."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._lines:
                    when, line = self._lines.popleft()
                    if line.startswith(prefix):
                        return when, line
                if self._eof or (self.abort is not None and self.abort()):
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))  # a signal handler cannot notify: the abort flag is polled

    def probe_clock(self) -> tuple[float | None, float | None]:
        """(remote - local offset, round trip) from the best of PROBES probes; (None, None) if unknown."""
        best: tuple[float, float] | None = None
        stdin = self.proc.stdin
        assert stdin is not None
        for _ in range(PROBES):
            t0 = time.time()
            try:
                stdin.write(b"\n")
                stdin.flush()
            except OSError:
                break
            got = self.wait_line(CLOCK, CONNECT_TIMEOUT)
            if got is None:
                break
            t1, line = got
            try:
                remote = float(line[len(CLOCK) :])
            except ValueError:  # a date without %N (old BusyBox): whole seconds are no use for ms offsets
                continue
            rtt = t1 - t0
            if best is None or rtt < best[1]:
                best = (remote - (t0 + t1) / 2, rtt)
        return best if best is not None else (None, None)

    def end_input(self) -> None:
        """Close the remote script's stdin: its watcher stops tcpdump, which prints its counts and exits."""
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()

    def close(self, grace: float = 0.0) -> int | None:
        """End the connection (after `grace` seconds for it to end by itself) and return ssh's exit code."""
        proc = self.proc
        self.end_input()
        if grace:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._err_thread.join(2)
        return proc.returncode


class _Pipe:
    """ssh's stdout for the pcap reader. read1() hands the records read so far on before it would block,
    and a byte on the wake pipe (a stop request) closes the remote's stdin once: the stream then ends
    by itself, tcpdump's last packets and counts included."""

    def __init__(self, fd: int, wake: int, before_block: Any, on_wake: Any) -> None:
        self.fd = fd
        self.wake = wake
        self.before_block = before_block
        self.on_wake = on_wake

    def read1(self, n: int) -> bytes:
        fds = [self.fd, self.wake] if self.wake >= 0 else [self.fd]
        timeout: float | None = 0
        while True:
            try:
                ready = select.select(fds, [], [], timeout)[0]
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return b""
            if self.fd in ready:
                try:
                    return os.read(self.fd, min(n, 1 << 20))
                except OSError:
                    return b""
            if self.wake in ready:
                with contextlib.suppress(OSError):
                    os.read(self.wake, 64)
                fds = [self.fd]
                self.on_wake()
            if timeout == 0:
                self.before_block()
                timeout = None

    read = read1

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        pass


class RemoteCapture:
    """A capture on a remote interface, with the LiveCapture consumer interface (get_batch, batches, stats).

    Records are the merged sources' layout: (ts, data, orig_len, linktype, ticks, tsresol, index). ``on_event``
    receives one-line messages (link lost, reconnected) from the reader thread.
    """

    def __init__(
        self,
        target: RemoteTarget,
        bpf_expr: str,
        snaplen: int,
        sudo: str | None = None,
        ssh_options: list[str] | None = None,
        reconnect: bool = True,
        align: bool = False,
        on_event: Any = None,
        buffer_mb: float = 8,
    ) -> None:
        self.target = target
        self.buffer_mb = buffer_mb  # the remote tcpdump's -B
        self.quiet_reconnects = False  # reconnect with BatchMode=yes whatever was asked (set under the UI)
        self.index = 0  # its place among merged sources: the 7th item of each record (sniffer.capture.multi)
        self.iface_name = target.name
        self.bpf_expr = bpf_expr
        self.snaplen = snaplen
        self.sudo = sudo
        self.ssh_options = list(ssh_options or [])
        self.reconnect = reconnect
        self.align = align
        self.on_event = on_event or (lambda message: None)
        self.linktype = -1
        self.offset: float | None = None
        self.rtt: float | None = None
        self.captured = 0
        self.queue_dropped = 0
        self.kernel_dropped = 0  # as the remote tcpdump reports it when a connection ends
        self.reconnects = 0
        self.gaps: list[tuple[float, float]] = []  # (lost at, back at), local clock
        # a note for the first frame after each gap (-w: its comment), until the next batch carries it
        self.gap_marks: deque[str] = deque()
        self.last_note: str | None = None  # the note of the batch get_batch() returned last
        self.error: str | None = None
        self.status = "connecting"
        self._conn: _Connection | None = None
        self._reader: Any = None
        self._batch: list[Any] = []
        # batches of records on their way to the consumer: in memory, then on disk (guarded by _cond)
        self._handoff = Handoff(MAX_QUEUED, MAX_QUEUED_BYTES)
        self._cond = threading.Condition()
        self._stopping = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()

    # -- connecting -----------------------------------------------------------------------------

    def argv(self, reconnect: bool = False) -> list[str]:
        return ssh_argv(
            self.target,
            remote_script(self.target.iface, self.bpf_expr, self.snaplen, self.sudo, buffer_mb=self.buffer_mb),
            self.ssh_options,
            force_batch=reconnect and self.quiet_reconnects,
        )

    def _connect(self, reconnect: bool = False) -> None:
        """One connection up to tcpdump's pcap header; RemoteError with the remote's own line if not."""
        from sniffer.net.pcapfile import CaptureError, CaptureReader

        if self._stopping:  # (stopped before: no ssh started, no prompt flashed on the terminal)
            raise RemoteError(f"{self.target.name}: interrupted while connecting", EXIT_INTERRUPTED)
        try:
            conn = _Connection(self.argv(reconnect), abort=lambda: self._stopping)
        except OSError as exc:
            raise RemoteError(f"{self.target.name}: cannot run ssh: {exc.strerror or exc}") from None
        self._conn = conn
        if conn.wait_line(READY, CONNECT_TIMEOUT) is None:
            self._check_interrupted(conn)
            code = conn.close(grace=2.0)
            raise RemoteError(explain(self.target, code, conn.stderr, self.sudo))
        self.offset, self.rtt = conn.probe_clock()
        self._check_interrupted(conn)
        assert conn.proc.stdout is not None
        try:
            pipe = _Pipe(conn.proc.stdout.fileno(), self._wake_r, self._flush, conn.end_input)
            reader = CaptureReader(pipe, self.target.name, close=False)  # type: ignore[arg-type]
        except CaptureError:  # (a stop while tcpdump opened the interface ends the stream before its header)
            self._check_interrupted(conn)
            code = conn.close(grace=2.0)
            raise RemoteError(explain(self.target, code, conn.stderr, self.sudo)) from None
        reader.exact = True
        self._reader = reader
        self.linktype = reader.linktype
        self.status = "capturing"

    def _check_interrupted(self, conn: _Connection) -> None:
        """A stop request while connecting: end ssh (ignoring SIGINT, it would go on) and say so."""
        if self._stopping:
            conn.close()
            self._conn = None
            raise RemoteError(f"{self.target.name}: interrupted while connecting", EXIT_INTERRUPTED)

    def open(self) -> None:
        """Connect (before the UI opens: a prompt the user allowed reaches the plain terminal)."""
        self._connect()

    def start(self) -> None:
        if self._reader is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name=f"mqttsniff-remote-{self.target.name}", daemon=True)
        self._thread.start()

    # -- the reader thread ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Records to the queue until the stream ends: a batch leaves when it is full or the pipe runs dry."""
        reader = self._reader
        shift = -self.offset if self.align and self.offset is not None else 0.0
        tshift: int | None = None  # the shift in the stream's own ticks, once its resolution is known
        index = self.index
        batch = self._batch
        append = batch.append
        for ts, data, olen, lt in reader:
            if tshift is None:
                tshift = round(shift * 10**reader.tsresol) if shift else 0
            append((ts + shift, data, olen, lt, reader.ticks + tshift, reader.tsresol, index))
            if len(batch) >= 2000:
                self._flush()
        self._flush()

    def _flush(self) -> None:
        """Hand the records read so far on (called by _Pipe before it would block: nothing waits)."""
        batch = self._batch
        if batch:
            self._enqueue(batch[:])
            batch.clear()

    def _finish_connection(self) -> str:
        """Close the connection; the one line saying why it ended (kernel drops taken from tcpdump)."""
        conn = self._conn
        if conn is None:
            return ""
        code = conn.close(grace=2.0)
        for line in conn.stderr:
            m = _TCPDUMP_COUNTS.match(line)
            if m and m.group(1) == "dropped by kernel":
                self.kernel_dropped += int(line.split()[0])
        self._conn = None
        self._reader = None
        return explain(self.target, code, conn.stderr, self.sudo)

    def _run(self) -> None:
        try:
            while True:
                try:
                    self._drain()
                except Exception as exc:  # a corrupt stream: treated as a lost link
                    why = f"{self.target.name}: stream broken: {exc}"
                else:
                    why = ""
                reason = self._finish_connection()
                if self._stopping:
                    return
                lost = time.time()
                why = why or reason
                if not self.reconnect:
                    self.error = why
                    return
                self.status = "reconnecting"
                self.on_event(f"{self.target.name}: link lost ({why.split(': ', 1)[-1]}); reconnecting")
                if not self._reconnect_loop():
                    return
                self.gaps.append((lost, time.time()))
                self.gap_marks.append(
                    f"gap: {self.target.name} was not captured for {time.time() - lost:.1f} s before this frame"
                    f" ({why.split(': ', 1)[-1]})"
                )
                self.reconnects += 1
                self.on_event(f"{self.target.name}: reconnected after {time.time() - lost:.1f} s (gap in the capture)")
        finally:
            self.status = "stopped" if self.error is None else "failed"
            with self._cond:
                self._done.set()
                self._cond.notify_all()

    def _reconnect_loop(self) -> bool:
        attempt = 0
        while not self._stopping:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            end = time.monotonic() + delay
            while time.monotonic() < end:
                if self._stopping:
                    return False
                time.sleep(0.05)
            try:
                self._connect(reconnect=True)
                return True
            except RemoteError as exc:
                if self._stopping:  # (stopped during the attempt: no "retrying" line)
                    return False
                attempt += 1
                self.on_event(f"{exc} (attempt {attempt}; retrying in {BACKOFF[min(attempt, len(BACKOFF) - 1)]:.0f} s)")
        return False

    def _enqueue(self, batch: list[Any]) -> None:
        note = None
        if self.gap_marks:  # the first batch after a reconnect carries the gap's note, through the backlog too
            note = "; ".join(self.gap_marks)  # (two gaps with no frame between: both notes on this one)
            self.gap_marks.clear()
        with self._cond:
            self.captured += len(batch)
            if self._handoff.put((batch, note), len(batch), sum(len(r[1]) for r in batch)):
                self._cond.notify_all()
            self.queue_dropped = self._handoff.dropped

    # -- the consumer's side --------------------------------------------------------------------

    def get_batch(self, timeout: float | None = None) -> list[Any] | None:
        """The next batch; [] if none within ``timeout``; None once stopped and drained."""
        with self._cond:
            item = self._handoff.next(self._cond, self._done, timeout)
            self.queue_dropped = self._handoff.dropped  # (a backlog that could not be read back)
        if not item:
            return item  # (None: stopped and drained; []: nothing yet)
        batch, self.last_note = item
        return batch

    def waiting(self) -> tuple[int, int]:
        """Frames received and not taken by the consumer yet: (in memory, on disk)."""
        with self._cond:
            return self._handoff.waiting()

    def request_stop(self) -> None:
        """Ask the capture to stop, without waiting; safe in a signal handler (a flag and a byte, no lock)."""
        self._stopping = True
        fd = self._wake_w
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.write(fd, b"x")

    def stop(self, timeout: float = 3.0) -> None:
        """Stop cleanly (the remote tcpdump's last packets and counts arrive), by force after `timeout`."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            conn = self._conn
            if self._thread.is_alive() and conn is not None:
                with contextlib.suppress(OSError):
                    conn.proc.kill()  # the remote is stuck or gone: its stream ends here
                self._thread.join(timeout)
        elif self._conn is not None:
            self._finish_connection()
        with self._cond:
            self._done.set()
            self._cond.notify_all()
        if self._thread is None or not self._thread.is_alive():
            fds = (self._wake_r, self._wake_w)
            self._wake_r = self._wake_w = -1  # first, so a late signal never writes to a reused fd
            for fd in fds:
                if fd >= 0:
                    os.close(fd)

    def summary(self) -> str:
        parts = [
            f"{self.captured} packet{'s' if self.captured != 1 else ''} captured",
            f"{self.kernel_dropped} dropped by the remote kernel",
            f"{self.queue_dropped} dropped by mqttsniff",
        ]
        backlog = self._handoff.backlog
        if backlog.total:
            parts.append(f"{backlog.total} waited on disk for the dissector (at most {backlog.peak} at once)")
        if backlog.error:
            parts.append(f"the backlog on disk failed ({backlog.error})")
        with self._cond:
            left = self._handoff.pending
        if left:  # stopped before the dissector caught up
            parts.append(f"{left} not dissected (stopped before)")
        if self.reconnects:
            gap = sum(b - a for a, b in self.gaps)
            parts.append(f"{self.reconnects} reconnect{'s' if self.reconnects != 1 else ''} ({gap:.1f} s of gaps)")
        parts.append(
            format_offset(self.offset, self.rtt) + (" (applied)" if self.align and self.offset is not None else "")
        )
        return f"{self.iface_name}: " + ", ".join(parts)


def list_remote(spec: str, ssh_options: list[str], sudo: str | None = None) -> str:
    """`-D ssh://host`: the remote's `tcpdump -D`, each line prefixed with the URL to capture on it."""
    from sniffer.textesc import escape

    target = parse_url(spec.rstrip("/"), need_iface=False)
    argv = ssh_argv(target, remote_script("any", "", 0, sudo, list_only=True), ssh_options)
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=CONNECT_TIMEOUT + 15)
    except OSError as exc:
        raise RemoteError(f"{target.host}: cannot run ssh: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise RemoteError(f"{target.host}: no answer from ssh within {CONNECT_TIMEOUT + 15:.0f} s") from None
    err = res.stderr.decode("utf-8", "replace").splitlines()
    if res.returncode != 0:
        raise RemoteError(escape(explain(target, res.returncode, err, sudo)).replace(":any:", ":", 1))
    base = (
        f"ssh://{target.user + '@' if target.user else ''}{target.host}{':' + str(target.port) if target.port else ''}"
    )
    out = []
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        m = re.match(r"(\d+)\.(\S+)(.*)", line)
        if m:  # tcpdump -D: "1.eth0 [Up, Running]"
            out.append(f"{m.group(1)}. {base}/{escape(m.group(2))}{escape(m.group(3))}")
    return "\n".join(out) + "\n" if out else ""
