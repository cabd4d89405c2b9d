"""models/reconcile.py: coherent forecasts and bands from a series' own errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.reconcile import AdaptiveBands, reconcile, variance_of_band


@pytest.mark.parametrize("seed", range(5))
def test_children_sum_to_parent_at_every_horizon(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 50.0, size=(12, 14))
    var = rng.gamma(1.0, 100.0, size=(12, 14))
    var[3] = 0.0  # a child whose band has no width keeps its forecast
    r = reconcile(base, var)
    np.testing.assert_allclose(r[0], r[1:].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(r[3], base[3])


@pytest.mark.parametrize("seed", range(5))
def test_no_child_is_moved_below_zero(seed: int) -> None:
    """reconcile([[20], [10], [100]], [[4], [400], [4]]) gave the first country -79.97: the
    parent's shortfall went to the only uncertain child, past zero."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.5, 50.0, size=(8, 14))
    base[0] *= rng.uniform(0.0, 0.5)  # a parent far below its children's sum
    var = rng.gamma(1.0, 100.0, size=(8, 14))
    r = reconcile(base, var)
    assert (r >= 0).all()
    np.testing.assert_allclose(r[0], r[1:].sum(axis=0), rtol=1e-12)
    one = reconcile([[20.0], [10.0], [100.0]], [[4.0], [400.0], [4.0]])
    assert one.ravel().tolist() == [100.0, 0.0, 100.0]  # the certain child keeps its 100
    negative = reconcile([[-5.0], [-3.0], [1.0]], [[1.0], [4.0], [1.0]])  # net returns
    assert negative[1, 0] <= -3.0 and negative[0, 0] == negative[1:, 0].sum()


def test_coherent_base_is_left_alone() -> None:
    kids = np.array([[1.0, 2.0], [3.0, 4.0]])
    base = np.vstack([kids.sum(axis=0), kids])
    np.testing.assert_allclose(reconcile(base, np.ones_like(base)), base)


def test_all_zero_variances_split_evenly() -> None:
    r = reconcile(np.array([[10.0], [2.0], [2.0]]), np.zeros((3, 1)))
    assert r.ravel().tolist() == pytest.approx([8.0, 4.0, 4.0])


