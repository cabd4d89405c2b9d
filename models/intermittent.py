"""Intermittent-demand forecasting: TSB (Teunter, Syntetos & Babai 2011), online.

Most retail SKUs sell on a minority of days. Croston-type methods split such a series into
*whether* something sells and *how much* when it does. TSB smooths the demand probability
``p`` every period (not only on sales, unlike Croston), so the forecast decays towards zero
for an item that stopped selling (obsolescence)::

    sale (y > 0):   p <- p + beta (1 - p);   z <- z + alpha (y - z)
    no sale:        p <- (1 - beta) p
    forecast(h) = p * z   (flat over the horizon)

Initialisation: until the first sale ``p = z = 0`` (forecast 0); the first sale sets ``z = y``
and ``p`` = the fraction of periods so far with a sale (``1 / n_seen``). Negative values (net
returns) are learnt as no sale. The forecast is the expected demand per period (a mean, not a
median: on very sparse series the MAE-optimal forecast is 0, which a median baseline gives).

>>> m = TSB(alpha=0.2, beta=0.1)
>>> for y in [0, 0, 6, 0, 0, 6, 0, 0, 6] * 10:
...     m.learn_one(y)
>>> [round(v, 2) for v in m.forecast(3)]
[2.21, 2.21, 2.21]
>>> m.describe()["p"] < 0.4
True
"""

from __future__ import annotations

from typing import Any

from models.base import Forecaster, check_horizon, check_range

__all__ = ["TSB"]


class TSB(Forecaster):
    """Teunter-Syntetos-Babai: smoothed demand probability times smoothed demand size.

    ``alpha`` smooths the size of non-zero demands, ``beta`` the probability of a demand.

    >>> m = TSB()
    >>> for y in [5.0] * 10:
    ...     m.learn_one(y)
    >>> m.forecast(2)
    [5.0, 5.0]
    >>> for _ in range(20):  # the item stops selling: the forecast decays geometrically
    ...     m.learn_one(0)
    >>> round(m.forecast_one(), 3)
    1.792
    >>> TSB(beta=0)
    Traceback (most recent call last):
    ...
    ValueError: beta must be in (0, 1], got 0
    """

    name = "tsb"

    def __init__(self, alpha: float = 0.1, beta: float = 0.05) -> None:
        super().__init__()
        check_range("alpha", alpha, 0, 1, lo_open=True)
        check_range("beta", beta, 0, 1, lo_open=True)
        self.alpha = alpha
        self.beta = beta
        self.p = 0.0  # smoothed probability of a sale in a period
        self.z = 0.0  # smoothed size of a sale

    def _params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        if y > 0.0:
            if self.z == 0.0 and self.p == 0.0:  # the first sale
                self.z = y
                self.p = 1.0 / self.n_seen
                return
            self.p += self.beta * (1.0 - self.p)
            self.z += self.alpha * (y - self.z)
        else:
            self.p *= 1.0 - self.beta

    def forecast(self, horizon: int) -> list[float]:
        return [self.p * self.z] * check_horizon(horizon)

    def forecast_one(self) -> float:
        return self.p * self.z

    def describe(self) -> dict[str, float]:
        """The state: demand probability ``p`` and demand size ``z``."""
        return {"p": self.p, "z": self.z}
