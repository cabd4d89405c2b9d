"""The bucket grid: fixed widths keep their arithmetic; months and quarters follow the UTC
calendar (models/grid.py)."""

from __future__ import annotations

import calendar
import random
import time

import pytest

from config.calendar import CALENDAR_WIDTHS
from models import grid
from models.grid import MONTH, QUARTER
from models.seasons import season_for, window_for


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, *([0] * (6 - len(fields)))))


def test_the_calendar_widths_are_the_settings_names() -> None:
    assert CALENDAR_WIDTHS == {"month": MONTH, "quarter": QUARTER}
    assert all(grid.is_calendar(w) for w in CALENDAR_WIDTHS.values())


def test_months_and_quarters_have_the_seasons_of_a_year() -> None:
    assert (season_for(MONTH), season_for(QUARTER)) == (12, 4)
    assert (window_for(12), window_for(4)) == (48, 16)


@pytest.mark.parametrize("width", [60, 3600, 86400, 2 * 7 * 86400, 2_000_000])
def test_fixed_widths_are_plain_arithmetic(width: int) -> None:
    rng = random.Random(width)
    for _ in range(200):
        ts = rng.uniform(946_684_800, 4_102_444_800)
        s = int(ts // width) * width
        assert grid.start(ts, width) == s
        k = rng.randint(-50, 50)
        assert grid.shift(s, k, width) == s + k * width
        assert grid.end(s, width) == s + width
        assert grid.steps(s, s + k * width, width) == k
        assert grid.position(s, s + k * width, width) == k
        assert grid.position(s, s + k * width + 1, width) is None
    assert grid.starts(0, 3 * width, width) == [0, width, 2 * width]


def test_months_start_on_the_first_at_midnight_utc() -> None:
    assert grid.start(utc(2024, 2, 29, 23, 59, 59), MONTH) == utc(2024, 2, 1)
    assert grid.start(utc(2024, 3, 1), MONTH) == utc(2024, 3, 1)  # a start is its own bucket
    assert grid.start(utc(2024, 3, 1) - 0.001, MONTH) == utc(2024, 2, 1)
    assert grid.end(utc(2023, 2, 1), MONTH) - utc(2023, 2, 1) == 28 * 86400
    assert grid.end(utc(2024, 2, 1), MONTH) - utc(2024, 2, 1) == 29 * 86400  # leap year
    assert grid.end(utc(2024, 12, 1), MONTH) == utc(2025, 1, 1)
    assert grid.shift(utc(2024, 1, 1), -1, MONTH) == utc(2023, 12, 1)
    assert grid.shift(utc(2024, 1, 1), 25, MONTH) == utc(2026, 2, 1)
    assert grid.steps(utc(2023, 11, 1), utc(2024, 2, 1), MONTH) == 3
    assert grid.position(utc(2023, 11, 1), utc(2024, 2, 1), MONTH) == 3
    assert grid.position(utc(2023, 11, 1), utc(2024, 2, 2), MONTH) is None


def test_quarters_start_in_january_april_july_october() -> None:
    starts = grid.starts(utc(2023, 1, 1), utc(2024, 1, 1), QUARTER)
    assert starts == [utc(2023, 1, 1), utc(2023, 4, 1), utc(2023, 7, 1), utc(2023, 10, 1)]
    assert grid.start(utc(2023, 6, 30, 12), QUARTER) == utc(2023, 4, 1)
    assert grid.shift(utc(2023, 10, 1), 1, QUARTER) == utc(2024, 1, 1)
    assert grid.steps(utc(2020, 1, 1), utc(2023, 7, 1), QUARTER) == 14


def test_calendar_shifts_walk_every_month_of_a_century() -> None:
    s = utc(2000, 1, 1)
    for k in range(1, 1200):
        nxt = grid.end(s, MONTH)
        assert grid.start(nxt - 1, MONTH) == s and grid.start(nxt, MONTH) == nxt
        assert 28 * 86400 <= nxt - s <= 31 * 86400
        assert grid.shift(utc(2000, 1, 1), k, MONTH) == nxt
        s = nxt


def test_weeks_start_on_mondays() -> None:
    """ISO weeks: Monday 00:00 UTC to the next Monday (from the epoch, weeks began on
    Thursdays, and a Monday-to-Sunday week of daily sales fell into two buckets)."""
    rng = random.Random(7)
    assert grid.is_plain(86400) and not grid.is_plain(grid.WEEK)
    for _ in range(200):
        ts = rng.uniform(946_684_800, 4_102_444_800)
        s = grid.start(ts, grid.WEEK)
        assert time.gmtime(s).tm_wday == 0 and s % 86400 == 0 and s <= ts < s + grid.WEEK
        assert grid.shift(s, 3, grid.WEEK) == s + 3 * grid.WEEK == grid.starts(
            s, s + 4 * grid.WEEK, grid.WEEK)[-1]
        assert grid.steps(s, grid.start(ts + 5 * grid.WEEK, grid.WEEK), grid.WEEK) == 5
