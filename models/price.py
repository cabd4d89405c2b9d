"""Price and promotion proxies: a learnt price effect on top of any forecaster.

Online Retail II has a unit price on every line, and a SKU's price moves: price-list changes,
discounts, and (a wholesaler's) lower unit prices on larger orders. :class:`PriceAdjusted`
wraps a member and uses one feature, the **relative price**::

    x = log(last_price / median(the last ``window`` observed prices)),   clipped to [-1, 1]

``x < 0`` is a price below the series' recent median (``x <= log 0.9`` is what the docs call a
promotion proxy: 10% or more below). Only prices seen *before* a value are used to explain it
(:meth:`PriceAdjusted.set_price` is called after :meth:`~PriceAdjusted.learn_one` with the
price seen in that bucket), and a forecast assumes the last known relative price persists:
future prices are not known to the model, so nothing leaks from them. A bucket's realised
price is partly *caused* by its quantity (bulk orders get a lower unit price); using it for the
same bucket would be look-ahead dressed up as a feature.

The effect is an elasticity on the log1p scale, fitted online by exponentially weighted least
squares through the origin, with a ridge prior ``prior`` (in units of ``x**2``) that keeps it
at 0 until prices have moved::

    r      = log1p(y) - log1p(base)            base: the member's one-step forecast of y
    S_xr  <- decay * S_xr + x * r
    S_xx  <- decay * S_xx + x * x
    beta   = S_xr / (S_xx + prior)             clipped to [-max_beta, max_beta]

The member learns the price-neutral value ``expm1(log1p(y) - beta x)``, so a discounted week
does not lift its level; the forecast is the member's path moved by ``beta x``:
``expm1(log1p(v) + beta x)``. With no price ever set the wrapper is exactly its member.

>>> from functools import partial
>>> from models.baselines import RollingMean
>>> m = PriceAdjusted(partial(RollingMean, 7))
>>> price = 10.0
>>> for t in range(300):
...     m.learn_one(20.0 if price == 8.0 else 10.0)  # a discount doubles the next day's sales
...     price = 8.0 if t % 10 == 9 else 10.0  # a 20% discount on every tenth day
...     m.set_price(price)
>>> round(m.beta, 1), [round(v) for v in m.forecast(2)]  # the last price was a discount
(-2.4, [18, 18])

(The true effect is -2.9: ``log1p(20) - log1p(10)`` over ``log 0.8``; the prior shrinks it.)

>>> m.set_price(10.0)
>>> [round(v) for v in m.forecast(1)]
[10]
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from typing import Any

from models.base import Forecaster, check_horizon, check_range, describe_member

__all__ = ["PriceAdjusted", "relative_price"]


def relative_price(price: float, recent: list[float] | deque[float]) -> float:
    """``log(price / median(recent))`` clipped to [-1, 1]; 0 without history or a price.

    >>> round(relative_price(8.0, [10.0, 10.0, 12.0]), 3)
    -0.223
    >>> relative_price(5.0, [])
    0.0
    """
    if price <= 0 or not recent:
        return 0.0
    med = statistics.median(recent)
    if med <= 0:
        return 0.0
    return max(-1.0, min(1.0, math.log(price / med)))


class PriceAdjusted(Forecaster):
    """``make()``'s forecaster with a learnt relative-price effect (see the module docstring).

    ``make`` must pickle (a class or :func:`functools.partial`).

    >>> PriceAdjusted(lambda: None, window=0)
    Traceback (most recent call last):
    ...
    ValueError: window must be an integer in [1, 10000], got 0
    """

    def __init__(self, make: Callable[[], Forecaster], window: int = 28, decay: float = 0.99,
                 prior: float = 0.25, max_beta: float = 3.0, name: str | None = None) -> None:
        super().__init__()
        check_range("window", window, 1, 10_000, integer=True)
        check_range("decay", decay, 0, 1, lo_open=True)
        check_range("prior", prior, 0, 1e6, lo_open=True)
        check_range("max_beta", max_beta, 0, 100)
        self.member = make()
        self.name = name or f"{self.member.name}+price"
        self.window, self.decay, self.prior, self.max_beta = window, decay, prior, max_beta
        self.prices: deque[float] = deque(maxlen=window)  # observed unit prices (> 0)
        self.x = 0.0  # the relative price that explains the next value
        self.sxx = 0.0
        self.sxr = 0.0
        self.beta = 0.0

    def _params(self) -> dict[str, Any]:
        return {"member": self.member, "window": self.window, "decay": self.decay}

    def set_price(self, price: float | None) -> None:
        """The unit price seen in the bucket just learnt (None or <= 0: no sale, no change)."""
        if price is None or not math.isfinite(price) or price <= 0:
            return
        self.x = relative_price(price, self.prices)
        self.prices.append(float(price))

    def set_day(self, day: int) -> None:
        """Passed on to a calendar-aware member (see :mod:`models.calendar`)."""
        set_day = getattr(self.member, "set_day", None)
        if set_day is not None:
            set_day(day)

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        x = self.x
        if x == 0.0:
            self.member.learn_one(y)
            return
        base = self.member.forecast_one()
        zy = math.log1p(max(y, 0.0))
        r = zy - math.log1p(max(base, 0.0))
        d = self.decay
        self.sxx = d * self.sxx + x * x
        self.sxr = d * self.sxr + x * r
        b = self.sxr / (self.sxx + self.prior)
        self.beta = max(-self.max_beta, min(self.max_beta, b))
        self.member.learn_one(max(0.0, math.expm1(zy - self.beta * x)))

    def forecast(self, horizon: int) -> list[float]:
        path = self.member.forecast(check_horizon(horizon))
        shift = self.beta * self.x
        if shift == 0.0:
            return path
        return [max(0.0, math.expm1(math.log1p(max(v, 0.0)) + shift)) for v in path]

    def describe(self) -> dict[str, Any]:
        """The member's description (an ensemble's weights), plus the price effect."""
        return {**describe_member(self.member), "price_beta": round(self.beta, 3),
                "relative_price": round(self.x, 3)}
