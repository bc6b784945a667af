"""The session layer's compact backfill against the dict of lists it replaces (same answers, same order)."""

from __future__ import annotations

import random

import pytest

from sniffer.session.backfill import Backfill


def _model_forget(model: dict[int, list], upto: int) -> None:
    for n in [n for n in model if n <= upto]:
        del model[n]


@pytest.mark.parametrize("seed", range(6))
def test_entries_come_back_per_frame_in_order_and_leave_with_forget(seed: int) -> None:
    rnd = random.Random(seed)
    b, model = Backfill(), {}
    gone = 0  # frames up to here have left
    for now in range(1, 4000):
        for _ in range(rnd.choice((0, 0, 1, 2, 3))):  # responses and deliveries to earlier frames
            frame = max(1, now - rnd.choice((1, 2, 5, 40, 900)))
            idx, attr = rnd.randrange(4), rnd.choice(("response_in", "delivered_in"))
            b.add(frame, idx, attr, now)
            if frame > gone:
                model.setdefault(frame, []).append((idx, attr, now))
        if now % 700 == 0:
            gone = now - rnd.randrange(300)
            b.forget(gone)
            _model_forget(model, gone)
            b.forget(gone - 5)  # forgetting less than already forgotten changes nothing
    assert list(b) == sorted(model) and len(b) == len(model) and bool(b)
    for n in range(0, 4001):
        assert b.get(n) == model.get(n, []), n
    some = next(iter(model))
    assert b[some] == model[some]
    with pytest.raises(KeyError):
        b[gone]


def test_an_empty_backfill_is_false_and_answers_nothing() -> None:
    b = Backfill()
    assert not b and len(b) == 0 and list(b) == [] and b.get(1) == [] and b.get(10**9) == []
    b.add(3, 1, "response_in", 4)
    assert b and list(b) == [3] and b.get(3) == [(1, "response_in", 4)] and b.get(2) == []
    b.forget(3)
    assert not b and b.get(3) == []
    b.add(2, 0, "response_in", 9)  # a frame that left: dropped
    assert not b
