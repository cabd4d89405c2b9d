"""Calendar features: bank holidays, learnt online as a multiplicative effect.

:class:`HolidayAdjusted` wraps a member and knows the date of every value it learns
(:meth:`HolidayAdjusted.set_day` once, the epoch day of the next value; each value moves it
on by a day). On a bank holiday of the process's calendar it learns
the ratio of the actual to what the member forecast, as an exponentially weighted mean, and
feeds the member its own forecast instead, so a closed day does not drag the member's level
down. Its forecast is the member's, times the holiday factor on the holidays ahead. Until a
holiday has been seen, the factor is 1 (no adjustment).

>>> from functools import partial
>>> from models.baselines import RollingMean
>>> import datetime as dt
>>> easter_monday = (dt.date(2011, 4, 25) - dt.date(1970, 1, 1)).days
>>> m = HolidayAdjusted(partial(RollingMean, 7))
>>> m.set_day(easter_monday - 2)  # the weekend after Good Friday
>>> for _ in range(2):
...     m.learn_one(10.0)
>>> m.learn_one(0.0)  # the shop was shut on Easter Monday
>>> m.factor, m.forecast(1)
(0.0, [10.0])
>>> is_holiday_day(easter_monday), is_holiday_day(easter_monday + 1)
(True, False)

The calendar is one per process, :data:`DEFAULT_HOLIDAYS` (England's bank holidays: Online
Retail II is a UK shop) unless :func:`use_holidays` names another: a country code of the
``holidays`` package with an optional subdivision, or ``none`` (the worker, the backtest and
the alerts evaluation call it with ``SALESCAST_HOLIDAYS``). The days are UTC epoch days, as
daily buckets are UTC days (models.grid).

>>> independence_day = (dt.date(2024, 7, 4) - dt.date(1970, 1, 1)).days
>>> use_holidays("US"); is_holiday_day(independence_day), is_holiday_day(easter_monday)
(True, False)
>>> use_holidays("none"); is_holiday_day(independence_day)
False
>>> use_holidays(DEFAULT_HOLIDAYS)
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from models.base import Forecaster, check_horizon, describe_member

__all__ = ["DEFAULT_HOLIDAYS", "HolidayAdjusted", "MonthAdjusted", "holiday_days",
           "holidays_in_use", "is_holiday_day", "month_of", "use_holidays"]

_EPOCH = dt.date(1970, 1, 1)
DEFAULT_HOLIDAYS = "GB-ENG"  #: England's bank holidays (config.holidays checks other codes)
_in_use = DEFAULT_HOLIDAYS


def use_holidays(code: str) -> None:
    """Make ``code`` (``GB-ENG``, ``US``, ``US-CA``, ``none``; checked by
    :func:`config.holidays.check_holidays`) the calendar of this process's models."""
    global _in_use
    holiday_days(code)  # a bad code fails here, not in the first close
    _in_use = code


def holidays_in_use() -> str:
    """The calendar :func:`use_holidays` set last (:data:`DEFAULT_HOLIDAYS` before)."""
    return _in_use


@cache
def holiday_days(code: str) -> frozenset[int]:
    """The epoch days of calendar ``code``'s holidays, 2000 to 2099 (the years events may
    have: contracts.events)."""
    if code == "none":
        return frozenset()
    import holidays

    country, _, subdiv = code.partition("-")
    with warnings.catch_warnings():  # "available only from 2001 to 2035" (India): the years
        warnings.simplefilter("ignore", UserWarning)  # it has are what there is to know
        days = holidays.country_holidays(country, subdiv=subdiv or None, years=range(2000, 2100))
        return frozenset((d - _EPOCH).days for d in days)


@cache
def _holiday_list(code: str) -> tuple[int, ...]:
    return tuple(sorted(holiday_days(code)))


def is_holiday_day(day: int) -> bool:
    """Whether epoch day ``day`` is a holiday of the calendar in use."""
    return day in holiday_days(_in_use)


