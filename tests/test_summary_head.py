"""sniffer.output.text.summary_head and summary_mid: the No., Time, Source, Destination and Protocol columns without
%-formatting, character for character."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sniffer.output.text import SUMMARY_HEAD, SUMMARY_MID, summary_head, summary_mid


def same(number: int, rel: float) -> None:
    assert summary_head(number, rel) == SUMMARY_HEAD % (number, rel), (number, rel)


def test_edges():
    for rel in (
        0.0,
        -0.0,
        -1.5,
        1e-7,
        4.9e-7,
        5e-7,
        5.1e-7,
        0.0078125,  # 7812.5 µs exactly: a tie, "%" rounds it to even (…812)
        0.0234375,  # 23437.5 µs: a tie rounding down too
        0.5,
        0.999999,
        0.9999995,
        0.99999951,
        9.999999,
        99.9999996,
        999.999999,
        1000.0000004,
        123456.789012,
        999_999.999_999,
        1e6,
        1e12,
        float("inf"),
        float("nan"),
    ):
        for number in (1, 9, 10, 99999, 100000, 12345678):
            same(number, rel)


def test_frame_times_as_the_pipeline_makes_them():
    # rel_ts is ts - first of float epochs from microsecond or nanosecond records
    rnd = random.Random(17)
    first = 1_700_000_000 + 0.123456
    for _ in range(20000):
        ts = 1_700_000_000 + rnd.randrange(0, 10**6) + rnd.randrange(10**6) / 1e6
        same(rnd.randrange(1, 10**7), ts - first)
        ns = 1_700_000_000 + rnd.randrange(0, 10**5) + rnd.randrange(10**9) / 1e9
        same(1, ns - first)


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-10.0, max_value=2e12, allow_nan=False), st.integers(0, 10**9))
def test_any_float(rel, number):
    same(number, rel)


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 10**12), st.sampled_from([-1, 0, 1]))
def test_near_every_half_microsecond(k, ulps):
    # values a hair around (k + 0.5) µs, where rounding the float could differ from "%"
    import math

    rel = (k + 0.5) / 1e6
    for _ in range(abs(ulps)):
        rel = math.nextafter(rel, math.inf if ulps > 0 else -math.inf)
    same(k, rel)


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.sampled_from(["MQTT", "TCP", "TLSv1.3", "WebSocket", ""]))
def test_summary_mid_equals_the_format(src, dst, proto):
    # the Source, Destination and Protocol columns, padded without %-formatting
    assert summary_mid(src, dst, proto) == SUMMARY_MID % (src, dst, proto)


def test_summary_mid_edges():
    for a in (
        "",
        "1.2.3.4",
        "10.0.0.100",
        "192.168.1.10",
        "255.255.255.255",
        "fe80::1",
        "2001:db8::a:b:c:d",
        "\U0001f600",
    ):
        for b in ("", "::1", "192.168.100.200", "x" * 11, "x" * 12, "x" * 13):
            assert summary_mid(a, b, "MQTT") == SUMMARY_MID % (a, b, "MQTT"), (a, b)
