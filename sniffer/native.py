"""Which build of the hot path runs: the mypyc-compiled modules, or their Python sources.

`pip install` compiles the modules that pyproject.toml names ([tool.hatch.build.hooks.custom]
`compile`) with mypyc when a C compiler is at hand (sniffer/native_build.py), and records
each source's size and CRC-32 in _native.txt beside them. At start-up (sniffer/__init__)
`select()` keeps the compiled modules only if every one of them, and their shared runtime,
is there for this interpreter and every source still matches its record; otherwise (an
edited checkout, a build for another Python, a missing or damaged file), or with
MQTTSNIFF_PURE=1, a finder placed first on sys.meta_path loads the Python sources before any
extension module can be found. Both builds print the same output (tests/test_native.py).

Rules: stdlib only, and cheap (this runs before every command); all or nothing, because
the compiled modules call each other natively and cannot mix with their sources.
"""

from __future__ import annotations

import os
import sys
import zlib
from importlib.machinery import EXTENSION_SUFFIXES
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

MANIFEST = "_native.txt"  # lines: module, source path relative to the package, size, CRC-32
GROUP = "sniffer._native"  # mypyc's group: its shared runtime is the module GROUP + "__mypyc"
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
    """module -> (source path, size, CRC-32); None if there is no manifest; ValueError if damaged."""
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
    if not out:
        raise ValueError("no modules listed")
    return out


def _has_extension(stem: str) -> bool:
    """An extension module `stem`.<suffix> exists that this interpreter can load."""
    return any(os.path.exists(stem + suffix) for suffix in EXTENSION_SUFFIXES)


def _leftovers(pkg_dir: str) -> dict[str, str]:
    """Extension modules in the package without a manifest (left by another build): module -> source."""
    found: dict[str, str] = {}
    for root, _dirs, files in os.walk(pkg_dir):
        for fn in files:
            for suffix in EXTENSION_SUFFIXES:
                if fn.endswith(suffix):
                    src = os.path.join(root, fn[: -len(suffix)] + ".py")
                    if os.path.exists(src):
                        rel = os.path.relpath(src, os.path.dirname(pkg_dir))[:-3]
                        found[rel.replace(os.sep, ".")] = src
    return found


def _why_not(pkg_dir: str, modules: dict[str, tuple[str, int, int]]) -> str:
    """Why the compiled build must not run ("" if it may)."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV} is set"
    runtime = os.path.join(os.path.dirname(pkg_dir), *GROUP.split(".")) + "__mypyc"
    if not _has_extension(runtime):
        return "the compiled runtime is missing; reinstall to compile again"
    for name, (src, size, crc) in modules.items():
        if not _has_extension(src[:-3]):
            return f"{name} has no compiled module for this Python; reinstall to compile again"
        try:
            same = source_crc(src) == (size, crc)
        except OSError:
            same = False
        if not same:
            return f"{name} changed since it was compiled; reinstall to compile it again"
    return ""


def select(pkg_dir: str) -> str:
    """Decide between the compiled modules and their sources (before any is imported)."""
    global MODE
    try:
        modules = _read_manifest(pkg_dir)
    except ValueError as e:  # damaged: whatever was compiled cannot be trusted
        modules, why = {}, f"{MANIFEST} is damaged ({e}); reinstall to compile again"
    else:
        if modules is None:
            modules, why = {}, "not compiled at install"
        else:
            why = _why_not(pkg_dir, modules)
    if not why:
        MODE = "compiled"
        return MODE
    sources = {name: m[0] for name, m in modules.items()}
    sources.update(_leftovers(pkg_dir) if not modules else {})
    if sources:
        sys.meta_path.insert(0, _SourcesFirst(sources))
    MODE = f"pure Python ({why})"
    return MODE
