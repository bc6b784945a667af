"""NSS key log files (SSLKEYLOGFILE): the secrets of each TLS session, by client random.

TLS 1.2 sessions appear as `CLIENT_RANDOM <client random> <master secret>`, TLS 1.3 ones as the
`CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET` and `CLIENT_/SERVER_TRAFFIC_SECRET_0` lines. A client
appends a line per new session, so the file is read incrementally: refresh() reads only what was
added since (a half-written last line waits for its newline), which lets a live capture decrypt a
session whose keys appear after its first records.
"""

from __future__ import annotations

import os
from typing import Any

LABELS = frozenset(
    {
        "CLIENT_RANDOM",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    }
)


MAX_HELD = 64 * 1024 * 1024


class KeyLogError(ValueError):
    """A key log that cannot be read at all (missing, a directory): one line for the user."""


class KeyLog:
    """The secrets of one key log file: {label: {client random: secret}}, grown by refresh().

    `path` None: no file, only what `blocks` brings: the Decryption Secrets Blocks of a pcapng
    file, a list its reader appends to as it reads (sniffer.net.pcapfile.CaptureReader.secrets)."""

    def __init__(self, path: str | None, blocks: list[bytes] | None = None) -> None:
        self.path = path
        self.offset = 0  # bytes of the file consumed (whole lines only)
        self.secrets: dict[str, dict[bytes, bytes]] = {label: {} for label in LABELS}
        self.lines = 0  # lines understood, for the user
        self.blocks = blocks if blocks is not None else []
        self.blocks_read = 0
        # bytes of encrypted records all connections hold until their keys appear (sniffer.tls.conn):
        # bounded across the whole capture, not per connection, so many keyless sessions cannot add up
        self.held = 0
        self.max_held = MAX_HELD
        if path is None:
            self.refresh()
            return
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise KeyLogError(f"cannot read the TLS key log '{path}': {e.strerror or e}") from None
        if os.path.isdir(path):
            raise KeyLogError(f"the TLS key log '{path}' is a directory")
        self.refresh()

    def refresh(self) -> bool:
        """Read the lines appended since the last call; True if any secret was added."""
        added = False
        while self.blocks_read < len(self.blocks):
            for line in self.blocks[self.blocks_read].splitlines():
                added |= self.add_line(line)
            self.blocks_read += 1
        if self.path is None:
            return added
        return self._read_file() or added

    def _read_file(self) -> bool:
        assert self.path is not None
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return False  # gone for now (rotated, being rewritten): keep what we have
        if size < self.offset:
            self.offset = 0  # truncated and rewritten: read it again
        if size == self.offset:
            return False
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return False  # a line still being written
        self.offset += end + 1
        added = False
        for line in chunk[: end + 1].splitlines():
            added |= self.add_line(line)
        return added

    def add_line(self, line: bytes) -> bool:
        parts = line.split()
        if len(parts) != 3 or parts[0].startswith(b"#"):
            return False
        label = parts[0].decode("ascii", "replace")
        table = self.secrets.get(label)
        if table is None:
            return False  # EXPORTER_SECRET, EARLY secrets, ...: not needed to read the traffic
        try:
            random, secret = bytes.fromhex(parts[1].decode("ascii")), bytes.fromhex(parts[2].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        if len(random) != 32 or not secret:
            return False
        table[random] = secret
        self.lines += 1
        return True

    def get(self, label: str, client_random: bytes) -> bytes | None:
        return self.secrets[label].get(client_random)

    def all(self) -> list[tuple[str, bytes, bytes]]:
        """Every (label, client random, secret), for a pcapng Decryption Secrets Block."""
        return [(label, r, s) for label, table in sorted(self.secrets.items()) for r, s in table.items()]


class KeyLogTail:
    """The lines appended to a key log file since the last call (whole lines only): what a live
    capture's -w file gets as Decryption Secrets Blocks (sniffer.capture.pcapng.PcapngWriter.secrets)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def __call__(self) -> bytes:
        try:
            size = os.stat(self.path).st_size
            if size < self.offset:
                self.offset = 0
            if size == self.offset:
                return b""
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
        except OSError:
            return b""
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        return chunk[:end]


def use_secrets_blocks(dissector: Any, reader: Any) -> None:
    """A pcapng file's Decryption Secrets Blocks feed the dissector's key log, as the reader meets them."""
    if reader.format != "pcapng":
        return
    if dissector.tls_keylog is None:
        dissector.tls_keylog = KeyLog(None, reader.secrets)
    else:
        dissector.tls_keylog.blocks = reader.secrets
