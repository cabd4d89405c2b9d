"""The calendar features: bank holidays of the calendar in use (England's by default, any
country of the ``holidays`` package by ``SALESCAST_HOLIDAYS``) and the month-of-year index."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import random
from collections.abc import Iterator
from functools import partial

import numpy as np
import pytest

from models.baselines import RollingMedian
from models.calendar import DEFAULT_HOLIDAYS, holidays_in_use, is_holiday_day, use_holidays

JULY_4_2024 = (dt.date(2024, 7, 4) - dt.date(1970, 1, 1)).days
EASTER_MONDAY_2024 = (dt.date(2024, 4, 1) - dt.date(1970, 1, 1)).days


@pytest.fixture
def calendar() -> Iterator[None]:
    """Tests that name a calendar leave the default one in use."""
    yield
    use_holidays(DEFAULT_HOLIDAYS)


def _spiky(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.choice([0.0, 1.0, 2.0, 3.0]) + (500.0 if rng.random() < 0.02 else 0.0)
            for _ in range(n)]


def test_holiday_adjusted_learns_closures_and_keeps_the_level() -> None:
    import datetime as dt

    from models.baselines import RollingMean
    from models.calendar import HolidayAdjusted, is_holiday_day

    day = (dt.date(2010, 1, 1) - dt.date(1970, 1, 1)).days
    m, plain = HolidayAdjusted(partial(RollingMean, 7)), RollingMean(7)
    m.set_day(day)
    for d in range(day, day + 500):  # shut on every bank holiday
        y = 0.0 if is_holiday_day(d) else 10.0
        m.learn_one(y)
        plain.learn_one(y)
    assert m.holidays_seen >= 8 and m.factor < 0.05
    ahead = [is_holiday_day(m.day + k) for k in range(60)]
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
    from models.calendar import is_holiday_day

    christmas_2099 = (dt.date(2099, 12, 25) - dt.date(1970, 1, 1)).days
    assert is_holiday_day(christmas_2099)
    assert bool(is_holiday(np.array([christmas_2099]))[0])
    assert int(MAX_TS // 86400) <= 47_482


def test_the_default_calendar_is_england_s_and_another_replaces_it(calendar: None) -> None:
    from models.bank_ops import is_holiday

    days = np.array([JULY_4_2024, EASTER_MONDAY_2024])
    assert holidays_in_use() == DEFAULT_HOLIDAYS == "GB-ENG"
    assert is_holiday(days).tolist() == [False, True]
    use_holidays("US")
    assert is_holiday(days).tolist() == [True, False]  # the bank's table follows
    assert [is_holiday_day(int(d)) for d in days] == [True, False]  # and the per-object one
    use_holidays("none")
    assert not is_holiday(days).any() and not is_holiday_day(JULY_4_2024)
    with pytest.raises(NotImplementedError):  # config.calendar checks codes for users
        use_holidays("XX")
    assert holidays_in_use() == "none"  # a bad code leaves the calendar as it was


def test_a_subdivision_has_its_own_holidays(calendar: None) -> None:
    fasching = (dt.date(2024, 1, 6) - dt.date(1970, 1, 1)).days  # Epiphany: Bavaria, not Berlin
    use_holidays("DE-BY")
    assert is_holiday_day(fasching)
    use_holidays("DE-BE")
    assert not is_holiday_day(fasching)


@pytest.mark.parametrize("code", ["GB-ENG", "US"])
def test_a_series_shut_on_its_country_s_holidays_learns_them_on_its_calendar_only(
        calendar: None, code: str) -> None:
    """A US shop, closed on US holidays: with the US calendar the worker's bank forecasts
    next Independence Day near zero; with England's it learns nothing of it."""
    from models.bank import ForecasterBank

    use_holidays("US")
    start = JULY_4_2024 - 400
    values = [0.0 if is_holiday_day(d) else 10.0 for d in range(start, JULY_4_2024 - 3)]
    use_holidays(code)
    bank = ForecasterBank(horizon=7)
    row = bank.add_rows(1)
    bank.set_day(row, [start])
    for v in values:
        bank.learn(row, [v])
    ahead = bank.forecast(row, 7).yhat[0]  # days JULY_4 - 3 .. JULY_4 + 3
    if code == "US":
        assert ahead[3] < 1.0 and min(ahead[:3]) > 5.0
    else:
        assert ahead[3] > 5.0
