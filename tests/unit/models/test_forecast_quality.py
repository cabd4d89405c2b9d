"""The new forecasters (TSB, per-horizon ensemble) and conformal intervals: known answers."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable

import pytest

from models.base import Forecaster
from models.baselines import RollingMean, RollingMedian, SeasonalNaive
from models.conformal import ConformalInterval
from models.factory import SeriesModel, default_members, default_model
from models.horizon import HorizonEnsemble
from models.intermittent import TSB

WEEK = [0.0, 0.0, 3.0, 8.0, 4.0, 0.0, 1.0]


def _ens(combine: str) -> Callable[[], Forecaster]:
    return lambda: HorizonEnsemble(default_members(), horizon=14, power=2.0, combine=combine)


NEW: dict[str, Callable[[], Forecaster]] = {
    "tsb": TSB,
    "ensemble_mean": _ens("mean"),
    "ensemble_median": _ens("median"),
}


@pytest.fixture(params=sorted(NEW))
def make(request: pytest.FixtureRequest) -> Callable[[], Forecaster]:
    return NEW[request.param]


def noisy(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [max(0.0, WEEK[i % 7] * 3 + rng.gauss(0, 1.5)) for i in range(n)]


@pytest.mark.parametrize("value", [0.0, 3.0, 250.0])
def test_constant_and_all_zeros(make: Callable[[], Forecaster], value: float) -> None:
    m = make()
    for _ in range(60):
        m.learn_one(value)
    assert m.forecast(14) == pytest.approx([value] * 14, rel=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), None])
def test_rejects_non_finite(make: Callable[[], Forecaster], bad: object) -> None:
    m = make()
    m.learn_one(1.0)
    before = pickle.dumps(m)
    with pytest.raises(ValueError, match="y must be a finite number"):
        m.learn_one(bad)  # type: ignore[arg-type]
    assert pickle.dumps(m) == before


def test_forecast_never_mutates_and_pickles(make: Callable[[], Forecaster]) -> None:
    a = make()
    for y in noisy(50):
        a.learn_one(y)
    before = pickle.dumps(a)
    first = a.forecast(20)
    assert a.forecast_one() == pytest.approx(first[0]) and pickle.dumps(a) == before
    b = pickle.loads(before)
    assert b.forecast(20) == first
    for y in noisy(30, seed=4):
        a.learn_one(y)
        b.learn_one(y)
    assert b.forecast(14) == a.forecast(14)


def test_deterministic(make: Callable[[], Forecaster]) -> None:
    a, b = make(), make()
    for y in noisy(80, seed=3):
        a.learn_one(y)
        b.learn_one(y)
    assert a.forecast(14) == b.forecast(14)


def test_tsb_known_answer() -> None:
    m = TSB(alpha=0.5, beta=0.5)
    for y in [0.0, 4.0, 0.0, 8.0]:
        m.learn_one(y)
    # first sale at t=2: z=4, p=1/2; no sale: p=1/4; sale 8: p=5/8, z=6
    assert (m.p, m.z, m.forecast_one()) == (0.625, 6.0, 3.75)


def test_tsb_level_shift_and_obsolescence() -> None:
    m = TSB(alpha=0.2, beta=0.1)
    for y in [10.0] * 50 + [40.0] * 50:
        m.learn_one(y)
    assert m.forecast_one() == pytest.approx(40.0, rel=1e-3)
    for _ in range(50):
        m.learn_one(0.0)
    assert m.forecast_one() == pytest.approx(40.0 * 0.9**50, rel=1e-3)


def test_ensemble_pure_weekly_and_linear_trend() -> None:
    ens = HorizonEnsemble([SeasonalNaive(7), RollingMean(7)], horizon=7, decay=0.5)
    for y in WEEK * 12:
        ens.learn_one(y)
    assert ens.forecast(7) == pytest.approx(WEEK, abs=1e-3)
    assert set(ens.describe()["winners"]) == {"seasonal_naive"}
    trend = HorizonEnsemble({"last": RollingMean(1), "mean": RollingMean(28)}, 3, power=4.0)
    for t in range(100):
        trend.learn_one(float(t))
    assert trend.forecast(3) == pytest.approx([99.0] * 3, abs=0.05)  # the last value wins


def test_ensemble_weights_differ_by_horizon() -> None:
    """Period-2 data: the last value is right at even horizons, wrong at odd ones."""
    ens = HorizonEnsemble({"last": RollingMean(1), "snaive": SeasonalNaive(2)}, 4, decay=0.5)
    for y in [0.0, 10.0] * 30:
        ens.learn_one(y)
    d = ens.describe()
    assert d["winners"][0] == d["winners"][2] == "snaive"
    assert ens.weights(2)["last"] > 0.1 > 1e-6 > ens.weights(1)["last"]
    assert len(d["weights_by_horizon"]) == 4 and d["winner"] == "snaive"


def test_ensemble_level_shift() -> None:
    ens = HorizonEnsemble(default_members(), horizon=14, power=2.0, combine="median")
    for y in [10.0] * 70 + [100.0] * 60:
        ens.learn_one(y)
    assert ens.forecast(7) == pytest.approx([100.0] * 7, rel=0.02)


def test_shares_scale_the_weights_of_their_members() -> None:
    """Three members that move together (a bloc) and one that differs, on a trend: at full
    shares the bloc holds the weighted median although the short mean is better than each of
    its members; at a share of 0.3 each, the better member's forecast is the median."""
    bloc = [f"mean_{w}" for w in (5, 6, 7)]

    def ensemble(share: float) -> HorizonEnsemble:
        members = {f"mean_{w}": RollingMean(w) for w in (5, 6, 7)} | {"short": RollingMean(3)}
        return HorizonEnsemble(members, 1, combine="median",
                               shares=dict.fromkeys(bloc, share) if share != 1.0 else None)

    full, shared = ensemble(1.0), ensemble(0.3)
    for t in range(40):
        full.learn_one(float(t))
        shared.learn_one(float(t))
    errors = full.recent_errors()
    assert errors["short"] < min(errors[n] for n in bloc)
    assert full.forecast_one() == 37.0  # the window of 5: the bloc's nearest to the trend
    assert shared.forecast_one() == 38.0  # the short mean
    inv = {n: 1.0 / (e + 1e-6) for n, e in shared.recent_errors().items()}
    raw = {n: v * (0.3 if n in bloc else 1.0) for n, v in inv.items()}
    assert shared.weights() == pytest.approx({n: v / sum(raw.values()) for n, v in raw.items()})
    copy = pickle.loads(pickle.dumps(shared))
    assert copy.shares == shared.shares and copy.forecast(3) == shared.forecast(3)


