"""The damped-trend Holt-Winters member (models/bank_trend.py): its recurrences, rows that
persist, rows saved before it, and where the worker uses it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from models import bank_trend
from models.bank import ForecasterBank
from models.bank_load import load_rows
from models.bank_mean import MEAN_DECAY
from models.bank_members import MemberBank
from models.bank_trend import BETA, PHI, trend_path
from models.factory import DROP_RATIO, MEDIAN_SHARE
from models.grid import MONTH
from models.online import HoltWintersLog1p
from stream.resident import Resident

SEASON, H = 4, 6


def _reference(values: list[float], h: int, alpha: float = 0.2, gamma: float = 0.1,
               ) -> list[float]:
    """The member's forecast after ``values``, one value at a time, in plain floats."""
    level = trend = total = 0.0
    seasonal = [0.0] * SEASON
    for n, y in enumerate(values):
        z = math.log1p(y) if y > 0 else 0.0
        slot = n % SEASON
        if n < SEASON:
            total += z
            level = total / (n + 1)
            seasonal[n] = z
            if n + 1 == SEASON:
                seasonal = [s - level for s in seasonal]
            continue
        g = max(gamma, 1.0 / (n // SEASON + 1))
        s_i, l0, b0 = seasonal[slot], level, trend
        level = alpha * (z - s_i) + (1 - alpha) * (l0 + PHI * b0)
        trend = BETA * (level - l0) + (1 - BETA) * PHI * b0
        seasonal[slot] = g * (z - l0 - PHI * b0) + (1 - g) * s_i
    n, out, damp = len(values), [], 0.0
    for k in range(1, h + 1):
        damp += PHI ** k
        s = seasonal[(n + k - 1) % SEASON] if n >= SEASON else 0.0
        z = level + damp * trend + s
        out.append(0.0 if n == 0 or z <= 0 else math.expm1(min(z, math.log1p(1e12))))
    return out


def test_the_trend_member_is_the_per_object_damped_holt_winters() -> None:
    """The per-object ``HoltWintersLog1p(season, beta, phi)`` (models/online.py) is its twin:
    a model of its own, not a copy of the bank's code (the sum of the damping factors is
    formed in another order: equal within 1e-12)."""
    rng = np.random.default_rng(8)
    for season, h in ((4, 6), (12, 12), (7, 14)):
        bank = MemberBank(season, (3,), h, cycles=0, trend=True)
        row = bank.add(1)
        twin = HoltWintersLog1p(season, beta=BETA, phi=PHI)
        for t in range(80):
            np.testing.assert_allclose(bank.paths(row, np.array([t]))[0, -1], twin.forecast(h),
                                       rtol=1e-12, atol=1e-12, err_msg=f"season {season}, {t}")
            y = float(rng.poisson(5 + 0.5 * t)) if t % 9 else 0.0
            bank.learn(row, np.array([y]), np.array([t]))
            twin.learn_one(y)


@pytest.mark.parametrize(("cycles", "season2", "trend"),
                         list(itertools.product((0, 8), (0, 30), (False, True))))
def test_each_members_column_is_the_member_its_name_says(cycles: int, season2: int,
                                                         trend: bool) -> None:
    """For every combination of the optional members, path column i is ``member_names[i]``
    (each checked against that member computed on its own)."""
    bank = ForecasterBank(12, 12, cycles=cycles, season2=season2, trend=trend)
    m, rows = bank.members, bank.add_rows(4)
    lag = np.array([0, 5, 20, 50])  # rows of different ages, both sides of both seasons
    data = np.random.default_rng(2).poisson(20 + np.arange(80) * 0.8, (4, 80)).astype(float)
    for t in range(80):
        live = t >= lag
        bank.learn(rows[live], data[live, t - lag[live]])
    n = bank.n[rows]
    paths = m.paths(rows, n)
    assert paths.shape[1] == m.n_members == len(bank.member_names) == len(m.share)
    at = (rows * 12)[:, None] + m._cycle[n % 12]
    naive = m.naive.reshape(-1)[at]
    alone = {"seasonal_naive": naive, "holt_winters_log1p": None,
             **{name: np.repeat(m._median(rows, i, n)[:, None], 12, 1) for i, name in
                enumerate(bank.member_names[1:4])}}
    if cycles:
        alone["seasonal_median"] = m._seasonal_median(rows, n, at)
    if season2:
        slot = (n[:, None] + np.arange(12)) % season2
        alone[f"seasonal_naive_{season2}"] = np.where((n >= season2)[:, None],
                                                      m.naive2[rows[:, None], slot], naive)
        q = m.smed2_q[rows[:, None], slot]
        alone[f"seasonal_median_{season2}"] = np.where(
            np.isnan(q), alone["seasonal_median"] if cycles else naive, q)
    if trend:
        alone["holt_winters_damped"] = trend_path(m, rows, n, at)
    assert set(alone) == set(bank.member_names)
    for i, name in enumerate(bank.member_names):
        if alone[name] is not None:
            np.testing.assert_array_equal(paths[:, i], alone[name], err_msg=name)


def test_the_trend_member_follows_its_recurrences_row_by_row() -> None:
    rng = np.random.default_rng(4)
    bank = MemberBank(SEASON, (3,), H, cycles=2, trend=True)
    rows = bank.add(3)
    history: list[list[float]] = [[], [], []]
    for n in range(50):
        lag = np.array([0, 1, 2])  # rows of different ages in one batch
        live = n >= lag
        paths = bank.paths(rows[live], np.array([len(history[i]) for i in np.flatnonzero(live)]))
        for j, i in enumerate(np.flatnonzero(live)):
            np.testing.assert_allclose(paths[j, -1], _reference(history[i], H), rtol=1e-12,
                                       atol=1e-12, err_msg=f"row {i} after {len(history[i])}")
        y = rng.poisson(5.0 + 0.3 * n, 3).astype(np.float64)[live]
        bank.learn(rows[live], y, np.array([len(history[i]) for i in np.flatnonzero(live)]))
        for j, i in enumerate(np.flatnonzero(live)):
            history[i].append(float(y[j]))


def _growing(rows: int, n: int, seed: int = 1) -> np.ndarray:
    """Monthly sales that grow 2% a month, with a yearly season and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 50 * 1.02 ** t * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    return rng.poisson(level, (rows, n)).astype(np.float64)


def test_on_growing_monthly_sales_the_ensemble_leans_on_the_trend() -> None:
    data = _growing(6, 120)
    errors = {}
    for trend in (False, True):
        bank = ForecasterBank(horizon=12, season=12, trend=trend)
        rows = bank.add_rows(len(data))
        err = 0.0
        for t in range(data.shape[1]):
            if t >= 72 and t % 6 == 0 and t + 12 <= data.shape[1]:
                err += float(np.abs(bank.forecast(rows, 12).yhat - data[:, t:t + 12]).sum())
            bank.learn(rows, data[:, t])
        errors[trend] = err
    assert errors[True] < 0.8 * errors[False], errors


def test_rows_with_the_trend_member_persist_and_continue_exactly() -> None:
    data = _growing(4, 60)
    a = ForecasterBank(horizon=12, season=12, trend=True)
    rows = a.add_rows(len(data))
    for t in range(50):
        a.learn(rows, data[:, t])
    b, c = ForecasterBank(12, 12, trend=True), ForecasterBank(12, 12, trend=True)
    at, bt = b.add_rows(len(rows)), c.add_rows(len(rows))
    for r, x in zip(rows.tolist(), at.tolist(), strict=True):
        b.load_row(x, a.export_row(r))
    load_rows(c, bt.tolist(), a.export_rows(rows))
    for t in range(50, 60):
        for bank, rs in ((a, rows), (b, at), (c, bt)):
            bank.learn(rs, data[:, t])
    assert a.export_rows(rows) == b.export_rows(at) == c.export_rows(bt)
    np.testing.assert_array_equal(b.forecast(at, 12).hi95, a.forecast(rows, 12).hi95)


@pytest.mark.parametrize("cycles", [8, 0])  # 0: two layouts back, before the seasonal median
def test_a_monthly_row_saved_before_the_trend_member_loads_and_learns_on(cycles: int) -> None:
    data = _growing(3, 40)
    old, new = ForecasterBank(12, 12, cycles=cycles), ForecasterBank(12, 12, trend=True)
    rows = old.add_rows(3)
    for t in range(35):
        old.learn(rows, data[:, t])
    at = new.add_rows(3)
    for r, x in zip(rows.tolist(), at.tolist(), strict=True):
        new.load_row(x, old.export_row(r))
    assert new.member_names[-1] == "holt_winters_damped"
    hw = old.member_names.index("holt_winters_log1p")
    paths = new.members.paths(at, new.n[at])
    np.testing.assert_array_equal(paths[:, -1], paths[:, hw])  # no trend yet
    # Holt-Winters' record: its errors, pending forecasts and so its weights
    np.testing.assert_array_equal(new.errors[at, -1], new.errors[at, hw])
    np.testing.assert_array_equal(new.due[at][..., -1], new.due[at][..., hw])
    share = new.members.share[-1] / new.members.share[hw]  # equal errors: weights by share
    np.testing.assert_allclose(new.weights[at, -1] / new.weights[at, hw], share, rtol=1e-12)
    for t in range(35, 40):
        new.learn(at, data[:, t])
    assert np.isfinite(new.forecast(at, 12).yhat).all()
    size = len(new.export_row(int(at[0])))
    with pytest.raises(ValueError, match=f"raw must be a row of this bank \\({size} bytes\\)"):
        new.load_row(int(at[0]), b"\x00" * 10)


def test_the_worker_gives_buckets_of_more_than_a_day_the_trend_member() -> None:
    assert Resident(horizon=12, lstm=False, width=MONTH).bank.members.trend
    assert Resident(horizon=14, lstm=False, width=7 * 86400).bank.members.trend
    daily = Resident(horizon=14, lstm=False, width=86400).bank
    assert not daily.members.trend and "holt_winters_damped" not in daily.member_names


def test_a_bank_with_the_trend_member_weighs_and_corrects_as_bank_trend_says() -> None:
    coarse, daily = ForecasterBank(12, 12, trend=True), ForecasterBank(14, 7)
    share = dict(zip(coarse.member_names, coarse.members.share.tolist(), strict=True))
    median, top = bank_trend.SHARES
    assert share["holt_winters_damped"] == top and share["holt_winters_log1p"] == 1.0
    assert {share[n] for n in share if "median" in n} == {median}
    assert (coarse.drop, coarse.means.decay) == (bank_trend.DROP, bank_trend.MEAN_DECAY)
    assert (daily.drop, daily.means.decay) == (DROP_RATIO, MEAN_DECAY)
    assert {s for n, s in zip(daily.member_names, daily.members.share.tolist(), strict=True)
            if "median" in n} == {MEDIAN_SHARE}


def test_a_member_clearly_worse_than_the_best_gets_no_weight() -> None:
    bank = ForecasterBank(12, 12, trend=True)
    rows = bank.add_rows(1)
    for y in _growing(1, 60)[0]:
        bank.learn(rows, np.array([y]))
    e, w = bank.errors[0], bank.weights[0]  # (member, horizon)
    out = e > bank_trend.DROP * e.min(axis=0)
    assert out.any() and (~out).sum(axis=0).min() >= 1
    assert (w[out] == 0).all() and (w[~out] > 0).all()
