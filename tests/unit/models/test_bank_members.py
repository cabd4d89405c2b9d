"""The second, weekly season of sub-daily buckets: its two members, rows that persist, rows
saved before it, and what it is for (days of the week that differ, hour by hour)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.bank_load import load_rows
from models.bank_members import PATH_CAP, MemberBank
from stream.resident import Resident

SEASON, SEASON2, CYCLES2, H = 4, 12, 3, 6


def _reference(history: list[float], j: int, daily_naive: float, daily_median: float,
               ) -> tuple[float, float]:
    """The second season's naive and median of the value ``j`` steps after ``history``,
    from the history alone (slot by slot, no arrays)."""
    n = len(history)
    same = [history[t] for t in range(n) if (t - (n + j)) % SEASON2 == 0]
    naive = same[-1] if n >= SEASON2 else daily_naive
    last = sorted(same[-CYCLES2:])
    if not last:
        return naive, daily_median
    mid = len(last) // 2
    return naive, last[mid] if len(last) % 2 else (last[mid - 1] + last[mid]) / 2


def test_the_second_season_members_equal_their_slot_by_slot_definition(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("models.bank_members.PATH_CAP", math.inf)  # a window of 3 values
    rng = np.random.default_rng(5)
    bank = MemberBank(SEASON, (3,), H, season2=SEASON2, cycles2=CYCLES2)
    rows = bank.add(3)
    history: list[list[float]] = [[], [], []]
    for n in range(60):
        paths = bank.paths(rows, np.full(3, n))
        for i in range(3):
            for j in range(H):
                naive, median = _reference(history[i], j, paths[i, 0, j], paths[i, 3, j])
                assert paths[i, -2, j] == naive, (n, i, j)
                assert paths[i, -1, j] == median, (n, i, j)
        y = rng.poisson(3.0, 3) * (rng.random(3) < 0.7)
        bank.learn(rows, y.astype(np.float64), np.full(3, n))
        for i in range(3):
            history[i].append(float(y[i]))


def test_a_second_season_must_be_longer_than_the_first() -> None:
    for bad in (SEASON, 1, -1, 2.5):
        with pytest.raises(ValueError, match="season2 must be 0"):
            MemberBank(SEASON, season2=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cycles2"):
        MemberBank(SEASON, season2=SEASON2, cycles2=0)


def _hourly(weeks: int, rows: int = 4, seed: int = 2) -> np.ndarray:
    """Hourly sales that differ by the day of the week: shop hours 8-18, nothing on
    Saturdays, a busy Monday."""
    rng = np.random.default_rng(seed)
    hours = np.arange(weeks * 168)
    day, hour = (hours // 24) % 7, hours % 24
    level = np.where((hour >= 8) & (hour < 18), 6.0, 0.0) * np.where(day == 5, 0.0, 1.0)
    level = level * np.where(day == 0, 2.0, 1.0)
    return rng.poisson(level, (rows, len(hours))).astype(np.float64)


def _hourly_bank(season2: int) -> ForecasterBank:
    return ForecasterBank(horizon=24, season=24, season2=season2)


def test_rows_with_a_second_season_persist_and_continue_exactly() -> None:
    data = _hourly(3)
    a = _hourly_bank(168)
    rows = a.add_rows(len(data))
    for t in range(data.shape[1] - 30):
        a.learn(rows, data[:, t])
    b, c = _hourly_bank(168), _hourly_bank(168)
    at, bt = b.add_rows(len(rows)), c.add_rows(len(rows))
    for r, x in zip(rows.tolist(), at.tolist(), strict=True):
        b.load_row(x, a.export_row(r))
    load_rows(c, bt.tolist(), a.export_rows(rows))
    for t in range(data.shape[1] - 30, data.shape[1]):
        for bank, rs in ((a, rows), (b, at), (c, bt)):
            bank.learn(rs, data[:, t])
    want = a.forecast(rows, 24)
    for got in (b.forecast(at, 24), c.forecast(bt, 24)):
        np.testing.assert_array_equal(got.yhat, want.yhat)
        np.testing.assert_array_equal(got.hi95, want.hi95)
    assert b.export_rows(at) == a.export_rows(rows) == c.export_rows(bt)


def test_the_second_season_learns_the_days_of_the_week() -> None:
    """Four weeks in, the second season's members forecast Saturday and Monday as what they
    are (the daily season's, as the day before), and the ensemble's error falls (by a
    quarter here; the weights are per horizon, not per day of the week, so it does not fall
    by the whole of what those two days cost)."""
    data = _hourly(5)
    errors = {}
    for season2 in (0, 168):
        bank = _hourly_bank(season2)
        rows = bank.add_rows(len(data))
        err = 0.0
        for t in range(data.shape[1]):
            if t >= 4 * 168 and t % 24 == 0:  # each midnight of the fifth week: its next day
                err += float(np.abs(bank.forecast(rows, 24).yhat - data[:, t:t + 24]).sum())
            bank.learn(rows, data[:, t])
        errors[season2] = err
    assert errors[168] < 0.85 * errors[0], errors


def test_an_hourly_row_saved_before_the_second_season_loads_and_learns_on() -> None:
    data = _hourly(2)
    old, new = _hourly_bank(0), _hourly_bank(168)
    rows = old.add_rows(len(data))
    for t in range(data.shape[1] - 5):  # not a whole number of days
        old.learn(rows, data[:, t])
    at = new.add_rows(len(rows))
    for r, x in zip(rows.tolist(), at.tolist(), strict=True):
        new.load_row(x, old.export_row(r))
    assert new.member_names == [*old.member_names, "seasonal_naive_168", "seasonal_median_168"]
    was, now = old.forecast(rows, 24), new.forecast(at, 24)
    np.testing.assert_array_equal(now.hi, was.hi)  # bands, detector, means carried over
    paths = new.members.paths(at, new.n[at])
    # the second season's naive repeats the last day; its median says the daily median
    np.testing.assert_array_equal(paths[:, -2], paths[:, 0])
    np.testing.assert_array_equal(paths[:, -1], paths[:, 5])
    np.testing.assert_array_equal(new.errors[at, -2:], new.errors[at][:, [0, 5]])
    for t in range(data.shape[1] - 5, data.shape[1]):
        new.learn(at, data[:, t])
    assert np.isfinite(new.forecast(at, 24).yhat).all()
    size = len(new.export_row(int(at[0])))
    with pytest.raises(ValueError, match=f"raw must be a row of this bank \\({size} bytes\\)"):
        new.load_row(int(at[0]), b"\x00" * 10)


def test_an_hourly_row_from_before_the_seasonal_median_upgrades_through_both_layouts() -> None:
    data = _hourly(2, rows=2)
    oldest = ForecasterBank(horizon=24, season=24, cycles=0)
    middle, new = _hourly_bank(0), _hourly_bank(168)
    rows = oldest.add_rows(2)
    for t in range(data.shape[1] - 7):
        oldest.learn(rows, data[:, t])
    mid, at = middle.add_rows(2), new.add_rows(2)
    for r, m, x in zip(rows.tolist(), mid.tolist(), at.tolist(), strict=True):
        middle.load_row(m, oldest.export_row(r))  # one step by hand
        new.load_row(x, oldest.export_row(r))  # both steps, chained
    step = _hourly_bank(168)
    by_hand = step.add_rows(2)
    for m, x in zip(mid.tolist(), by_hand.tolist(), strict=True):
        step.load_row(x, middle.export_row(m))
    assert new.export_rows(at) == step.export_rows(by_hand)
    for t in range(data.shape[1] - 7, data.shape[1]):
        new.learn(at, data[:, t])
    assert np.isfinite(new.forecast(at, 24).yhat).all()


def test_the_worker_gives_hourly_buckets_a_weekly_second_season() -> None:
    assert Resident(horizon=14, lstm=False, width=3600).bank.members.season2 == 168
    daily = Resident(horizon=14, lstm=False, width=86400).bank
    assert daily.members.season2 == 0 and "seasonal_naive_168" not in daily.member_names


def test_no_path_goes_above_the_cap_after_a_launch() -> None:
    """A monthly series that starts with zeros and then sells 1,000 a month: Holt-Winters'
    seasonal start made both Holt-Winters members forecast 1e5 and 2e6 (the damped trend,
    with its share of 4, then was the ensemble's forecast). No path now passes PATH_CAP times
    the largest value of the longest window, and where the window is all zeros nothing caps."""
    from models.bank import ForecasterBank

    bank = ForecasterBank(14, 12, trend=True)
    rows = bank.add_rows(2)
    worst = 0.0
    for y in [0.0] * 5 + [1000.0] * 40:
        bank.learn(rows, np.array([y, 0.0]))
        paths = bank.members.paths(rows, bank.n[rows])
        assert paths.max() <= PATH_CAP * 1000.0 and (paths[1] == 0.0).all()
        worst = max(worst, float(bank.forecast(rows, 14).yhat[0].max()))
    assert worst == PATH_CAP * 1000.0  # the cap did bind


def test_without_the_cap_that_launch_forecasts_thousands_of_times_the_sales(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from models.bank import ForecasterBank

    monkeypatch.setattr("models.bank_members.PATH_CAP", math.inf)
    bank = ForecasterBank(14, 12, trend=True)
    rows = bank.add_rows(1)
    for y in [0.0] * 5 + [1000.0] * 12:
        bank.learn(rows, np.array([y]))
    assert bank.forecast(rows, 14).yhat.max() > 1e5
