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


def test_holiday_adjusted_learns_closures_and_keeps_the_level() -> None:
    import datetime as dt

    from models.baselines import RollingMean
    from models.calendar import HolidayAdjusted, is_uk_holiday

    day = (dt.date(2010, 1, 1) - dt.date(1970, 1, 1)).days
    m, plain = HolidayAdjusted(partial(RollingMean, 7)), RollingMean(7)
    m.set_day(day)
    for d in range(day, day + 500):  # shut on every bank holiday
        y = 0.0 if is_uk_holiday(d) else 10.0
        m.learn_one(y)
        plain.learn_one(y)
    assert m.holidays_seen >= 8 and m.factor < 0.05
    ahead = [is_uk_holiday(m.day + k) for k in range(60)]
    path = m.forecast(60)
    assert all(v < 0.5 if hol else v == pytest.approx(10.0) for v, hol in zip(path, ahead,
                                                                             strict=True))
    copy = pickle.loads(pickle.dumps(m))
    assert copy.forecast(60) == path
    with pytest.raises(ValueError):
        m.learn_one(math.nan)


def test_month_adjusted_learns_a_yearly_peak_and_is_its_member_when_undated() -> None:
    from models.calendar import MonthAdjusted, month_of

    undated, plain = MonthAdjusted(partial(RollingMedian, 28)), RollingMedian(28)
    for y in _spiky(100):
        undated.learn_one(y)
        plain.learn_one(y)
    assert undated.forecast(14) == plain.forecast(14)

    day = 14_610  # 2010-01-01
    m = MonthAdjusted(partial(RollingMedian, 28))
    m.set_day(day)
    for t in range(690):  # November doubles sales
        m.learn_one(20.0 if month_of(day + t) == 10 else 10.0)
    assert m.day is not None and month_of(m.day) == 10  # late November 2011
    assert m.forecast(1)[0] == pytest.approx(20.0, rel=0.25)
    assert max(m.index) == m.index[10] and abs(sum(m.index)) < 1e-9  # centred
    copy = pickle.loads(pickle.dumps(m))
    assert copy.forecast(30) == m.forecast(30)
    with pytest.raises(ValueError):
        m.learn_one(math.inf)
    assert copy.forecast(30) == m.forecast(30)


def test_bank_holidays_are_known_for_every_year_events_may_have() -> None:
    """Events are accepted up to 2100; the holiday tables stopped at 2040 (a probe), so the
    factor of a series dated after it never saw a holiday again."""
    import datetime as dt

    import numpy as np

    from contracts.events import MAX_TS
    from models.bank_ops import is_holiday
    from models.calendar import is_uk_holiday

    christmas_2099 = (dt.date(2099, 12, 25) - dt.date(1970, 1, 1)).days
    assert is_uk_holiday(christmas_2099)
    assert bool(is_holiday(np.array([christmas_2099]))[0])
    assert int(MAX_TS // 86400) <= 47_482
