"""Which build of the hot path runs: the mypyc-compiled modules, or their Python sources.

`pip install` compiles the modules that pyproject.toml names ([tool.hatch.build.hooks.custom]
`compile`) with mypyc when a C compiler is at hand (sniffer/native_build.py), and records
each source's size and CRC-32 in _native.txt beside them. At start-up (sniffer/__init__)
`select()` keeps the compiled modules only if every source still matches its record, so an
edited checkout never runs stale machine code: there, or with MQTTSNIFF_PURE=1, a finder
placed first on sys.meta_path loads the Python sources before the extension modules can
be found. Both builds print the same output (tests/test_native.py checks it).

Rules: stdlib only, and cheap (this runs before every command); all or nothing, because
the compiled modules call each other natively and cannot mix with their sources.
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

MANIFEST = "_native.txt"  # lines: module, source path relative to the package, size, CRC-32
PURE_ENV = "MQTTSNIFF_PURE"

# "compiled", or "pure Python (<why>)": what `mqttsniff --version` reports.
MODE = "pure Python (not compiled at install)"


def source_crc(path: str) -> tuple[int, int]:
    """(size, CRC-32) of a file, as the build hook records them."""
    with open(path, "rb") as f:
        data = f.read()
    return len(data), zlib.crc32(data)


class _SourcesFirst:
    """A meta path finder that loads the listed modules from their .py files."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        src = self.sources.get(fullname)
        if src is None:
            return None
        import importlib.util

        return importlib.util.spec_from_file_location(fullname, src)


def _read_manifest(pkg_dir: str) -> dict[str, tuple[str, int, int]] | None:
    try:
        with open(os.path.join(pkg_dir, MANIFEST), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out: dict[str, tuple[str, int, int]] = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, rel, size, crc = line.split()
            out[name] = (os.path.join(pkg_dir, rel), int(size), int(crc))
    return out


def select(pkg_dir: str) -> str:
    """Decide between the compiled modules and their sources (before any is imported)."""
    global MODE
    modules = _read_manifest(pkg_dir)
    if not modules:
        MODE = "pure Python (not compiled at install)"
        return MODE
    why = ""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        why = f"{PURE_ENV} is set"
    else:
        for name, (src, size, crc) in modules.items():
            try:
                same = source_crc(src) == (size, crc)
            except OSError:
                same = False
            if not same:
                why = f"{name} changed since it was compiled; reinstall to compile it again"
                break
    if why:
        sys.meta_path.insert(0, _SourcesFirst({name: m[0] for name, m in modules.items()}))
        MODE = f"pure Python ({why})"
    else:
        MODE = "compiled"
    return MODE