def test_the_default_model_shares_the_medians_weight() -> None:
    ens = default_model().forecaster
    assert isinstance(ens, HorizonEnsemble)
    assert [n for n, s in ens.shares.items() if s != 1.0] == [
        "rolling_median_14", "rolling_median", "rolling_median_56", "seasonal_median"]


def test_weighted_median_picks_a_member() -> None:
    ens = HorizonEnsemble([RollingMean(3), RollingMedian(3), TSB()], horizon=2, combine="median")
    for y in [0.0, 0.0, 9.0, 0.0, 0.0]:
        ens.learn_one(y)
    members = {m.forecast_one() for m in ens.members}
    assert ens.forecast_one() in members


@pytest.mark.parametrize(("level", "tol"), [(0.8, 0.03), (0.95, 0.02)])
def test_conformal_coverage_on_noise(level: float, tol: float) -> None:
    rng, ci = random.Random(11), ConformalInterval(horizon=5, levels=(level,), window=100)
    hits = total = 0
    for t in range(4000):
        y = 20 + rng.gauss(0, 3)
        if t > 200:
            lo, hi = ci.interval([20.0] * 5)
            hits += sum(a <= y <= b for a, b in zip(lo, hi, strict=True))
            total += 5
        ci.update(y)
        ci.record([20.0] * 5)
    assert abs(hits / total - level) < tol


