"""Calendar features: UK bank holidays, learnt online as a multiplicative effect.

:class:`HolidayAdjusted` wraps a member and knows the date of every value it learns
(:meth:`HolidayAdjusted.set_day` once, the epoch day of the next value; each value moves it
on by a day). On a bank holiday (England and Wales, from the ``holidays`` package) it learns
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
>>> is_uk_holiday(easter_monday), is_uk_holiday(easter_monday + 1)
(True, False)
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Any

from models.base import Forecaster, check_horizon

__all__ = ["HolidayAdjusted", "is_uk_holiday"]

_EPOCH = dt.date(1970, 1, 1)


@cache
def _holiday_days() -> frozenset[int]:
    import holidays

    days = holidays.country_holidays("GB", subdiv="ENG", years=range(2000, 2041))
    return frozenset((d - _EPOCH).days for d in days)


@cache
def _holiday_list() -> tuple[int, ...]:
    return tuple(sorted(_holiday_days()))


def is_uk_holiday(day: int) -> bool:
    """Whether epoch day ``day`` is a bank holiday in England."""
    return day in _holiday_days()


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

    def set_day(self, day: int) -> None:
        """The epoch day (UTC) of the next value :meth:`learn_one` will get."""
        self.day = int(day)

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        if self.day is not None and is_uk_holiday(self.day):
            base = self.member.forecast_one()
            ratio = min(5.0, y / base) if base > 0 else (1.0 if y > 0 else 0.0)
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
        describe = getattr(self.member, "describe", None)
        out: dict[str, Any] = describe() if describe is not None else {}
        return {**out, "holiday_factor": round(self.factor, 3)}

    def forecast(self, horizon: int) -> list[float]:
        path = self.member.forecast(check_horizon(horizon))
        if self.day is None or not self.holidays_seen:
            return path
        days = _holiday_list()
        i = bisect.bisect_left(days, self.day)
        if i == len(days) or days[i] >= self.day + horizon:  # no holiday ahead: most days
            return path
        return [v * self.factor if is_uk_holiday(self.day + k) else v
                for k, v in enumerate(path)]
