"""The mypyc-compiled hot path (sniffer/native.py): in use, fresh, and the same as its sources.

The install compiles the modules pyproject.toml lists; every other test then runs the
compiled build. These tests check that the build really is the compiled one, that it
prints byte for byte what the Python sources print (MQTTSNIFF_PURE=1) on the corpus and
a generated capture in every output format, that the in-process test modules also pass on
the sources, that an edited source, a missing or foreign extension module or a damaged
manifest make everything run from source, and that the wheels come out right with and
without a compiler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

import sniffer
from sniffer import native

PKG = Path(sniffer.__file__).parent
DEMO = PKG / "data" / "demo.pcap"
FIELDS = [
    "frame.number",
    "frame.time_relative",
    "tcp.stream",
    "tcp.seq",
    "tcp.ack",
    "tcp.len",
    "mqtt.msgtype",
    "mqtt.qos",
    "mqtt.msgid",
    "mqtt.topic",
    "mqtt.len",
    "mqtt.clientid",
    "mqtt.property_id",
    "mqtt.suback.reason_code",
    "mqtt.conack.val",
    "mqtt.passwd",
    "_ws.col.Info",
]


def compiled_modules() -> list[str]:
    lines = (PKG / native.MANIFEST).read_text().splitlines() if (PKG / native.MANIFEST).exists() else []
    return [ln.split()[0] for ln in lines if ln and not ln.startswith("#")]


def test_compiled_build_in_use() -> None:
    assert native.MODE == "compiled", (
        f"mqttsniff runs {native.MODE}: the install did not compile the hot path (a C compiler and the "
        "Python headers are needed; the README's commands install them) or a source changed since: "
        "run `pip install -e .` again"
    )
    mods = compiled_modules()
    assert len(mods) >= 10
    for name in mods:
        __import__(name)
        assert sys.modules[name].__file__.endswith(".so"), f"{name} is not the compiled module"
    assert run(["--version"], pure=False).startswith(f"mqttsniff {sniffer.__version__} (compiled)".encode())
    assert b"(pure Python (MQTTSNIFF_PURE is set))" in run(["--version"], pure=True)


def run(args: list[str], pure: bool, cwd: Path = REPO) -> bytes:
    """stdout, stderr and exit status of `python -m sniffer ARGS`, as one bytes string."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, env=env, cwd=cwd, timeout=300)
    assert res.returncode in (0, 1), res.stderr.decode()  # 1: a truncated corpus file, warned about
    return res.stdout + b"\n--stderr--\n" + res.stderr + f"\n--exit {res.returncode}--".encode()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many clients, MQTT 3.1.1 and 5, QoS 0/1/2, multi-segment and multi-PDU frames."""
    path = tmp_path_factory.mktemp("native") / "gen.pcap"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_capture.py"), "--frames", "30000", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def test_pure_and_compiled_print_the_same(corpus_files: list[Path], generated: Path) -> None:
    fields = [a for f in FIELDS for a in ("-e", f)]
    formats = ([], ["-T", "fields", *fields], ["-V", "-x"], ["-T", "json"], ["-T", "ndjson", "--show-secrets"])
    for capture in [*corpus_files, DEMO, generated]:
        for fmt in formats:
            args = ["-r", str(capture), *fmt]
            if capture == generated and fmt[:2] in (["-V", "-x"], ["-T", "json"], ["-T", "ndjson"]):
                args += ["-c", "3000"]  # the trees of a few thousand frames are plenty
            compiled, pure = run(args, pure=False), run(args, pure=True)
            assert compiled == pure, f"compiled and pure builds differ: mqttsniff {' '.join(args)}"
            assert len(compiled) > 100


def copy_package(dest: Path) -> Path:
    shutil.copytree(PKG, dest / "sniffer", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "sniffer"


def mode_in(root: Path, module: str = "sniffer.net.frame", pure: bool = False) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(root)
    if pure:
        env[native.PURE_ENV] = "1"
    code = f"import sniffer.native as n, {module} as m; print(n.MODE); print(m.__file__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True)
    return res.stdout.splitlines()


def test_edited_source_is_not_shadowed_by_its_compiled_module(tmp_path: Path) -> None:
    copy = copy_package(tmp_path)
    mode, path = mode_in(tmp_path)
    assert (mode, path.endswith(".so")) == ("compiled", True)
    mode, path = mode_in(tmp_path, pure=True)
    assert mode == f"pure Python ({native.PURE_ENV} is set)" and path.endswith("frame.py")

    src = copy / "net" / "reassembly.py"
    src.write_text(src.read_text() + "\n# edited after the build\n")
    mode, path = mode_in(tmp_path)  # all or nothing: frame.py is unchanged, yet runs from source too
    assert mode.startswith("pure Python (sniffer.net.reassembly changed since it was compiled")
    assert path == str(copy / "net" / "frame.py")


def _rm(pattern: str):
    return lambda pkg: [p.unlink() for p in pkg.glob(pattern)]


def _retag(pkg: Path) -> None:
    """What a build for another Python leaves: extension modules this interpreter does not load."""
    for so in pkg.rglob("*.so"):
        so.rename(so.with_name(so.name.split(".", 1)[0] + ".cpython-39-x86_64-linux-gnu.so"))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_rm("net/reassembly.*.so"), "sniffer.net.reassembly has no compiled module for this Python"),
        (_rm("_native__mypyc.*.so"), "the compiled runtime is missing"),
        (_retag, "the compiled runtime is missing"),
        (lambda pkg: (pkg / native.MANIFEST).write_text("sniffer.pipeline pipeline.py\n"), "is damaged"),
        (_rm(native.MANIFEST), "not compiled at install"),  # extension modules left without a manifest
    ],
    ids=["module-missing", "runtime-missing", "other-python", "manifest-damaged", "manifest-missing"],
)
def test_incomplete_build_runs_every_module_from_source(tmp_path: Path, damage, why: str) -> None:
    copy = copy_package(tmp_path)
    damage(copy)
    code = (
        "import sniffer.native as n, sniffer.pipeline as p, sniffer.net.reassembly as r; "
        "print(n.MODE); print(p.__file__); print(r.__file__); print(p.Seg is r.Seg)"
    )
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    mode, pipeline, reassembly, same = out.stdout.splitlines()
    assert mode.startswith("pure Python (") and why in mode
    assert pipeline.endswith("pipeline.py") and reassembly.endswith("reassembly.py") and same == "True"


def test_in_process_tests_pass_on_the_sources_too() -> None:
    """The CI suite runs compiled; these modules test the dissector in-process, so run them once more
    on the Python sources (what an install without a compiler runs)."""
    mods = ["test_pipeline.py", "test_net_reassembly.py", "test_net_frame.py", "test_net_tree.py",
            "test_mqtt_framing.py", "test_mqtt_vectors.py", "test_mqtt_expert.py", "test_ui_store.py",
            "test_filter_rows.py", "test_output_json.py"]  # fmt: skip
    env = {**os.environ, native.PURE_ENV: "1"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(REPO / "tests" / m) for m in mods]],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and " failed" not in res.stdout


def build_wheel(out: Path, env_extra: dict[str, str]) -> zipfile.ZipFile:
    env = {**os.environ, **env_extra}
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = out.glob("mqttsniff-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_carries_the_compiled_modules(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "dist", {})
    names = whl.namelist()
    assert "-cp3" in Path(whl.filename).name, "a compiled wheel is tagged for its Python"
    assert f"sniffer/{native.MANIFEST}" in names and "sniffer/native_build.py" not in names
    for name in compiled_modules():
        stem = name.replace(".", "/")
        assert f"{stem}.py" in names and any(n.startswith(stem + ".cpython") for n in names), name
    # Unpacked beside nothing else, the wheel runs compiled and prints what the sources print.
    site = tmp_path / "site"
    whl.extractall(site)
    assert mode_in(site)[0] == "compiled"
    assert run(["-r", str(DEMO)], pure=False, cwd=site) == run(["-r", str(DEMO)], pure=True, cwd=site)


def test_wheel_without_a_compiler_is_pure_python(tmp_path: Path) -> None:
    whl = build_wheel(tmp_path / "dist", {"CC": "false"})  # setuptools compiles with $CC
    names = whl.namelist()
    assert Path(whl.filename).name.endswith("-py3-none-any.whl")
    assert not [n for n in names if n.endswith(".so")] and f"sniffer/{native.MANIFEST}" not in names
    site = tmp_path / "site"
    whl.extractall(site)
    assert mode_in(site)[0] == "pure Python (not compiled at install)"
    demo = run(["-r", str(DEMO)], pure=False, cwd=site)
    assert demo.count(b"\n") > 50 and b"Connect Command" in demo
