"""Tests of the models package: one contract suite over every forecaster, then known answers."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable

import pytest
from river.time_series import HoltWinters

import models
from models import (
    Forecast,
    Forecaster,
    HoltWintersLog1p,
    HorizonEnsemble,
    RollingMean,
    RollingMedian,
    SeasonalNaive,
    default_model,
)

WEEK = [0.0, 0.0, 3.0, 8.0, 4.0, 0.0, 1.0]


def _ensemble() -> HorizonEnsemble:
    return HorizonEnsemble([SeasonalNaive(7), RollingMedian(28), HoltWintersLog1p(7)], horizon=14)


FACTORIES: dict[str, Callable[[], Forecaster]] = {
    "seasonal_naive": lambda: SeasonalNaive(season=7),
    "rolling_median": lambda: RollingMedian(window=28),
    "rolling_mean": lambda: RollingMean(window=28),
    "holt_winters": lambda: HoltWintersLog1p(season=7),
    "holt_winters_damped": lambda: HoltWintersLog1p(season=7, beta=0.1, phi=0.9),
    "ensemble": _ensemble,
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[], Forecaster]:
    return FACTORIES[request.param]


def noisy_week(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [max(0.0, WEEK[i % 7] * 3 + rng.gauss(0, 1.5)) for i in range(n)]


def test_exports() -> None:
    assert sorted(models.__all__) == sorted(set(models.__all__))
    for name in models.__all__:
        assert hasattr(models, name), name


# --- the contract, for every forecaster -------------------------------------------------------


def test_forecasts_zeros_before_data(make: Callable[[], Forecaster]) -> None:
    m = make()
    assert m.forecast(5) == [0.0] * 5 and m.forecast_one() == 0.0 and m.n_seen == 0


@pytest.mark.parametrize("value", [3.0, 250.0])
def test_constant_series(make: Callable[[], Forecaster], value: float) -> None:
    m = make()
    for _ in range(60):
        m.learn_one(value)
    assert m.forecast(14) == pytest.approx([value] * 14, rel=1e-9)
    assert m.forecast_one() == pytest.approx(value)


def test_all_zeros(make: Callable[[], Forecaster]) -> None:
    m = make()
    for _ in range(50):
        m.learn_one(0)
    assert m.forecast(30) == [0.0] * 30


def test_series_that_starts_with_zeros(make: Callable[[], Forecaster]) -> None:
    m = make()
    for y in [0.0] * 10 + noisy_week(60):
        m.learn_one(y)
    path = m.forecast(14)
    assert len(path) == 14 and all(math.isfinite(v) and v >= 0 for v in path)
    assert max(path) > 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), True, "3", None])
def test_bad_values_rejected(make: Callable[[], Forecaster], bad: object) -> None:
    m = make()
    m.learn_one(1.0)
    before = pickle.dumps(m)
    with pytest.raises(ValueError, match="y must be a finite number, got"):
        m.learn_one(bad)  # type: ignore[arg-type]
    assert pickle.dumps(m) == before


@pytest.mark.parametrize("horizon", [0, -1, 1.5, None])
def test_bad_horizon(make: Callable[[], Forecaster], horizon: object) -> None:
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        make().forecast(horizon)  # type: ignore[arg-type]


def test_forecast_does_not_mutate(make: Callable[[], Forecaster]) -> None:
    m = make()
    for y in noisy_week(40):
        m.learn_one(y)
    before = pickle.dumps(m)
    first = m.forecast(21)
    m.forecast_one()
    assert pickle.dumps(m) == before and m.forecast(21) == first


def test_forecast_one_is_first_step(make: Callable[[], Forecaster]) -> None:
    m = make()
    for y in noisy_week(5) + noisy_week(40, seed=2):
        m.learn_one(y)
        assert m.forecast_one() == pytest.approx(m.forecast(3)[0])


def test_pickle_round_trip(make: Callable[[], Forecaster]) -> None:
    m = make()
    for y in noisy_week(45):
        m.learn_one(y)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.forecast(14) == m.forecast(14) and m2.n_seen == m.n_seen
    for y in noisy_week(20, seed=9):
        m.learn_one(y)
        m2.learn_one(y)
    assert m2.forecast(14) == m.forecast(14)
    assert len(pickle.dumps(m)) < 3000


def test_deterministic(make: Callable[[], Forecaster]) -> None:
    a, b = make(), make()
    for y in noisy_week(80):
        a.learn_one(y)
        b.learn_one(y)
    assert a.forecast(14) == b.forecast(14)


def test_repr_names_parameters(make: Callable[[], Forecaster]) -> None:
    assert repr(make()).startswith(type(make()).__name__ + "(")


# --- known answers ----------------------------------------------------------------------------


def test_seasonal_naive_pure_weekly() -> None:
    m = SeasonalNaive(7)
    for y in WEEK * 3 + WEEK[:2]:
        m.learn_one(y)
    assert m.forecast(9) == WEEK[2:] + WEEK[:4]


def test_rolling_median_window() -> None:
    m = RollingMedian(window=4)
    for y in [100, 1, 2, 3, 4]:  # 100 has left the window
        m.learn_one(y)
    assert m.forecast(2) == [2.5, 2.5]
    m.learn_one(0)
    assert m.forecast_one() == 2.5  # window 2, 3, 4, 0


def test_holt_winters_pure_weekly() -> None:
    m = HoltWintersLog1p(season=7)
    for y in WEEK * 10 + WEEK[:3]:
        m.learn_one(y)
    assert m.forecast(10) == pytest.approx(WEEK[3:] + WEEK[:6], abs=1e-9)


def test_level_shift() -> None:
    hw, ens = HoltWintersLog1p(season=7, alpha=0.3), _ensemble()
    for y in [10.0] * 70 + [100.0] * 60:
        hw.learn_one(y)
        ens.learn_one(y)
    # Holt-Winters' seasonal terms absorb part of a shift and shed it slowly (+-5% here);
    # the ensemble leans on the members that have already adapted.
    path = hw.forecast(7)
    assert path == pytest.approx([100.0] * 7, rel=0.06)
    assert sum(path) / 7 == pytest.approx(100.0, rel=0.01)
    assert ens.forecast(7) == pytest.approx([100.0] * 7, rel=0.01)


def test_holt_winters_matches_river_simple_exponential_smoothing() -> None:
    """Golden cross-check: with season=1, alpha=0.5 both start at the mean of the first two."""
    ys = [abs(v) + 0.5 for v in noisy_week(60, seed=5)]  # river's HoltWinters needs y[0] != 0
    ours, theirs = HoltWintersLog1p(season=1, alpha=0.5), HoltWinters(alpha=0.5)
    for y in ys:
        ours.learn_one(y)
        theirs.learn_one(math.log1p(y))
        if ours.n_seen >= 2:
            expected = [math.expm1(z) for z in theirs.forecast(3)]
            assert ours.forecast(3) == pytest.approx(expected, rel=1e-12)


def _reference_holt_winters(
    ys: list[float], m: int, alpha: float, beta: float, gamma: float, phi: float, h: int
) -> list[float]:
    """FPP3 damped additive Holt-Winters on log1p, written the slow way, as a golden table;
    the seasonal step is ``max(gamma, 1 / (c + 1))`` in the ``c``-th cycle (the model's
    running-mean start of its seasonal terms)."""
    z = [math.log1p(y) for y in ys]
    level, trend = sum(z[:m]) / m, 0.0
    season = {t: z[t] - level for t in range(m)}
    for t in range(m, len(z)):
        s = season[t - m]
        new_level = alpha * (z[t] - s) + (1 - alpha) * (level + phi * trend)
        new_trend = beta * (new_level - level) + (1 - beta) * phi * trend
        g = max(gamma, 1 / (t // m + 1))
        season[t] = g * (z[t] - level - phi * trend) + (1 - g) * s
        level, trend = new_level, new_trend
    n = len(z)
    out = []
    for k in range(1, h + 1):
        damp = sum(phi**j for j in range(1, k + 1))
        out.append(max(0.0, math.expm1(level + damp * trend + season[n - m + (k - 1) % m])))
    return out


@pytest.mark.parametrize("beta", [None, 0.2])
def test_holt_winters_golden_reference(beta: float | None) -> None:
    ys = noisy_week(90, seed=11)
    m = HoltWintersLog1p(season=7, alpha=0.25, gamma=0.15, beta=beta, phi=0.8)
    for y in ys:
        m.learn_one(y)
    expected = _reference_holt_winters(ys, 7, 0.25, beta or 0.0, 0.15, 0.8, 20)
    assert m.forecast(20) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_damped_trend_stays_bounded() -> None:
    m = HoltWintersLog1p(season=1, beta=0.3, phi=0.9)
    for t in range(60):
        m.learn_one(10.0 * 1.1**t)  # exponential growth: a linear trend in log space
    path = m.forecast(365)
    assert path == sorted(path) and path[-1] < path[0] * 5 and path[-1] < 1e12
    undamped = HoltWintersLog1p(season=1, beta=0.3, phi=1.0)
    for t in range(60):
        undamped.learn_one(10.0 * 1.1**t)
    assert undamped.forecast(2000)[-1] == pytest.approx(1e12)  # capped, no OverflowError


def test_negative_values_learnt_as_zero() -> None:
    a, b = HoltWintersLog1p(7), HoltWintersLog1p(7)
    for y in WEEK * 3:
        a.learn_one(-y)
        b.learn_one(0.0)
    assert a.forecast(7) == b.forecast(7) == [0.0] * 7


def test_ensemble_prefers_the_better_member() -> None:
    ens = HorizonEnsemble([SeasonalNaive(7), RollingMean(7)], horizon=7, decay=0.8)
    for y in WEEK * 12:
        ens.learn_one(y)
    w = ens.weights()
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["seasonal_naive"] > 0.99 and ens.describe()["winner"] == "seasonal_naive"
    assert ens.forecast(7) == pytest.approx(WEEK, abs=0.05)


def test_ensemble_update_returns_prior_forecast() -> None:
    ens = _ensemble()
    for y in noisy_week(30):
        expected = ens.forecast_one()
        assert ens.update(y) == pytest.approx(expected)


def test_default_model_forecast() -> None:
    m = default_model(horizon=14)
    for y in noisy_week(120):
        m.learn_one(y)
    f = m.forecast()
    assert isinstance(f, Forecast) and f.horizon == 14
    assert all(0 <= lo <= y <= hi for lo, y, hi in zip(f.lo, f.yhat, f.hi, strict=True))
    assert f.model["winner"] in f.model["members"] and f.model["interval"]["coverage"] == 0.8
    assert all(hi - lo > 0 for lo, hi in zip(f.lo, f.hi, strict=True))
    assert all(a <= b <= c <= d for a, b, c, d in zip(f.lo95, f.lo, f.hi, f.hi95, strict=True))
    assert m.forecast(3).yhat == f.yhat[:3]
    assert set(f.to_dict()) == {"yhat", "lo", "hi", "model"}
    assert m.last_prior is not None and m.n_seen == 120


def test_default_model_pickles_and_rejects_nan() -> None:
    m = default_model(horizon=7)
    for y in [0.0] * 5 + noisy_week(50):
        m.learn_one(y)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.forecast() == m.forecast()
    before = pickle.dumps(m)
    with pytest.raises(ValueError, match="y must be a finite number, got nan"):
        m.learn_one(float("nan"))
    assert pickle.dumps(m) == before
    assert len(before) < 6000  # five members, two bands over 7 horizons: a few KB


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SeasonalNaive(season=0), "season must be an integer in"),
        (lambda: RollingMedian(window=2.5), "window must be an integer in"),  # type: ignore[arg-type]
        (lambda: RollingMean(window=0), "window must be an integer in"),
        (lambda: HoltWintersLog1p(alpha=0), r"alpha must be in \(0, 1\], got 0"),
        (lambda: HoltWintersLog1p(gamma=1.5), r"gamma must be in \[0, 1\], got 1.5"),
        (lambda: HoltWintersLog1p(beta=0.0), r"beta must be in \(0, 1\], got 0.0"),
        (lambda: HoltWintersLog1p(phi=float("nan")), "phi must be in"),
        (lambda: default_model(horizon=0), "horizon must be an integer >= 1, got 0"),
    ],
)
def test_bad_parameters(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
