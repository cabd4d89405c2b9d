"""Drift-aware reset: restart a member after a level shift, detected on its residuals.

:class:`DriftReset` wraps a forecaster built by ``make`` and feeds river's
:class:`~river.drift.ADWIN` with the member's one-step absolute errors, scaled by their running
mean. When ADWIN detects a change in the error distribution (a level shift makes the member's
errors jump and stay high), the member is rebuilt and re-learns only the values since the
change (the current run of large errors, at most ``max_replay``): a 28-day rolling median no
longer needs four weeks to forget the old level.

>>> from models.baselines import RollingMedian
>>> from functools import partial
>>> m = DriftReset(partial(RollingMedian, 28), name="rolling_median+reset")
>>> for y in [10.0] * 60 + [40.0] * 12:
...     m.learn_one(y)
>>> m.resets >= 1, m.forecast(1)
(True, [40.0])
>>> plain = RollingMedian(28)
>>> for y in [10.0] * 60 + [40.0] * 12:
...     plain.learn_one(y)
>>> plain.forecast(1)
[10.0]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from river.drift import ADWIN

from models.base import Forecaster, check_horizon

__all__ = ["DriftReset"]


class DriftReset(Forecaster):
    """``make()``'s forecaster, rebuilt after a detected change (see the module docstring).

    ``make`` must pickle (a class or :func:`functools.partial`, not a lambda): it is state.
    """

    def __init__(self, make: Callable[[], Forecaster], name: str | None = None,
                 delta: float = 0.002, max_replay: int = 56, min_seen: int = 28) -> None:
        super().__init__()
        self.make, self.delta = make, delta
        self.max_replay, self.min_seen = max_replay, min_seen
        self.member = make()
        self.name = name or f"{self.member.name}+reset"
        self._adwin = self._new_adwin()
        self._recent: deque[float] = deque(maxlen=max_replay)
        self._err_mean = 0.0
        self._run = 0  # consecutive values with an error above twice the usual
        self.resets = 0

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        err = abs(y - self.member.forecast_one())
        scaled = err / (self._err_mean + 1.0)
        self._run = self._run + 1 if scaled > 2.0 else 0
        self._err_mean += (err - self._err_mean) / min(self.n_seen, 100)
        self._adwin.update(scaled)
        self.member.learn_one(y)
        self._recent.append(y)
        if self._adwin.drift_detected and self.n_seen >= self.min_seen:
            since = list(self._recent)[-max(1, min(self._run, len(self._recent))):]
            self.member = self.make()
            for v in since:
                self.member.learn_one(v)
            self._adwin = self._new_adwin()
            self.resets += 1

    def _new_adwin(self) -> ADWIN:
        # check for a change every 4 values (river's default, 32, reacts a month late)
        return ADWIN(delta=self.delta, clock=4, grace_period=7, min_window_length=3)

    def forecast(self, horizon: int) -> list[float]:
        return self.member.forecast(check_horizon(horizon))
