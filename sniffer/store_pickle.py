"""The pickler of the UI store's rare contexts that marshal cannot write (kept out of sniffer.store,
which mypyc compiles: a compiled class cannot derive from the C Pickler)."""

from __future__ import annotations

import io
import pickle
from typing import Any


class _ContextPickler(pickle.Pickler):
    """Pickles the per-frame dissection context (plain tuples, see PacketStore._context); a stray
    memoryview (a TCP payload slice) becomes bytes."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, memoryview):
            return bytes, (obj.tobytes(),)
        return NotImplemented


def context_pickler(buf: io.BytesIO) -> pickle.Pickler:
    return _ContextPickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
