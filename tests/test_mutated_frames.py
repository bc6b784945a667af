"""Hostile bytes in every header: frames of the public captures and of generated fragmented flows (IPv4, IPv6 with
Hop-by-Hop and Authentication headers) with a few bytes changed or cut, through every output of the build under
test. None may stop mqttsniff. The compiled build turns some slips a pure build forgives into an internal error (a
bytes slice whose end lies before its start raised SystemError in the compiled tree on an AH shorter than its own
fixed fields: test_ip_fragments has that case), so this runs the whole CLI over thousands of such frames as a
guard; it found nothing else when written (9 seeds of 3,000-5,000 frames tried)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import CORPUS, sniff_out
from test_ip_fragments import _behind_extension_headers, _flow

from sniffer.net.pcapfile import open_capture
from sniffer.synth import impair
from sniffer.synth.pcap_write import FrameList

ETHER_IPV4 = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def _bases() -> list[bytes]:
    """Well-formed Ethernet frames of many shapes: the public captures (raw IPv4 given an Ethernet header) and
    fragmented flows, IPv6 ones also behind extension headers."""
    out = []
    for path in sorted(CORPUS.glob("*.pcap*")):
        for _ts, data, _ol, lt in open_capture(str(path)):
            if lt == 1:
                out.append(data)
            elif lt in (101, 228):
                out.append(ETHER_IPV4 + data)
    for v6 in (False, True):
        flow = FrameList()
        _flow(flow, v6)
        frames = impair.fragment(flow.frames_list, 600)
        out += [d for _t, d in frames] + [d for _t, d in _behind_extension_headers(frames)]
    return out


def _mutated(bases: list[bytes], seed: int, count: int) -> list[tuple[int, bytes]]:
    """`count` frames, each a base with one to four bytes changed (mostly in the first 120: the headers) and one
    in five cut short."""
    rng = random.Random(seed)
    frames = []
    for k in range(count):
        b = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(12, min(len(b), 120)) if rng.random() < 0.8 else rng.randrange(12, len(b))] = rng.randrange(
                256
            )
        if rng.random() < 0.2:
            b = b[: rng.randrange(14, len(b) + 1)]
        frames.append((1_000_000 + 1000 * k, bytes(b)))
    return frames


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_frames_never_stop_an_output(seed: int, tmp_path: Path) -> None:
    out = FrameList()
    out.frames_list = _mutated(_bases(), seed, 2000)
    path = str(tmp_path / f"mutated-{seed}.pcap")
    out.save(path)
    assert len(sniff_out("-r", path).splitlines()) == 2000  # every frame a summary line
    for args in (["-V"], ["-T", "json", "-2"], ["-x"], ["-T", "fields", "-e", "tcp.stream", "-e", "mqtt.topic"]):
        assert sniff_out("-r", path, *args)  # (sniff_out asserts exit 0: an internal error exits 3)
