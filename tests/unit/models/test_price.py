"""The relative-price wrapper: no leak, no effect without prices, learns a real effect."""

from __future__ import annotations

import math
import pickle
import random
from functools import partial

import pytest

from models.baselines import RollingMedian
from models.factory import default_model
from models.online import HoltWintersLog1p
from models.price import PriceAdjusted, relative_price


def _sales_with_discounts(n: int, seed: int = 0) -> list[tuple[float, float]]:
    """(qty, price) per day: a 25% discount on ~10% of days lifts the *next* day's sales."""
    rng, out, price = random.Random(seed), [], 4.0
    for _ in range(n):
        qty = rng.choice([8.0, 10.0, 12.0]) * (2.5 if price < 4.0 else 1.0)
        price = 3.0 if rng.random() < 0.1 else 4.0
        out.append((qty, price))
    return out


def test_without_prices_it_is_exactly_its_member() -> None:
    m, plain = PriceAdjusted(partial(HoltWintersLog1p, 7)), HoltWintersLog1p(7)
    for qty, _ in _sales_with_discounts(200):
        m.learn_one(qty)
        plain.learn_one(qty)
        m.set_price(None)
    assert m.forecast(14) == plain.forecast(14)
    assert m.beta == 0.0


def test_learns_a_discount_effect_and_beats_its_member_after_discounts() -> None:
    m, plain = PriceAdjusted(partial(RollingMedian, 28)), RollingMedian(28)
    err_m = err_plain = 0.0
    for t, (qty, price) in enumerate(_sales_with_discounts(600)):
        if t > 100:
            err_m += abs(qty - m.forecast_one())
            err_plain += abs(qty - plain.forecast_one())
        m.learn_one(qty)
        plain.learn_one(qty)
        m.set_price(price)
    assert m.beta < -1.0  # cheaper yesterday, more sold today
    assert err_m < 0.8 * err_plain


def test_bad_prices_are_ignored_and_bad_values_rejected() -> None:
    m = PriceAdjusted(partial(RollingMedian, 7))
    for p in (None, 0.0, -1.0, math.nan, math.inf):
        m.set_price(p)
    assert not m.prices and m.x == 0.0
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            m.learn_one(bad)
    assert relative_price(100.0, [1.0]) == 1.0  # clipped


def test_pickle_round_trip_and_determinism_of_the_wrapped_default_model() -> None:
    a, b = (default_model(14, holidays=True, price=True) for _ in range(2))
    for m in (a, b):
        m.forecaster.set_day(15_000)
    for qty, price in _sales_with_discounts(150, seed=3):
        for m in (a, b):
            m.learn_one(qty)
            m.forecaster.set_price(price)
    assert a.forecast().yhat == b.forecast().yhat
    copy = pickle.loads(pickle.dumps(a))
    assert copy.forecast().yhat == a.forecast().yhat
    described = a.forecast().model
    assert described["price_beta"] < 0 and "holiday_factor" in described
