"""The bank's mean forecast (models/bank_mean.py): the point forecast plus its own recent bias,
so that its sum over a lead time is unbiased where the median-like point forecast is not."""

from __future__ import annotations

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.bank_mean import MeanBank


def _lumpy(n: int, seed: int) -> np.ndarray:
    """Daily sales of a wholesale SKU: most days a few units, some days a large order."""
    rng = np.random.default_rng(seed)
    base = rng.poisson(3.0, n) * (rng.random(n) < 0.6)
    orders = rng.random(n) < 0.08
    return (base + orders * rng.integers(20, 200, n)).astype(np.float64)


def test_the_mean_forecast_is_unbiased_where_the_point_forecast_is_not() -> None:
    ys = np.stack([_lumpy(700, s) for s in range(40)])
    bank = ForecasterBank(horizon=7)
    rows = bank.add_rows(len(ys))
    err_point, err_mean, actual = np.zeros(7), np.zeros(7), 0.0
    for t in range(ys.shape[1]):
        if 200 <= t <= ys.shape[1] - 7:  # after a warm-up: score the next 7 days
            f = bank.forecast(rows, 7)
            assert f.mean is not None and (f.mean >= 0).all()
            future = ys[:, t:t + 7]
            err_point += (f.yhat - future).sum(axis=0)
            err_mean += (f.mean - future).sum(axis=0)
            actual += future.sum() / 7
        bank.learn(rows, ys[:, t])
    point, mean = err_point / actual, err_mean / actual  # bias per horizon, share of demand
    assert (point < -0.3).all()  # the weighted median sits far below the mean
    assert np.abs(mean).max() < 0.05


def test_the_lead_time_total_falls_between_its_p10_and_p90_about_80_percent_of_the_time() -> None:
    ys = np.stack([_lumpy(900, 100 + s) for s in range(40)])
    bank = ForecasterBank(horizon=14)
    rows = bank.add_rows(len(ys))
    low = high = n = 0
    for t in range(ys.shape[1]):
        f = bank.forecast(rows, 14)
        assert f.lead is not None and f.mean is not None
        np.testing.assert_allclose(f.lead[:, 0], f.mean.sum(axis=1))
        if t < 14 + bank.means.min_n:  # fewer than min_n totals scored: no quantiles yet
            assert np.isnan(f.lead[:, 1:]).all()
        elif t >= 400 and t + 14 <= ys.shape[1]:
            total = ys[:, t:t + 14].sum(axis=1)
            assert (f.lead[:, 1] <= f.lead[:, 0] + 1e-9).all()
            assert (f.lead[:, 0] <= f.lead[:, 2] + 1e-9).all()
            low += int((total < f.lead[:, 1]).sum())
            high += int((total > f.lead[:, 2]).sum())
            n += len(rows)
        bank.learn(rows, ys[:, t])
    assert bank.forecast(rows, 7).lead is None  # a shorter horizon has no lead-time total
    assert 0.06 < low / n < 0.14 and 0.06 < high / n < 0.14


def test_the_bias_survives_export_and_a_row_saved_before_it_loads_without_one() -> None:
    bank = ForecasterBank()
    rows = bank.add_rows(3)
    for y in _lumpy(120, 1):
        bank.learn(rows, np.array([y, y, y]))
    raw = bank.export_row(0)
    bank.load_row(1, raw)
    before = bank.forecast([0, 1], 14)
    assert before.mean is not None
    np.testing.assert_array_equal(before.mean[0], before.mean[1])
    np.testing.assert_array_equal(before.lead[0], before.lead[1])  # type: ignore[index]
    assert np.abs(bank.means.bias[0]).sum() > 0
    bank.load_row(2, raw[:-bank.means.nbytes()])  # a row from before the mean
    after = bank.forecast([0, 2], 14)
    assert after.mean is not None
    np.testing.assert_array_equal(after.yhat[0], after.yhat[1])
    np.testing.assert_array_equal(after.mean[1], after.yhat[1])  # no bias learnt yet


def test_a_bad_decay_is_refused() -> None:
    with pytest.raises(ValueError, match="decay must be in"):
        MeanBank(decay=1.0)


def test_the_kept_lead_quantiles_equal_fresh_ones_through_learning_and_loads() -> None:
    from models.bank_load import load_rows

    ys = np.stack([_lumpy(200, 300 + s) for s in range(6)])
    bank = ForecasterBank(horizon=14)
    rows = bank.add_rows(len(ys))
    for t in range(ys.shape[1]):
        bank.learn(rows, ys[:, t])
        kept = bank.forecast(rows, 14).lead
        bank.means.ranked_ok[:] = False  # forget them: ranked again from the windows
        fresh = bank.forecast(rows, 14).lead
        np.testing.assert_array_equal(kept, fresh)
    assert not np.isnan(fresh).any()  # type: ignore[arg-type]
    # rows whose kept quantiles are of other windows take the loaded row's
    raw = bank.export_row(0)
    bank.load_row(1, raw)
    load_rows(bank, [2, 3], [raw, raw])
    lead = bank.forecast(rows, 14).lead
    assert lead is not None
    for r in (1, 2, 3):
        np.testing.assert_array_equal(lead[r], lead[0])
