"""The season length of a bucket width: how many buckets make the cycle the models learn.

Sales repeat by the day (hours of the day), the week (days of the week) and the year (weeks or
months of the year). The worker's members (seasonal naive, Holt-Winters) take one season, in
buckets; :func:`season_for` picks the natural cycle for ``SALESCAST_BUCKET_SECONDS``:

============================  ===================  =====================================
bucket width                  season (buckets)     the cycle
============================  ===================  =====================================
divides a day, <= 288 a day   buckets per day      the day (hourly: 24, 15 min: 96)
divides an hour, finer        buckets per hour     the hour (1 min: 60)
a day                         7                    the week
a week                        52                   the year
2 to 6 days, 2 to 4 weeks     buckets per year     the year, when at most MAX_SEASON
anything else                 2                    none to speak of (the smallest season)
============================  ===================  =====================================

Buckets that divide a day also get a second, weekly season (:func:`season2_for`, hourly: 168)
where it fits in MAX_SEASON; buckets of more than a day a member that follows a trend
(:func:`trend_for`).

>>> [season_for(w) for w in (3600, 900, 60, 86400, 604800, 2 * 604800)]
[24, 96, 60, 7, 52, 26]
>>> season_for(7 * 3600)  # divides neither a day nor an hour, under a day: no season
2
"""

from __future__ import annotations

__all__ = ["season_for", "season2_for", "trend_for", "window_for", "MAX_SEASON", "MAX_WINDOW"]

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
YEAR = 365.25 * DAY
#: the longest season a row keeps (each member keeps a value per slot of it)
MAX_SEASON = 288
#: the longest middle window of the rolling medians (the longest median keeps twice as many)
MAX_WINDOW = 208


def season_for(width: int) -> int:
    """The season, in buckets, of buckets ``width`` seconds wide (see the module docstring)."""
    if width <= 0:
        raise ValueError(f"width must be > 0 seconds, got {width!r}")
    if width < DAY and DAY % width == 0 and DAY // width <= MAX_SEASON:
        return DAY // width
    if width < HOUR and HOUR % width == 0:
        return max(HOUR // width, 2)
    if width == DAY:
        return 7
    if width == WEEK:
        return 52
    per_year = round(YEAR / width)
    if width > DAY and 2 <= per_year <= MAX_SEASON:
        return per_year
    return 2


def season2_for(width: int) -> int:
    """The second, weekly season of buckets that divide a day: seven days' buckets when that
    is at most :data:`MAX_SEASON` (hourly: 168, two-hourly: 84); else 0, no second season.
    The worker's bank then adds a seasonal naive and a seasonal median over it, beside the
    daily season's members (:class:`~models.bank_members.MemberBank`), so that the days of
    the week can differ while a new series still starts from its daily cycle.

    >>> [season2_for(w) for w in (3600, 7200, 1800, 86400, 7 * 3600)]
    [168, 84, 0, 0, 0]
    """
    daily = season_for(width)
    if width < DAY and daily == DAY // width and 7 * daily <= MAX_SEASON:
        return 7 * daily
    return 0


def trend_for(width: int) -> bool:
    """Whether buckets ``width`` seconds wide get the damped-trend member
    (:mod:`models.bank_trend`): buckets of more than a day, whose season is the year (weeks,
    months, quarters). Over a few weeks of daily or hourly buckets, trend is noise beside the
    level and the season; it made both daily tuning panels worse (docs/backtest.md).

    >>> [trend_for(w) for w in (3600, 86400, 7 * 86400, 2629800, 7889400)]
    [False, False, True, True, True]
    """
    return width > DAY


def window_for(season: int) -> int:
    """The rolling medians' middle window for ``season``: four seasons (the medians span 2, 4
    and 8 seasons), at most :data:`MAX_WINDOW` buckets. Daily buckets get 28 days, as the
    tuning panels chose; quarters get 16 and months 48, so that every median spans whole
    years instead of a fixed number of buckets.

    >>> [window_for(s) for s in (7, 4, 12, 24, 52, 96)]
    [28, 16, 48, 96, 208, 208]
    """
    if type(season) is not int or season < 1:
        raise ValueError(f"season must be an integer >= 1, got {season!r}")
    return min(4 * season, MAX_WINDOW)