def test_only_children_nearly_as_uncertain_as_the_widest_move() -> None:
    base = np.array([[100.0, 100.0], [50.0, 50.0], [40.0, 40.0], [5.0, 5.0]])
    var = np.array([[1.0, 1.0], [9.0, 9.0], [7.29, 1.0], [0.0, 0.0]])  # sd 3, 2.7 or 1, 0
    r = reconcile(base, var)
    assert r[1, 0] - 50.0 == pytest.approx(2 * (r[2, 0] - 40.0))  # 0.9 of the widest: half
    assert r[2, 1] == 40.0 and r[3].tolist() == [5.0, 5.0]  # a third of it, or none: stays
    even = reconcile(base[:3], np.array([[1.0] * 2, [9.0] * 2, [9.0] * 2]))
    assert even[1].tolist() == pytest.approx((even[2] + 10.0).tolist())  # equal: equal parts
    with pytest.raises(ValueError, match="spread"):
        reconcile(base, var, spread=1.0)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(1 \+ k, H\)"):
        reconcile(np.ones((1, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError):
        reconcile(np.ones((3, 3)), np.ones((3, 2)))


def test_variance_of_band() -> None:
    assert variance_of_band([0.0], [3.92]).tolist() == [1.0]


def test_bands_cover_after_a_drift_and_scale_with_the_given_scale() -> None:
    rng, b = np.random.default_rng(3), AdaptiveBands(horizon=3, width=10)
    hits = total = 0
    for t in range(1500):
        start = t * 10
        sd = 1.0 if t < 700 else 4.0
        lo, hi, lo95, hi95 = b.bands([20.0, 20.0, 20.0])  # (far above 0: no edge cut at 0)
        y = 20.0 + rng.normal(0.0, sd)
        if t >= 900:
            hits += lo95[0] <= y <= hi95[0]
            total += 1
        b.remember(start, [20.0, 20.0, 20.0])
        b.learn(start, y)
    assert abs(hits / total - 0.95) < 0.03
    narrow, wide = b.bands([0.0], [1.0]), b.bands([0.0], [2.0])
    assert wide[1][0] == pytest.approx(2 * narrow[1][0])


def test_no_errors_yet_means_a_zero_width_band() -> None:
    b = AdaptiveBands(horizon=2, width=1)
    assert b.bands([3.0, 4.0]) == ([3.0, 4.0], [3.0, 4.0], [3.0, 4.0], [3.0, 4.0])


def test_learn_ignores_buckets_no_forecast_was_for() -> None:
    b = AdaptiveBands(horizon=2, width=10)
    b.remember(100, [1.0, 1.0])
    b.learn(95, 7.0)  # not on the grid
    b.learn(130, 7.0)  # past the horizon: the pending forecast is dropped
    assert b.count.tolist() == [0, 0] and b.pending == []


def test_expected_is_the_latest_forecast_of_a_bucket() -> None:
    b = AdaptiveBands(horizon=3, width=10)
    b.remember(0, [1.0, 2.0, 3.0])
    b.remember(10, [5.0, 6.0, 7.0])
    assert (b.expected(20), b.expected(0), b.expected(50), b.expected(5)) == (6.0, 1.0, None, None)


def test_a_young_band_falls_back_to_the_given_one() -> None:
    b = AdaptiveBands(horizon=1, width=1)
    for t in range(5):
        b.remember(t, [10.0])
        b.learn(t, 12.0)
    assert b.bands([10.0], fallback=[[8.0], [13.0], [7.0], [14.0]]) == ([8.0], [13.0], [7.0],
                                                                      [14.0])
    assert b.bands([10.0]) == ([10.0], [12.0], [10.0], [12.0])  # no fallback: its few errors


def test_lower_edges_stop_at_zero_where_the_forecast_is_not_below_it() -> None:
    b = AdaptiveBands(horizon=1, width=1)
    assert b.bands([0.5, -1.0], fallback=[[-0.2, -3.0], [1.0, 1.0], [-0.5, -4.0],
                                          [2.0, 2.0]]) == ([0.0, -3.0], [1.0, 1.0],
                                                           [0.0, -4.0], [2.0, 2.0])


def test_huge_variances_do_not_overflow() -> None:
    base, var = np.array([[100.0], [50.0], [40.0]]), np.array([[1e300], [1e200], [1e100]])
    r = reconcile(base, var)
    assert np.isfinite(r).all() and r[0, 0] == pytest.approx(r[1:, 0].sum())
    assert r[2, 0] == pytest.approx(40.0)  # the far smaller child keeps its forecast


def test_errors_equal_to_a_quantile_count_as_inside_the_band() -> None:
    # a series forecast exactly on most days (no sales, forecast 0): hits on the band's edge
    # are hits, so the 80% band stays [0, 0] where 95% of outcomes are 0 (5% are above)
    b = AdaptiveBands(horizon=1, width=1)
    his = []
    for t in range(600):
        lo, hi, _, _ = b.bands([0.0])
        his.append(hi[0])
        b.remember(t, [0.0])
        b.learn(t, 5.0 if t % 20 == 0 else 0.0)
    assert lo == [0.0] and max(his[300:]) == 0.0
    assert b.levels.min() >= -0.25 and b.levels.max() <= 1.25  # bounded: it can recover


def test_a_series_that_seldom_sells_gets_its_coverage_from_the_upper_edge() -> None:
    # no sale on 70% of days and a forecast of 0: the lower edge stays at the forecast (no
    # errors below it), so the upper edge alone brings the band's misses to 20%, not 10%
    rng, b = np.random.default_rng(5), AdaptiveBands(horizon=1, width=1)
    hits = contains = 0
    for t in range(3000):
        lo, hi, lo95, hi95 = b.bands([0.0])
        y = 0.0 if rng.random() < 0.7 else float(rng.integers(1, 40))
        if t >= 1000:
            hits += lo[0] <= y <= hi[0]
            contains += lo95[0] <= lo[0] <= 0.0 <= hi[0] <= hi95[0]
        b.remember(t, [0.0])
        b.learn(t, y)
    assert abs(hits / 2000 - 0.8) < 0.02 and contains == 2000


def test_a_band_holds_its_forecast_even_when_every_error_is_on_one_side() -> None:
    b = AdaptiveBands(horizon=1, width=1)
    for t in range(300):
        b.remember(t, [10.0])
        b.learn(t, 14.0 + t % 5)  # always above the forecast
    lo, hi, lo95, hi95 = b.bands([10.0])
    assert lo95[0] == lo[0] == 10.0 < hi[0] <= hi95[0]
