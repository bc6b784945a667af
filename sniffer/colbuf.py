"""Column batches: a stored frame's values written as they come, moved into the columns' arrays a batch at a time.

The packet store (sniffer.store) and the filter index (sniffer.filter.index) keep one array per column and fill
them per batch, so that a reader thread sees whole batches. A value waiting for its batch used to be a Python
int in a list, packed with struct at publish: ~400 instructions a value (the int boxed, appended, unpacked into
a tuple, converted, freed). Here it is written at once, little-endian, into a librt BytesWriter (mypyc's runtime
library, which mypy, our build requirement, depends on): in the compiled build a native call of a few dozen
instructions, nothing allocated. Unsigned values go through the signed writers mypyc compiles natively, as
their two's-complement bytes, which are the same bytes; a value out of the column's range is an error
(OverflowError, or librt's ValueError), never a wrapped value.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final

from librt.strings import BytesWriter, write_f64_le, write_i16_le, write_i32_le, write_i64_le

_SWAP: Final = sys.byteorder != "little"  # arrays hold native byte order; the writers write little-endian


def put_u8(w: BytesWriter, v: int) -> None:
    if v >> 8:  # (negative or too large: one test)
        raise OverflowError(f"{v} does not fit an unsigned 8-bit column")
    w.append(v)


def put_u16(w: BytesWriter, v: int) -> None:
    if v >> 16:  # (negative or too large: one test)
        raise OverflowError(f"{v} does not fit an unsigned 16-bit column")
    write_i16_le(w, v - 0x1_0000 if v > 0x7FFF else v)


def put_i32(w: BytesWriter, v: int) -> None:
    write_i32_le(w, v)  # (out of range: librt's ValueError)


def put_u32(w: BytesWriter, v: int) -> None:
    if v >> 32:  # (negative or too large: one test)
        raise OverflowError(f"{v} does not fit an unsigned 32-bit column")
    write_i32_le(w, v - 0x1_0000_0000 if v > 0x7FFF_FFFF else v)


def put_u64(w: BytesWriter, v: int) -> None:
    if v >> 64:  # (negative or too large: one test)
        raise OverflowError(f"{v} does not fit an unsigned 64-bit column")
    write_i64_le(w, v - 0x1_0000_0000_0000_0000 if v > 0x7FFF_FFFF_FFFF_FFFF else v)


def put_f64(w: BytesWriter, v: float) -> None:
    write_f64_le(w, v)


def drain(w: BytesWriter, col: array) -> None:
    """Append the values written to w to col (whose item size they were written in), and empty w."""
    if len(w):
        if _SWAP:
            batch = array(col.typecode, w.getvalue())
            batch.byteswap()
            col.extend(batch)
        else:
            col.frombytes(w.getvalue())
        w.truncate(0)
