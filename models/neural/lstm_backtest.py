"""The LSTM in the prequential backtest, with periodic retraining simulated in time order.

The panel's series all end on the data's last day, so they share one calendar. Every
``refit`` days from ``first_fit`` on, a global LSTM is trained on the panel truncated to the
days *before* that refit point (no look-ahead: its held-out window is the last part of that
past too). Each day, every series gets the latest model's forecast of the next ``horizon``
days from its history up to and including that day (one batched forward pass per day).

Two rows join the scoreboard: ``lstm`` (the LSTM alone, with the same conformal intervals as
every model) and ``ensemble+lstm`` (:func:`~models.factory.default_model` with ``lstm=True``:
the LSTM blended with the online ensemble, weights earned online), next to ``ensemble``.
Before the first refit both follow their fallbacks (the online ensemble).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from models.conformal import ConformalInterval
from models.external import ExternalPath
from models.factory import LstmBlend, SeriesModel, default_model
from models.horizon import HorizonEnsemble
from models.neural.lstm import History, LSTMConfig, predict, train

__all__ = ["lstm_paths", "lstm_zoo", "set_path", "PathHook"]

DAY = 86400
T0 = 0  # day 0 of the shared calendar (only the day of week matters: a Thursday)

#: (series, day index in the series) -> the LSTM's path for the days after it, if any
PathHook = Callable[[str, int], list[float] | None]


def lstm_paths(panel: Mapping[str, Sequence[float]], horizon: int = 14, refit: int = 91,
               first_fit: int = 150, cfg: LSTMConfig | None = None, budget_s: float = 60.0,
               start_weekday: int = 0) -> tuple[dict[str, dict[int, list[float]]], list[int]]:
    """Per series, per day index: the path of the model of the latest refit before that day.

    Returns the paths and the refit days (on the shared calendar).
    """
    cfg = cfg or LSTMConfig(horizon=horizon)
    total = max(len(ys) for ys in panel.values())
    offset = {code: total - len(ys) for code, ys in panel.items()}  # calendar day of index 0
    start = (start_weekday - 3) % 7 * DAY  # bucket 0's start, so dow() says start_weekday
    refits = list(range(first_fit, total, refit))
    out: dict[str, dict[int, list[float]]] = {code: {} for code in panel}
    for r_i, r in enumerate(refits):
        past = {}
        for code, ys in panel.items():
            i = r - offset[code]
            if i >= cfg.window + 2 * cfg.horizon:
                past[code] = History(start + offset[code] * DAY, DAY, np.asarray(ys[:i]))
        if len(past) < 5:
            continue
        model, _ = train(past, cfg, budget_s=budget_s, progress=False)
        end = refits[r_i + 1] if r_i + 1 < len(refits) else total
        for day in range(r, end):
            codes = [c for c in panel if day - offset[c] >= 14]
            hists = [History(start + offset[c] * DAY, DAY,
                             np.asarray(panel[c][: day - offset[c] + 1])) for c in codes]
            if not hists:
                continue
            q = predict(model, hists)
            mid = q.shape[2] // 2
            for c, path in zip(codes, q[:, :, mid].tolist(), strict=True):
                out[c][day - offset[c]] = path[:horizon]
    return out, refits


def lstm_zoo(horizon: int, levels: tuple[float, ...]) -> dict[str, Callable[[], SeriesModel]]:
    """The two LSTM rows' model factories (their paths are set by the backtest's hook)."""

    def alone() -> SeriesModel:
        online = default_model(horizon).forecaster
        assert isinstance(online, HorizonEnsemble)
        return SeriesModel(ExternalPath(online, owns_fallback=True),
                           ConformalInterval(horizon, levels), horizon)

    return {"lstm": alone, "ensemble+lstm": lambda: default_model(horizon, lstm=True)}


def set_path(model: SeriesModel, path: list[float], version: str) -> None:
    """Hand ``path`` to a model of :func:`lstm_zoo` (either kind)."""
    fc = model.forecaster
    if isinstance(fc, LstmBlend):
        fc.set_lstm_path(path, version)
    elif isinstance(fc, ExternalPath):
        fc.set_path(path, version)
