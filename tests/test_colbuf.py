"""sniffer.colbuf: values written as bytes land in the columns exactly as array.append would put them."""

from __future__ import annotations

import math
from array import array

import pytest
from librt.strings import BytesWriter

from sniffer import colbuf
from sniffer.store import FILE_ROW, SPILL_ROW

# (writer, array typecode, values at and around every edge of the column's range)
CASES = [
    (colbuf.put_u8, "B", [0, 1, 127, 128, 255]),
    (colbuf.put_u16, "H", [0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]),
    (colbuf.put_i32, "i", [0, 1, -1, 0x7FFF_FFFF, -0x8000_0000]),
    (colbuf.put_u32, "I", [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]),
    (
        colbuf.put_u64,
        "Q",
        [0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, FILE_ROW | 12345, SPILL_ROW | 7],
    ),
    (colbuf.put_f64, "d", [0.0, -0.0, 1.5, -1e300, 1.7e9 + 0.123456789, math.inf, -math.inf]),
]


@pytest.mark.parametrize(("put", "typecode", "values"), CASES, ids=[c[1] for c in CASES])
def test_batch_lands_as_append_would(put, typecode: str, values: list) -> None:
    col = array(typecode, values[:1])  # a column with rows already in it
    w = BytesWriter()
    for v in values:
        put(w, v)
    colbuf.drain(w, col)
    assert col == array(typecode, values[:1] + values)
    assert len(w) == 0  # drained: the next batch starts empty
    put(w, values[-1])
    colbuf.drain(w, col)
    assert col[-1] == values[-1] and len(col) == len(values) + 2


def test_nan_keeps_its_bits() -> None:
    col = array("d")
    w = BytesWriter()
    colbuf.put_f64(w, math.nan)
    colbuf.drain(w, col)
    assert math.isnan(col[0])


def test_draining_nothing_leaves_the_column() -> None:
    col = array("I", [5])
    colbuf.drain(BytesWriter(), col)
    assert col == array("I", [5])


@pytest.mark.parametrize(
    ("put", "bad"),
    [
        (colbuf.put_u8, 256),
        (colbuf.put_u8, -1),
        (colbuf.put_u16, 0x1_0000),
        (colbuf.put_u16, 0x1_7FFF),
        (colbuf.put_u16, -1),
        (colbuf.put_i32, 0x8000_0000),
        (colbuf.put_u32, 0x1_0000_0000),
        (colbuf.put_u32, -1),
        (colbuf.put_u64, 1 << 64),
        (colbuf.put_u64, -1),
    ],
)
def test_out_of_range_is_an_error_not_a_wrapped_value(put, bad: int) -> None:
    w = BytesWriter()
    with pytest.raises((OverflowError, ValueError)):
        put(w, bad)
    assert len(w) == 0
