"""The batch peer of the backtest: statsforecast's AutoETS, refit at every origin.

A forecasting practitioner's default baseline: at each backtest origin (every 7 days) AutoETS
(``season_length=7``, model chosen by AICc) is fitted afresh on the expanding window of
everything before the origin and forecasts h = 1..14 with its own 80% and 95% prediction
intervals. Point forecasts and bounds are clipped at 0 (sales are not negative; the online
models never forecast below 0 either). A fit that fails (degenerate series) falls back to the
last 7-day mean with no width, and is counted.

statsforecast is in the ``bench`` extra; this module imports it only when called.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from models.factory import Forecast

__all__ = ["autoets_forecasts", "PEER_NAME"]

PEER_NAME = "autoets (batch peer)"


def autoets_forecasts(ys: Sequence[float], origins: Sequence[int], horizon: int,
                      season: int = 7) -> tuple[dict[int, Forecast], int]:
    """AutoETS forecasts made at each origin ``t`` from ``ys[:t]``; and the failed fits."""
    import numpy as np
    from statsforecast.models import AutoETS

    out: dict[int, Forecast] = {}
    failed = 0
    y_all = np.asarray(ys, dtype=float)
    for t in origins:
        y = y_all[:t]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = AutoETS(season_length=season).forecast(y=y, h=horizon, level=[80, 95])
            cols = [np.nan_to_num(np.asarray(f[k], dtype=float), nan=0.0)
                    for k in ("mean", "lo-80", "hi-80", "lo-95", "hi-95")]
            if not all(np.isfinite(c).all() for c in cols):
                raise ValueError("non-finite forecast")
        except Exception:  # statsforecast raises assorted errors on degenerate series
            failed += 1
            level = float(np.mean(y[-season:])) if len(y) else 0.0
            cols = [np.full(horizon, level) for _ in range(5)]
        mean, lo80, hi80, lo95, hi95 = (np.maximum(c, 0.0).tolist() for c in cols)
        out[t] = Forecast(mean, lo80, hi80, {"name": PEER_NAME}, lo95, hi95)
    return out, failed