class HolidayAdjusted(Forecaster):
    """``make()``'s forecaster with a learnt bank-holiday factor (see the module docstring).

    ``make`` must pickle (a class or :func:`functools.partial`).
    """

    def __init__(self, make: Callable[[], Forecaster], decay: float = 0.7,
                 name: str | None = None) -> None:
        super().__init__()
        self.member = make()
        self.name = name or f"{self.member.name}+holidays"
        self.decay = decay
        self.day: int | None = None  # epoch day of the next value
        self.factor = 1.0
        self.holidays_seen = 0
        self.learnt = 0  # values learnt (a holiday before the first has no forecast to keep)

    def set_day(self, day: int) -> None:
        """The epoch day (UTC) of the next value :meth:`learn_one` will get."""
        self.day = int(day)

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        learnt = getattr(self, "learnt", 1)  # (a state pickled before it counted: some)
        self.learnt = learnt + 1
        if self.day is not None and is_holiday_day(self.day) and learnt:
            base = self.member.forecast_one()
            ratio = min(5.0, max(y / base, 0.0)) if base > 0 else (1.0 if y > 0 else 0.0)
            d = 0.0 if self.holidays_seen == 0 else self.decay
            self.factor = d * self.factor + (1.0 - d) * ratio
            self.holidays_seen += 1
            self.member.learn_one(base)
        else:
            self.member.learn_one(y)
        if self.day is not None:
            self.day += 1

    def describe(self) -> dict[str, Any]:
        """The member's description (an ensemble's weights), plus the holiday factor."""
        return {**describe_member(self.member), "holiday_factor": round(self.factor, 3)}

    def forecast(self, horizon: int) -> list[float]:
        path = self.member.forecast(check_horizon(horizon))
        if self.day is None or not self.holidays_seen:
            return path
        days = _holiday_list(_in_use)
        i = bisect.bisect_left(days, self.day)
        if i == len(days) or days[i] >= self.day + horizon:  # no holiday ahead: most days
            return path
        return [v * self.factor if is_holiday_day(self.day + k) else v
                for k, v in enumerate(path)]


@cache
def month_of(day: int) -> int:
    """Month (0 = January) of epoch day ``day``.

    >>> month_of(0), month_of(15_000)
    (0, 0)
    """
    return (_EPOCH + dt.timedelta(days=day)).month - 1


class MonthAdjusted(Forecaster):
    """``make()``'s forecaster on month-deseasonalised values, with a learnt month-of-year index.

    The index is additive on the log1p scale (multiplicative on sales): ``index[m]`` is an
    exponentially weighted mean (rate ``gamma`` per value) of how far ``log1p(y)`` sat above
    the member's forecast on days of month ``m``, kept centred over the 12 months so that it
    does not drift into the member's level. The member learns ``expm1(log1p(y) - index[m])``;
    the forecast is the member's path times ``exp(index[month of the target day])``. It needs
    :meth:`set_day` like :class:`HolidayAdjusted`; undated, it is exactly its member.

    >>> from functools import partial
    >>> from models.baselines import RollingMedian
    >>> m = MonthAdjusted(partial(RollingMedian, 28))
    >>> m.set_day(14_610)  # 2010-01-01
    >>> for t in range(730):  # two years: December sells three times as much
    ...     m.learn_one(30.0 if month_of(14_610 + t) == 11 else 10.0)
    >>> m.day, month_of(m.day)  # 2012-01-01: the forecast runs from January ...
    (15340, 0)
    >>> path = m.forecast(7)
    >>> 9 < path[0] < 11
    True
    >>> m.set_day(15_310)  # ... and from 2 December
    >>> round(m.forecast(1)[0] / path[0], 1) > 2
    True
    """

    def __init__(self, make: Callable[[], Forecaster], gamma: float = 0.05,
                 name: str | None = None) -> None:
        super().__init__()
        if not (type(gamma) in (int, float) and 0 < gamma <= 1):
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.member = make()
        self.name = name or f"{self.member.name}+month"
        self.gamma = gamma
        self.day: int | None = None
        self.index = [0.0] * 12

    def set_day(self, day: int) -> None:
        """The epoch day (UTC) of the next value; passed on to a calendar-aware member."""
        self.day = int(day)
        set_day = getattr(self.member, "set_day", None)
        if set_day is not None:
            set_day(day)

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        if self.day is None:
            self.member.learn_one(y)
            return
        m = month_of(self.day)
        z = math.log1p(max(y, 0.0))
        base = math.log1p(max(self.member.forecast_one(), 0.0))
        idx = self.index
        step = self.gamma * (z - base - idx[m])
        idx[m] += step
        shift = step / 12.0
        for i in range(12):  # keep the index centred: what one month gains, all share
            idx[i] -= shift
        self.member.learn_one(max(0.0, math.expm1(z - idx[m])))
        self.day += 1

    def forecast(self, horizon: int) -> list[float]:
        path = self.member.forecast(check_horizon(horizon))
        if self.day is None:
            return path
        d, idx = self.day, self.index
        return [max(0.0, math.expm1(math.log1p(max(v, 0.0)) + idx[month_of(d + k)]))
                for k, v in enumerate(path)]

    def describe(self) -> dict[str, Any]:
        """The member's description, plus the month factor of the next value's day."""
        out = describe_member(self.member)
        if self.day is not None:
            out["month_factor"] = round(math.exp(self.index[month_of(self.day)]), 3)
        return out
