"""Metrics against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from models.evaluation.metrics import (
    Tally,
    bias,
    coverage,
    mae,
    mase,
    rmse,
    rmsse,
    smape,
    snaive_scale,
    snaive_scales,
    width,
)

Y = [0.0, 4.0, 2.0, 0.0, 6.0]
YHAT = [1.0, 2.0, 2.0, 0.0, 3.0]  # errors +1, -2, 0, 0, -3


def test_point_metrics_by_hand() -> None:
    assert mae(Y, YHAT) == 6 / 5
    assert rmse(Y, YHAT) == math.sqrt(14 / 5)
    assert bias(Y, YHAT) == -4 / 5
    # non-zero actuals only: 200*2/6, 0, 200*3/9
    assert smape(Y, YHAT) == pytest.approx((200 * 2 / 6 + 0 + 200 * 3 / 9) / 3)
    assert smape([0.0, 0.0], [1.0, 2.0]) is None


def test_scaled_metrics_by_hand() -> None:
    history = [1.0, 0.0, 3.0, 5.0, 2.0]  # season 2: |3-1|, |5-0|, |2-3| = 2, 5, 1
    assert snaive_scale(history, season=2) == 8 / 3
    assert snaive_scale(history, season=2, power=2) == 30 / 3
    assert mase(Y, YHAT, 8 / 3) == pytest.approx((6 / 5) / (8 / 3))
    assert rmsse(Y, YHAT, 10.0) == pytest.approx(math.sqrt((14 / 5) / 10))
    assert snaive_scale([0.0] * 10, 7) is None and snaive_scale([1.0], 7) is None
    with pytest.raises(ValueError, match="scale must be a positive number"):
        mase(Y, YHAT, None)


def test_interval_metrics_by_hand() -> None:
    lo, hi = [0.0, 3.0, 2.5, 0.0, 0.0], [2.0, 5.0, 3.0, 0.0, 5.0]
    assert coverage(Y, lo, hi) == 3 / 5  # 0 in, 4 in, 2 out, 0 in, 6 out
    assert width(lo, hi) == (2 + 2 + 0.5 + 0 + 5) / 5


def test_tally_matches_the_functions() -> None:
    t = Tally(horizon=5)
    lo, hi = [0.0, 3.0, 2.5, 0.0, 0.0], [2.0, 5.0, 3.0, 0.0, 5.0]
    t.add(Y, YHAT, {0.8: lo}, {0.8: hi})
    t.add(Y, YHAT, {0.8: lo}, {0.8: hi})
    assert t.mae() == pytest.approx(mae(Y, YHAT)) and t.bias() == pytest.approx(bias(Y, YHAT))
    assert t.mse() == pytest.approx(rmse(Y, YHAT) ** 2) and t.smape() == smape(Y, YHAT)
    assert t.coverage(0.8) == 3 / 5 and t.width(0.8) == pytest.approx(width(lo, hi))
    assert t.mae_by_horizon() == [1.0, 2.0, 0.0, 0.0, 3.0] and t.origins() == 2


def test_length_mismatch_rejected() -> None:
    with pytest.raises(ValueError, match="same non-zero length"):
        mae([1.0], [1.0, 2.0])


def test_the_in_sample_scale_of_each_origin_is_that_of_its_history_only() -> None:
    rng = random.Random(5)
    for n in (0, 3, 7, 8, 40):
        ys = [float(rng.choice([0, 0, 1, 3, 8])) for _ in range(n)]
        assert snaive_scales(ys, 7) == [snaive_scale(ys[:t], 7) for t in range(n + 1)]


def test_mase_in_sample_scales_each_origin_by_its_own_scale() -> None:
    t = Tally(horizon=2)
    t.add([4.0, 0.0], [2.0, 2.0], scale=2.0)  # |e| / 2: 1, 1
    t.add([1.0, 1.0], [1.0, 4.0], scale=1.0)  # 0, 3
    t.add([9.0, 9.0], [0.0, 0.0], scale=None)  # no scale at this origin: left out
    assert t.mase_in_sample() == 5.0 / 4
    assert Tally(horizon=2).mase_in_sample() is None


def test_the_geometric_mean_of_ratios_is_not_dominated_by_one_series() -> None:
    from models.evaluation.scoreboard import Row

    def tally(err: float, scale: float) -> Tally:
        t = Tally(horizon=1)
        t.add([0.0], [err], scale=scale)
        return t

    # two series: the model is 2x better on one, 100x worse on the other (a tiny early scale)
    model = [tally(1.0, 1.0), tally(100.0, 0.01)]
    naive = [tally(2.0, 1.0), tally(1.0, 0.01)]
    row = Row.from_tallies("m", [(t, 1.0, 1.0) for t in model], 0.0, baseline=naive)
    assert row.mase_is == pytest.approx((1.0 + 10_000.0) / 2)
    assert row.gmean_rel_is == pytest.approx(math.sqrt(0.5 * 100.0))
    with pytest.raises(ValueError, match="a tally per series"):
        Row.from_tallies("m", [(t, 1.0, 1.0) for t in model], 0.0, baseline=naive[:1])
