"""The season follows the bucket width (models/seasons.py), and the worker's bank uses it."""

from __future__ import annotations

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.seasons import MAX_SEASON, season_for
from stream.processor import Processor


@pytest.mark.parametrize(("width", "season"), [
    (3600, 24), (1800, 48), (300, 288), (60, 60), (86400, 7), (604800, 52),
    (2 * 86400, 183), (4 * 604800, 13), (30 * 86400, 12), (5 * 3600, 2)])
def test_the_season_of_a_bucket_width(width: int, season: int) -> None:
    assert season_for(width) == season <= MAX_SEASON


def test_a_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="width must be > 0"):
        season_for(0)


def test_hourly_buckets_learn_the_day_not_the_week() -> None:
    rng = np.random.default_rng(5)
    hours = np.arange(24 * 70)
    profile = np.array([0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 10, 9,  # sales by hour of the day
                        11, 12, 9, 7, 6, 8, 10, 6, 3, 1, 0, 0])
    ys = np.stack([rng.poisson(profile[hours % 24] * (1 + s % 3)) for s in range(20)]).astype(float)
    errors = {}
    for season in (season_for(3600), 7):
        bank = ForecasterBank(horizon=24, season=season)
        rows = bank.add_rows(len(ys))
        err = 0.0
        for t in range(ys.shape[1] - 24):
            if t >= 24 * 40 and t % 24 == 0:
                err += float(np.abs(bank.forecast(rows, 24).yhat - ys[:, t:t + 24]).mean())
            bank.learn(rows, ys[:, t])
        errors[season] = err
    assert errors[24] < 0.6 * errors[7]


def test_the_worker_bank_takes_the_season_of_its_buckets() -> None:
    assert Processor("t", width=3600).resident(0).bank.season == 24
    assert Processor("t").resident(0).bank.season == 7
