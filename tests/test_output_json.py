"""-T json's indented writer prints exactly what json.dumps(indent=2) prints (the reference it replaced)."""

from __future__ import annotations

import json

from sniffer.net.pcapfile import open_capture
from sniffer.output.json_out import _indented, json_record
from sniffer.pipeline import Dissector


def dumps_reference(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False).replace("\n", "\n  ")


def indented(obj: object) -> str:
    out: list[str] = []
    _indented(obj, "\n  ", out)
    return "".join(out)


def test_shapes() -> None:
    cases = [{}, [], "", 0, None, True, 2.5, {"a": []}, {"a": {}}, [[], {}], {'é\n"\\': ["\u2192", "\x00\x1f", -1]}]
    for obj in cases:
        assert indented(obj) == dumps_reference(obj), obj


def test_every_corpus_frame(corpus_files) -> None:
    records = 0
    for path in corpus_files:
        d = Dissector()
        with open_capture(str(path)) as cap:
            for number, (ts, data, orig_len, linktype) in enumerate(cap, 1):
                frame = d.frame(number, ts, linktype, data, orig_len)
                for secrets in (False, True):
                    rec = json_record(frame, frame.tree(), secrets)
                    assert indented(rec) == dumps_reference(rec), f"{path.name} frame {number}"
                    records += 1
    assert records > 400  # 224 frames, each with and without secrets
