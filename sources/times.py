"""Times as people write them in sales files, to epoch seconds (UTC unless they say otherwise).

A time without a zone is read on the clock ``tz`` (default UTC): the shop's, when
``SALESCAST_UTC_OFFSET`` names one (a shop's export says "2024-07-04 10:00" of its own day).
Epoch seconds are absolute whatever the clock.

:func:`parse_time` reads epoch seconds (from 1973), ISO dates and date-times, ``2024-03``,
``20240131`` and ``202401``, and fpp3's periods (``2024 Mar``, ``2024 Q1``, ``2024 W09``: the
period's first second); every time is between 1970 and 2099;
:func:`parse_week` reads a column of weeks (``202402``: ISO week 2); :func:`strptime_utc` any
other form, given its ``strptime`` format. Errors are ValueErrors that
say what is accepted.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = ["parse_time", "parse_week", "strptime_utc"]

MAX_TS = 4_102_444_800  #: 2100-01-01 UTC: a larger number is no time in seconds
#: 1973-03-03 UTC: a smaller number is no sale's time in seconds (a year, a week number)
MIN_SECONDS = 100_000_000
_HINT = "give its form with --time-format"
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec"), start=1)}
_WEEK, _WEEKDAY = re.compile(r"%[WUV]"), re.compile(r"%[aAwu]")
_PERIOD = re.compile(r"(\d{4})[ -]?(?:([qQ])(\d)|([wW])(\d{1,2})|([A-Za-z]{3})|(\d{1,2}))")


def parse_time(text: str, tz: tzinfo = UTC) -> float:
    """Epoch seconds of ``text`` (see the module docstring); a ValueError saying what is
    accepted.

    >>> [parse_time(t) for t in ("1000000000", "2001-09-09T01:46:40", "20010909T034640+02:00")]
    [1000000000.0, 1000000000.0, 1000000000.0]
    >>> [datetime.fromtimestamp(parse_time(t), UTC).date().isoformat()
    ...  for t in ("2024 Mar", "2024 Q2", "2024-03", "2024 W01", "20240131", "202401")]
    ['2024-03-01', '2024-04-01', '2024-03-01', '2024-01-01', '2024-01-31', '2024-01-01']
    >>> from datetime import timedelta, timezone
    >>> new_york = timezone(timedelta(hours=-5))
    >>> [parse_time(t, new_york) - parse_time(t) for t in ("2024-07-04 10:00", "2024-07", "1e9")]
    [18000.0, 18000.0, 0.0]
    """
    s = text.strip()
    if s.isdigit() and len(s) in (6, 8):  # 20240131, 202401: a date written as digits
        try:
            day = datetime.strptime(s, "%Y%m%d" if len(s) == 8 else "%Y%m")
        except ValueError:
            pass
        else:
            if 1970 <= day.year < 2100:
                return day.replace(tzinfo=tz).timestamp()
    try:
        ts = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(ts) or not MIN_SECONDS <= ts < MAX_TS:
            hint = ("milliseconds? divide by 1000" if ts >= MAX_TS else
                    "an Excel serial date? give --time-format excel" if 25_569 <= ts < 73_051
                    else f"a date or period written as a number? {_HINT}")
            raise ValueError(f"time {text!r} is not epoch seconds from 1973 to 2100 ({hint})")
        return ts
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        return _within(_period(s, text, tz), text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return _within(when.timestamp(), text)


def parse_week(text: str, tz: tzinfo = UTC) -> float:
    """:func:`parse_time` for a column of weeks: ``202402`` is ISO week 2 of 2024 (its
    Monday), not February (``--bucket week`` files number their weeks so).

    >>> datetime.fromtimestamp(parse_week("202402"), UTC).date().isoformat()
    '2024-01-08'
    >>> parse_week("2024-01-15") == parse_time("2024-01-15")
    True
    """
    s = text.strip()
    if s.isdigit() and len(s) == 6 and (
            monday := _iso_monday(int(s[:4]), int(s[4:]), tz)) is not None:
        return _within(monday, text)
    return parse_time(text, tz)


def _iso_monday(year: int, week: int, tz: tzinfo = UTC) -> float | None:
    """The first second of ISO week ``week`` of ``year`` (week 53 only in the years that have
    one; ``None``: no such week)."""
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    return datetime.combine(monday, datetime.min.time(), tz).timestamp()


def _within(ts: float, text: str) -> float:
    """``ts``, unless it is before 1970 or from 2100 on (a mistyped year: one such row made a
    panel of 66,474 daily buckets)."""
    if not 0 <= ts < MAX_TS:
        raise ValueError(f"time {text!r} is before 1970 or after 2099: a mistyped year?")
    return ts


def strptime_utc(text: str, time_format: str, tz: tzinfo = UTC) -> float:
    """``text`` read with ``time_format``: epoch seconds (on ``tz``, UTC by default, unless the
    format has a zone).

    A week number without a weekday (``%Y%W``, ``%G%V``) is the week's Monday: strptime
    ignores the week then, and put every row on January 1st.

    ``excel`` reads Excel's serial dates (days since 1899-12-30).

    >>> strptime_utc("12/1/2009 7:45", "%m/%d/%Y %H:%M"), strptime_utc("40148.5", "excel")
    (1259653500.0, 1259668800.0)
    >>> [datetime.fromtimestamp(strptime_utc(t, f), UTC).date().isoformat()
    ...  for t, f in (("202402", "%Y%W"), ("2024-W02", "%G-W%V"))]
    ['2024-01-08', '2024-01-08']
    """
    s, fmt = text.strip(), time_format
    if fmt.lower() == "excel":  # days since 1899-12-30, a fraction for the time of day
        try:
            days = float(s)
        except ValueError:
            raise ValueError(f"time {text!r} is not an Excel serial date (days since "
                             f"1899-12-30)") from None
        local = (tz.utcoffset(None) or timedelta()).total_seconds()  # the clock's offset
        return _within(round((days - 25_569) * 86_400 - local, 3) if math.isfinite(days)
                       else -1.0, text)
    if _WEEK.search(fmt) and not _WEEKDAY.search(fmt):
        s, fmt = f"{s} 1", f"{fmt} %u"
    try:
        when = datetime.strptime(s, fmt)
    except ValueError:
        raise ValueError(f"time {text!r} does not match --time-format {time_format!r}") from None
    return _within((when if when.tzinfo else when.replace(tzinfo=tz)).timestamp(), text)


def _period(s: str, text: str, tz: tzinfo = UTC) -> float:
    """``2024 Q1``, ``2024 W09``, ``2024 Mar``, ``2024-03``: the period's first second."""
    m = _PERIOD.fullmatch(s)
    month = None
    if m:
        year = int(m[1])
        if m[2]:
            month = 3 * int(m[3]) - 2 if 1 <= int(m[3]) <= 4 else None
        elif m[4]:
            if (monday := _iso_monday(year, int(m[5]), tz)) is not None:
                return monday
        elif m[6]:
            month = _MONTHS.get(m[6].lower())
        elif 1 <= int(m[7]) <= 12:
            month = int(m[7])
    if month is None:
        raise ValueError(f"time {text!r} is not epoch seconds, an ISO date or date-time, "
                         f"YYYY-MM, 'YYYY Mon', 'YYYY Qn' or 'YYYY Wnn': {_HINT}")
    return datetime(year, month, 1, tzinfo=tz).timestamp()
