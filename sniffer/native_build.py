"""Hatch build hook: compile the hot-path modules with mypyc, or leave them pure Python.

pyproject.toml names the modules ([tool.hatch.build.hooks.custom] `compile`). A wheel gets
the extension modules beside their sources; an editable install gets them in the source
tree (ignored by git), where sniffer/native.py notices a source edited since. Without a C
compiler, the Python headers or mypy the install goes on in pure Python with a warning:
mqttsniff then works the same, only slower (`mqttsniff --version` says which build runs).
MQTTSNIFF_PURE_BUILD=1 skips compiling.

Not part of the installed package; hatchling loads it by path while building.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# Runs in a child process: mypy and setuptools stay out of the build backend's process,
# and a failure is an exit status with its output, whatever mypyc does on errors.
_COMPILE = r"""
import os, sys
from mypyc.build import mypycify
from setuptools import Distribution
from setuptools.command.build_ext import build_ext

out, tmp, group, *paths = sys.argv[1:]
exts = mypycify(
    ["--follow-imports=silent", "--ignore-missing-imports", "--cache-dir", os.path.join(tmp, "mypy"), *paths],
    group_name=group,  # a dotted name: the shared runtime goes inside the package, not to the top level
    target_dir=os.path.join(tmp, "c"),
)
cmd = build_ext(Distribution({"ext_modules": exts}))
cmd.build_lib, cmd.build_temp = out, os.path.join(tmp, "obj")
cmd.ensure_finalized()
cmd.run()
"""


def _native_module(root: Path) -> Any:
    """sniffer/native.py loaded by path (the package itself is not importable here)."""
    spec = importlib.util.spec_from_file_location("_mqttsniff_native", root / "sniffer" / "native.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        pkg = root / "sniffer"
        native = _native_module(root)
        editable = version == "editable"
        if editable:  # what an earlier editable build left in the tree
            for old in [*pkg.rglob("*.so"), pkg / native.MANIFEST]:
                old.unlink(missing_ok=True)
        if os.environ.get("MQTTSNIFF_PURE_BUILD", "") not in ("", "0"):
            self.app.display_info("mqttsniff: MQTTSNIFF_PURE_BUILD is set: pure-Python build")
            return
        sources = [str(s) for s in self.config.get("compile", [])]
        self._tmp = tempfile.mkdtemp(prefix="mqttsniff-native-")
        out = Path(self._tmp) / "lib"
        self.app.display_info(f"mqttsniff: compiling {len(sources)} modules with mypyc (about a minute)")
        proc = subprocess.run(
            [sys.executable, "-c", _COMPILE, str(out), self._tmp, native.GROUP, *sources],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        built = sorted(out.rglob("*.so"))
        # one extension module per source, plus the shared runtime
        stems = {so.relative_to(out).as_posix().split(".", 1)[0] for so in built}
        wanted = {s[:-3] for s in sources} | {native.GROUP.replace(".", "/") + "__mypyc"}
        why = proc.stdout.strip() if proc.returncode != 0 else ""
        if not why and stems != wanted:
            why = f"extension modules missing for {', '.join(sorted(wanted - stems))}"
        lines = ["# written by sniffer/native_build.py: the compiled modules and the sources they came from"]
        if not why:
            try:
                for src in sources:
                    size, crc = native.source_crc(str(root / src))
                    name = src[:-3].replace("/", ".")
                    lines.append(f"{name} {Path(src).relative_to('sniffer').as_posix()} {size} {crc}")
            except (OSError, ValueError) as e:  # a listed source missing, or outside the package
                why = f"{type(e).__name__}: {e}"
        if why:
            tail = "\n".join(why.splitlines()[-12:])
            self.app.display_warning(
                "mqttsniff: compiling with mypyc failed, so this install is pure Python (it works the same, "
                f"only slower; a C compiler and the Python headers make it compile):\n{tail}"
            )
            return
        manifest = Path(self._tmp) / native.MANIFEST
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files = [(so, so.relative_to(out).as_posix()) for so in built] + [(manifest, f"sniffer/{native.MANIFEST}")]
        if editable:
            for path, rel in files:
                shutil.copyfile(path, root / rel)
        else:
            for path, rel in files:
                build_data["force_include"][str(path)] = rel
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
