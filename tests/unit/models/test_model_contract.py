"""One contract suite (:class:`models.base.BatchForecaster`) for every model.

Parametrised over every entry of the backtest's model zoo (each adapted by
:class:`models.per_series.PerSeries`), the per-object stack the worker runs today
(``default_model(14, holidays=True)``) and the bank that replaces it
(:class:`models.bank.ForecasterBank`). After river's ``checks``: each check is a small function
that any model must pass.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.base import BatchForecast, BatchForecaster
from models.evaluation.backtest_zoo import model_zoo
from models.factory import default_model
from models.per_series import PerSeries

H = 14


def _factories() -> dict[str, Callable[[], BatchForecaster]]:
    out: dict[str, Callable[[], BatchForecaster]] = {
        f"zoo:{name}": (lambda make=make: PerSeries(make)) for name, make in model_zoo().items()
    }
    out["worker:per-object"] = lambda: PerSeries(lambda: default_model(H, holidays=True))
    out["worker:per-object+lstm"] = lambda: PerSeries(
        lambda: default_model(H, holidays=True, lstm=True))
    out["worker:bank"] = ForecasterBank
    out["worker:bank+lstm"] = lambda: ForecasterBank(lstm=True)
    # a second season short enough that the suite's series (30-80 buckets) span it
    out["worker:bank+second season"] = lambda: ForecasterBank(season=7, season2=21)
    out["worker:bank+trend"] = lambda: ForecasterBank(trend=True)
    return out


FACTORIES = _factories()


@pytest.fixture(params=sorted(FACTORIES), scope="module")
def make(request: pytest.FixtureRequest) -> Callable[[], BatchForecaster]:
    return FACTORIES[request.param]


def _data(rows: int, n: int, seed: int = 3) -> np.ndarray:
    """Intermittent weekly sales with a spike, a return (negative) and a level shift."""
    rng = random.Random(seed)
    week = [1.0, 0.9, 1.0, 1.1, 1.3, 1.5, 0.4]
    out = np.zeros((rows, n))
    for r in range(rows):
        level = rng.uniform(0.5, 20.0)
        for t in range(n):
            if rng.random() < 0.7:
                out[r, t] = float(round(level * week[t % 7] * rng.expovariate(1.0)))
            if t > n // 2:
                out[r, t] *= 2.0
    out[0, n // 3] = 500.0
    out[-1, n // 4] = -3.0
    return out


def _feed(model: BatchForecaster, data: np.ndarray) -> np.ndarray:
    rows = model.add_rows(len(data))
    for t in range(data.shape[1]):
        model.learn(rows, data[:, t])
    return rows


def _same(a: BatchForecast, b: BatchForecast) -> None:
    for name in ("yhat", "lo", "hi", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_new_rows_are_numbered_and_forecast_zeros(make: Callable[[], BatchForecaster]) -> None:
    m = make()
    assert m.add_rows(2).tolist() == [0, 1] and m.add_rows(1).tolist() == [2]
    assert m.n_rows == 3
    f = m.forecast(np.arange(3), H)
    assert f.yhat.shape == (3, H) and f.horizon == H
    assert (f.yhat == 0).all()
    assert m.describe(0)["n_seen"] == 0


def test_forecasts_are_finite_shaped_and_bands_ordered(
        make: Callable[[], BatchForecaster]) -> None:
    m = make()
    rows = _feed(m, _data(4, 80))
    for h in (1, 7, H):
        f = m.forecast(rows, h)
        for name in ("yhat", "lo", "hi", "lo95", "hi95"):
            a = getattr(f, name)
            assert a.shape == (4, h) and np.isfinite(a).all(), name
        assert (f.lo <= f.hi).all() and (f.lo95 <= f.hi95).all()
        assert (f.lo >= 0).all() and (f.lo95 >= 0).all()  # sales bands stop at zero
    d = m.describe(1)
    assert d["n_seen"] == 80 and isinstance(d["name"], str) and "winner" in d


def test_forecast_never_mutates(make: Callable[[], BatchForecaster]) -> None:
    data = _data(3, 60)
    a, b = make(), make()
    rows = a.add_rows(3)
    b.add_rows(3)
    for t in range(data.shape[1]):
        a.forecast(rows, H)  # only `a` is asked for forecasts along the way
        a.forecast(rows[:1], 3)
        a.describe(0)
        a.learn(rows, data[:, t])
        b.learn(rows, data[:, t])
    _same(a.forecast(rows, H), b.forecast(rows, H))


def test_rows_are_independent_of_each_other_and_of_batch_order(
        make: Callable[[], BatchForecaster]) -> None:
    data = _data(3, 60)
    together, alone, shuffled = make(), make(), make()
    rows = _feed(together, data)
    for r in range(3):  # each series in a batch of its own, in its own model
        single = alone.add_rows(1)
        for t in range(data.shape[1]):
            alone.learn(single, data[r : r + 1, t])
    back = shuffled.add_rows(3)[::-1]
    for t in range(data.shape[1]):
        shuffled.learn(back, data[::-1, t])
    _same(together.forecast(rows, H), alone.forecast(rows, H))
    _same(together.forecast(rows, H), shuffled.forecast(rows, H))


def test_a_row_left_out_of_a_batch_is_untouched(make: Callable[[], BatchForecaster]) -> None:
    m = make()
    rows = _feed(m, _data(3, 40))
    before = m.forecast(rows[2:], H)
    m.learn(rows[:2], np.array([100.0, 0.0]))
    _same(before, m.forecast(rows[2:], H))


def test_deterministic(make: Callable[[], BatchForecaster]) -> None:
    data = _data(2, 50, seed=9)
    a, b = make(), make()
    _same(a.forecast(_feed(a, data), H), b.forecast(_feed(b, data), H))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_bad_values_raise_and_nothing_is_learnt(make: Callable[[], BatchForecaster],
                                                bad: float) -> None:
    m = make()
    rows = _feed(m, _data(2, 30))
    before = m.forecast(rows, H)
    with pytest.raises(ValueError, match="finite"):
        m.learn(rows, np.array([5.0, bad]))
    _same(before, m.forecast(rows, H))
    assert m.describe(0)["n_seen"] == 30


def test_a_constant_series_is_forecast_as_itself(make: Callable[[], BatchForecaster]) -> None:
    m = make()
    rows = _feed(m, np.full((1, 120), 7.0))
    np.testing.assert_allclose(m.forecast(rows, H).yhat, 7.0, rtol=0.05)


def test_the_suite_covers_the_zoo_and_the_worker_stack() -> None:
    workers = {"worker:per-object", "worker:bank", "worker:per-object+lstm", "worker:bank+lstm",
               "worker:bank+second season", "worker:bank+trend"}
    assert {f"zoo:{n}" for n in model_zoo()} | workers == set(FACTORIES)
