"""The bucket grid: where buckets start and end on the time axis. Pure.

A bucket width is a number of seconds everywhere in salescast (``SALESCAST_BUCKET_SECONDS``,
the states, the payloads' ``bucket_seconds``). Most widths are fixed: buckets are
``[k * width, (k + 1) * width)`` in epoch seconds, so daily buckets are UTC days. Two widths
are calendar units instead, because sales are planned by the month and the quarter and a
month is not a fixed number of seconds:

* :data:`MONTH` (2,629,800 s, the mean month of 365.25 days / 12): calendar months;
* :data:`QUARTER` (7,889,400 s, three mean months): calendar quarters (Jan, Apr, Jul, Oct).

Weeks (:data:`WEEK`, 604,800 s) are fixed but start on Mondays, 00:00 UTC (ISO weeks), not
on the epoch's weekday: from the epoch they began on Thursdays, so daily sales of Monday to
Sunday fell into two buckets, and a week's total was Thursday's to Wednesday's.

Their season (:func:`models.seasons.season_for`) is 12 and 4, as the mean width gives. The
functions here do the arithmetic for any width, so that code written for fixed widths
(``start + width``) works on the calendar grid when written with :func:`shift`.

"UTC" above is the shop's clock when :func:`use_offset` names another
(``SALESCAST_UTC_OFFSET``, seconds east of UTC): every grid is then laid in that clock, so
days, weeks, months and quarters start at its midnight, and a shop in New York (``-05:00``)
has days from 05:00 to 05:00 UTC, not from 19:00 to 19:00 of its own. The offset is fixed, as
in Flink's and Kafka Streams' windows: where clocks change in summer, give the standard one
(days then start at 01:00 summer time). :func:`day_of` is the shop's epoch day of a time
(what the holiday factor and the weekday features read). One offset per process, set before
any state is read; a state bucketed on another grid is refused (``stream.state``).

>>> import calendar
>>> feb = calendar.timegm((2024, 2, 10, 12, 0, 0))
>>> start(feb, MONTH) == calendar.timegm((2024, 2, 1, 0, 0, 0))
True
>>> end(start(feb, MONTH), MONTH) == calendar.timegm((2024, 3, 1, 0, 0, 0))  # 29 days
True
>>> start(feb, QUARTER) == calendar.timegm((2024, 1, 1, 0, 0, 0))
True
>>> steps(start(feb, MONTH), calendar.timegm((2025, 2, 1, 0, 0, 0)), MONTH)
12
>>> start(86400 * 3 + 5.5, 86400), shift(86400, 2, 86400)
(259200, 259200)
>>> time.strftime("%a %Y-%m-%d", time.gmtime(start(feb, WEEK)))  # Sat 2024-02-10's week
'Mon 2024-02-05'
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Iterable
from functools import lru_cache

from config.calendar import offset_text  # re-exported: the grid's clock, said

__all__ = ["MONTH", "QUARTER", "WEEK", "CALENDAR", "is_calendar", "is_plain", "start", "shift",
           "end", "steps", "starts", "position", "usual_step", "width_for", "use_offset",
           "utc_offset", "offset_text", "day_of"]

MONTH = 2_629_800  #: calendar months (UTC): 365.25 days / 12
QUARTER = 3 * MONTH  #: calendar quarters (UTC)
#: the calendar widths and how many months each bucket spans
CALENDAR = {MONTH: 1, QUARTER: 3}
WEEK = 604_800  #: weeks from Monday 00:00 UTC
_ORIGIN = {WEEK: 4 * 86_400}  #: where a fixed grid starts, when not at the epoch (1970-01-05)
_DAY = 86_400
_offset = 0  #: the shop's clock, seconds east of UTC (:func:`use_offset`)


def use_offset(seconds: int) -> None:
    """Lay every grid in the clock ``seconds`` east of UTC (``-18000``: UTC-05:00).

    >>> ts = 1_720_040_000  # 2024-07-03 20:53 UTC: 15:53 in New York, 05:53 on the 4th in Tokyo
    >>> use_offset(-5 * 3600); start(ts, 86400), day_of(ts)  # 3 July 05:00 UTC, 3 July
    (1719982800, 19907)
    >>> is_plain(86400), is_plain(3600)  # local days; hours are hours in either clock
    (False, True)
    >>> use_offset(9 * 3600); start(ts, 86400), day_of(ts)  # 3 July 15:00 UTC, 4 July
    (1720018800, 19908)
    >>> time.strftime("%Y-%m-%d %H:%M", time.gmtime(start(ts, MONTH)))  # 1 July in Tokyo
    '2024-06-30 15:00'
    >>> use_offset(0); start(ts, 86400), day_of(ts)
    (1719964800, 19907)
    """
    global _offset
    if seconds % 60 or not -14 * 3600 <= seconds <= 14 * 3600:
        raise ValueError(f"a UTC offset is whole minutes within +-14 h, got {seconds} s")
    _offset = int(seconds)


def utc_offset() -> int:
    """The offset :func:`use_offset` set last (0: UTC)."""
    return _offset


def day_of(ts: float) -> int:
    """The epoch day of ``ts`` on the shop's clock (its midnight starts it)."""
    return int((ts + _offset) // _DAY)


def is_calendar(width: int) -> bool:
    """Whether buckets ``width`` wide are calendar months or quarters."""
    return width in CALENDAR


def _index(ts: float, months: int) -> int:
    """The calendar bucket holding ``ts``: months (or quarters...) since 1970-01."""
    t = time.gmtime(math.floor(ts) + _offset)
    return ((t.tm_year - 1970) * 12 + t.tm_mon - 1) // months


def _epoch(index: int, months: int) -> int:
    """The first second of calendar bucket ``index`` (see :func:`_index`)."""
    return _utc_epoch(index, months) - _offset


@lru_cache(maxsize=4096)
def _utc_epoch(index: int, months: int) -> int:
    year, month = divmod(index * months, 12)
    return calendar.timegm((1970 + year, month + 1, 1, 0, 0, 0))


def is_plain(width: int) -> bool:
    """Whether buckets ``width`` wide are ``[k * width, (k + 1) * width)`` in epoch seconds
    (not calendar months or quarters, not weeks from Monday, not days of a clock off UTC)."""
    return width not in CALENDAR and (_ORIGIN.get(width, 0) - _offset) % width == 0


def start(ts: float, width: int) -> int:
    """The start of the bucket holding ``ts`` (epoch seconds)."""
    months = CALENDAR.get(width)
    if months is None:
        origin = _ORIGIN.get(width, 0) - _offset
        return int((ts - origin) // width) * width + origin
    return _epoch(_index(ts, months), months)


def shift(first: int, k: int, width: int) -> int:
    """The start of the bucket ``k`` buckets after (``k < 0``: before) the one at ``first``."""
    months = CALENDAR.get(width)
    if months is None:
        return first + k * width
    return _epoch(_index(first, months) + k, months)


def end(first: int, width: int) -> int:
    """The end of the bucket starting at ``first``: the next one's start."""
    return shift(first, 1, width)


def steps(a: int, b: int, width: int) -> int:
    """How many buckets from the one holding ``a`` to the one holding ``b`` (negative when
    ``b`` comes first); for fixed widths ``(b - a) // width`` of two bucket starts."""
    months = CALENDAR.get(width)
    if months is None:
        return (b - a) // width
    return _index(b, months) - _index(a, months)


def position(origin: int, first: int, width: int) -> int | None:
    """``k`` such that ``shift(origin, k, width) == first``; None when ``first`` is not a
    bucket start of ``origin``'s grid.

    >>> position(100, 130, 10), position(100, 135, 10)
    (3, None)
    """
    months = CALENDAR.get(width)
    if months is None:
        k, rem = divmod(first - origin, width)
        return None if rem else k
    k = steps(origin, first, width)
    return k if shift(origin, k, width) == first else None


def starts(a: int, b: int, width: int) -> list[int]:
    """The bucket starts from ``a`` (a start) up to, not including, ``b``.

    >>> starts(0, 30, 10), len(starts(start(0, MONTH), start(86400 * 366, MONTH), MONTH))
    ([0, 10, 20], 12)
    """
    if width not in CALENDAR:
        return list(range(a, b, width))
    out = []
    while a < b:
        out.append(a)
        a = end(a, width)
    return out


def usual_step(times: Iterable[float]) -> float | None:
    """The median step between consecutive distinct ``times`` (``None``: fewer than two).

    >>> usual_step([0.0, 5.0, 1.0, 1.0, 2.0]), usual_step([3.0])
    (1.0, None)
    """
    distinct = sorted(set(times))
    steps = sorted(b - a for a, b in zip(distinct, distinct[1:], strict=False))
    return steps[len(steps) // 2] if steps else None


def width_for(series: Iterable[list[float]]) -> int:
    """The bucket width that suits each series' times (``series``: one list of times per
    series): a quarter, a month or a week when the usual step between a series' distinct
    times is about that long, else a day (sales by the hour and by the transaction are
    forecast by the day). Per series, then the median over series: weekly rows of series
    that each sell on their own weekday are weekly, though the file has a row every day.

    >>> width_for([[0.0, 86400.0, 172800.0]]), width_for([[0.0, 2678400.0, 5097600.0]])
    (86400, 2629800)
    >>> width_for([[d * 86400.0 + k * 604800.0 for k in range(8)] for d in range(7)])
    604800
    """
    usual = sorted(step for times in series if (step := usual_step(times)) is not None)
    step = usual[len(usual) // 2] if usual else 0.0
    day = 86_400
    return next((w for w, least in ((QUARTER, 80 * day), (MONTH, 25 * day), (WEEK, 6 * day))
                 if step >= least), day)
