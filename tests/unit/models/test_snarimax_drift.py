"""SNARIMAX on a scaled target (guarded) and the drift-aware reset wrapper."""

from __future__ import annotations

import math
import pickle
import random
from functools import partial

import pytest

from models.baselines import RollingMedian
from models.drift import DriftReset
from models.online import HoltWintersLog1p
from models.snarimax import ScaledSNARIMAX

WEEK = [2.0, 2.0, 3.0, 4.0, 8.0, 12.0, 1.0]


def _spiky(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.choice([0.0, 1.0, 2.0, 3.0]) + (500.0 if rng.random() < 0.02 else 0.0)
            for _ in range(n)]


@pytest.mark.parametrize("make", [lambda: ScaledSNARIMAX(7),
                                  lambda: DriftReset(partial(RollingMedian, 28))])
def test_contract_nan_rejected_pickle_and_determinism(make) -> None:
    m, twin = make(), make()
    for y in _spiky(120):
        m.learn_one(y)
        twin.learn_one(y)
    assert m.forecast(14) == twin.forecast(14)
    copy = pickle.loads(pickle.dumps(m))
    assert copy.forecast(14) == m.forecast(14)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            m.learn_one(bad)
    assert copy.forecast(14) == m.forecast(14)  # the rejected values changed nothing


def test_snarimax_stays_bounded_on_spiky_sales() -> None:
    m = ScaledSNARIMAX(7)
    for y in _spiky(600, seed=3):
        m.learn_one(y)
        path = m.forecast(14)
        assert all(math.isfinite(v) and 0 <= v <= 3 * 503 for v in path)


def test_snarimax_learns_a_weekly_pattern() -> None:
    m = ScaledSNARIMAX(7)
    for y in WEEK * 40:
        m.learn_one(y)
    path = m.forecast(7)
    mae = sum(abs(a - b) for a, b in zip(path, WEEK, strict=True)) / 7
    flat = sum(abs(sum(WEEK) / 7 - b) for b in WEEK) / 7
    assert mae < flat / 2, (path, mae, flat)


def test_drift_reset_adapts_to_a_level_shift_a_plain_member_does_not() -> None:
    reset, plain = DriftReset(partial(RollingMedian, 28)), RollingMedian(28)
    for y in [10.0] * 60 + [40.0] * 10:
        reset.learn_one(y)
        plain.learn_one(y)
    assert reset.resets >= 1 and reset.forecast(3) == [40.0] * 3
    assert plain.forecast(3) == [10.0] * 3


def test_drift_reset_rarely_fires_on_stationary_noise() -> None:
    rng = random.Random(5)
    m = DriftReset(partial(HoltWintersLog1p, 7))
    for i in range(700):
        m.learn_one(max(0.0, WEEK[i % 7] * 3 + rng.gauss(0, 2)))
    assert m.resets <= 2
