"""Shared test fixtures: paths to the corpus and the tools every test relies on.

A test that needs a tool the README's test command installs fails loudly when it
is missing (it never skips): CI installs everything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


def require_tool(name: str) -> str:
    """Path of an external program, or a loud failure naming the install step."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run the README's test command (it apt-get installs it)")
    return path


@pytest.fixture(scope="session")
def tshark() -> str:
    return require_tool("tshark")


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng"))
    if not files:
        pytest.fail(f"no captures in {CORPUS}: the shared corpus must sit beside the repo")
    return files
