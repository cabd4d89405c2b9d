"""The backtest's prequential loop: origins every seven days after the warm-up, no look-ahead."""

from __future__ import annotations

from models.evaluation.backtest_protocol import iter_evaluate, origins
from models.evaluation.backtest_zoo import model_zoo
from models.factory import Forecast, SeriesModel


def test_origins_every_seven_days_after_warmup() -> None:
    ys = [float(t % 7) for t in range(100)]
    steps = list(iter_evaluate(ys, {"m": model_zoo()["seasonal_naive"]()}))
    assert [s.origin for s in steps] == [56, 63, 70, 77, 84]  # 84 + 14 <= 100 < 91 + 14
    assert all(s.y == ys[s.origin : s.origin + 14] for s in steps)


class Spy(SeriesModel):
    """Records how many values it had learnt at each forecast."""

    seen_at_forecast: list[int]

    def forecast(self, horizon: int | None = None) -> Forecast:
        self.seen_at_forecast.append(self.n_seen)
        return super().forecast(horizon)


def test_no_look_ahead() -> None:
    m = model_zoo()["tsb"]()
    spy = Spy(m.forecaster, m.interval, m.horizon)
    spy.seen_at_forecast = []
    steps = list(iter_evaluate([1.0] * 90, {"spy": spy}))
    assert spy.seen_at_forecast == [s.origin for s in steps]  # learnt exactly y[:origin]


def test_origins_are_the_loops_origins() -> None:
    for n in (69, 70, 100, 141):
        steps = iter_evaluate([1.0] * n, {"m": model_zoo()["seasonal_naive"]()})
        assert [s.origin for s in steps] == origins(n)