def test_conformal_h_step_residuals_and_pickle() -> None:
    ci = ConformalInterval(horizon=3, levels=(0.5,), window=3, gamma=0.0, min_n=1)
    for t in range(6):
        ci.update(float(t))
        ci.record([float(t)] * 3)  # a flat forecast: the k-step residual is k
    assert [ci.residuals(k) for k in (1, 2, 3)] == [[1.0] * 3, [2.0] * 3, [3.0] * 3]
    ci2 = pickle.loads(pickle.dumps(ci))
    assert ci2.half_widths() == ci.half_widths() == [1.0, 2.0, 3.0]
    ci.update(9.0)
    ci2.update(9.0)
    assert ci2.residuals(1) == ci.residuals(1) == [1.0, 1.0, 4.0]


def test_conformal_adapts_to_a_level_shift() -> None:
    rng, ci, hits = random.Random(2), ConformalInterval(1, levels=(0.8,), lower=None), 0
    for t in range(3000):
        y = rng.gauss(0, 1) * (1 if t < 1500 else 4)  # the noise quadruples half-way
        if t >= 1700:
            lo, hi = ci.interval([0.0])
            hits += lo[0] <= y <= hi[0]
        ci.update(y)
        ci.record([0.0])
    assert abs(hits / 1300 - 0.8) < 0.04


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TSB(alpha=0), r"alpha must be in \(0, 1\], got 0"),
        (lambda: TSB(beta=1.5), r"beta must be in \(0, 1\], got 1.5"),
        (lambda: HorizonEnsemble([]), "members must not be empty"),
        (lambda: HorizonEnsemble([TSB()], horizon=0), "horizon must be an integer in"),
        (lambda: HorizonEnsemble([TSB()], combine="mode"), "combine must be 'mean' or 'median'"),
        (lambda: HorizonEnsemble([TSB()], shares={"x": 0.5}), "shares name no member: x"),
        (lambda: HorizonEnsemble([TSB()], shares={"tsb": 0.0}), r"share of tsb must be in \("),
        (lambda: ConformalInterval(levels=(1.0,)), r"level must be in \(0, 1\), got 1.0"),
        (lambda: ConformalInterval(levels=()), "levels must not be empty"),
        (lambda: ConformalInterval(window=0), "window must be an integer in"),
        (lambda: default_model(coverage=1.0), r"coverage must be in \(0, 1\), got 1.0"),
    ],
)
def test_bad_parameters(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_series_model_wraps_any_forecaster_with_two_bands() -> None:
    m = SeriesModel(TSB(), ConformalInterval(7), horizon=7)
    for y in noisy(100):
        m.learn_one(y)
    f = m.forecast()
    assert f.model["winner"] == "tsb" and f.model["weights"] == {"tsb": 1.0}
    assert all(
        a <= b <= c <= d <= e
        for a, b, c, d, e in zip(f.lo95, f.lo, f.yhat, f.hi, f.hi95, strict=True)
    )
    assert f.model["interval"]["lo95"] == f.lo95 and set(f.to_dict()) == {
        "yhat",
        "lo",
        "hi",
        "model",
    }
    assert len(m.forecast(20).hi95) == 20


def test_default_model_describes_per_horizon_weights() -> None:
    m = default_model()
    for y in noisy(60):
        m.learn_one(y)
    d = m.forecast().model
    assert d["members"] == ["seasonal_naive", "rolling_median_14", "rolling_median",
                            "rolling_median_56", "holt_winters_log1p", "seasonal_median"]
    assert len(d["weights_by_horizon"]) == 14 and len(d["winners"]) == 14
    assert math.isclose(sum(d["weights"].values()), 1.0)
