"""The backtest's worker row on the bank: a whole panel is one :class:`~models.bank.ForecasterBank`.

:func:`evaluate_panel_bank` scores the worker's model (``ensemble+holidays``) with the protocol of
:mod:`models.evaluation.backtest_protocol` (same origins, warm-up, horizons, dating and metrics),
but every series of the panel is a row of one bank, all learning a bucket in one step: a full
panel takes seconds instead of the ~45 CPU s of the per-object row (the data loading is extra).
Beside it:

* ``seasonal_naive`` (point forecasts only: its bands are not computed here) gives the scale of
  "rel. sN";
* ``member: <name>``: each of the ensemble's members on its own (their point forecasts, as the
  ensemble saw them at the origin, before the holiday factor), so the scoreboard shows whether
  the ensemble is at least as good as its best member;
* with ``peer=True``, statsforecast's AutoETS refit at every origin
  (:mod:`models.evaluation.peer`).

``regime`` (:class:`~models.evaluation.backtest_protocol.Regime`) sets the horizon, season,
warm-up and step: daily retail by default, monthly and quarterly for the fpp3 panels. The bank
equals the per-object stack, so the row equals the per-object one
(tests/unit/models/evaluation/test_backtest_bank.py).

>>> import random
>>> rng = random.Random(1)
>>> panel = {f"s{i}": [float(rng.random() < 0.4) * (3 + (t % 7)) for t in range(120 + i)]
...          for i in range(3)}
>>> board = evaluate_panel_bank(panel, name="toy", last_day=15_100, members=False)
>>> [row.name for row in board.rows], board.n_series, board.n_origins
(['seasonal_naive', 'ensemble+holidays', 'ensemble+holidays mean'], 3, 24)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from models.bank import ForecasterBank
from models.base import BatchForecast
from models.evaluation.backtest_protocol import DAILY, Regime, origins
from models.evaluation.metrics import Tally, snaive_scale, snaive_scales
from models.evaluation.peer import PEER_NAME, autoets_forecasts
from models.evaluation.scoreboard import BASELINE, Row, Scoreboard

__all__ = ["evaluate_panel_bank", "BANK_ROW", "MEAN_ROW", "MEMBER_ROW"]

BANK_ROW = "ensemble+holidays"
MEAN_ROW = "ensemble+holidays mean"  # the same model's mean forecast (models.bank_mean)
MEMBER_ROW = "member: {}"  # one of the ensemble's members on its own


def evaluate_panel_bank(panel: Mapping[str, Sequence[float]], name: str = "panel",
                        last_day: int | None = None, regime: Regime = DAILY,
                        members: bool = True, peer: bool = False,
                        progress: bool = False,
                        final: list[BatchForecast] | None = None) -> Scoreboard:
    """Score the worker's model on ``panel`` with one bank (see the module docstring).

    Every series ends on ``last_day`` (the epoch day that dates them for the holiday factor;
    None: undated), so series of different lengths start on different days. ``progress``
    shows a bar over the buckets. ``final``, when given, gets the bank's forecast after the
    last bucket (a row per series of ``panel``, in its order).
    """
    codes = list(panel)
    h, season = regime.horizon, regime.season
    ys = [np.asarray(panel[c], dtype=np.float64) for c in codes]
    lens = np.array([len(y) for y in ys])
    span = int(lens.max()) if len(lens) else 0
    start = span - lens  # the global bucket index of each series' first value
    values = np.zeros((len(codes), span))
    for i, y in enumerate(ys):
        values[i, start[i]:] = y
    bank = ForecasterBank(h, season, season2=regime.season2, trend=regime.trend)
    rows = bank.add_rows(len(codes))
    if last_day is not None:
        bank.set_day(rows, last_day - lens + 1)
    names = bank.member_names if members else []
    tallies = {row: [Tally(h) for _ in codes]
               for row in [BASELINE, BANK_ROW, MEAN_ROW, *map(MEMBER_ROW.format, names)]}
    in_sample = [snaive_scales(y.tolist(), season) for y in ys]
    k = np.arange(h)
    cpu, n_origins = 0.0, 0
    steps: Iterable[int] = range(span)
    if progress:
        from rich.progress import track

        steps = track(steps, description=f"backtest {name}", transient=True)
    for g in steps:
        t = g - start
        live = t >= 0
        due = (live & (t >= regime.warmup) & ((t - regime.warmup) % regime.step == 0)
               & (t + h <= lens))
        if due.any():
            at = rows[due]
            t0 = time.process_time()
            f = bank.forecast(at, h)
            cpu += time.process_time() - t0
            paths = bank.members.paths(at, bank.n[at]) if members else None
            for j, i in enumerate(at.tolist()):
                ti = int(t[i])
                y = ys[i][ti : ti + h].tolist()
                scale = in_sample[i][ti]  # its history's seasonal-naive MAE (M4/M5)
                tallies[BANK_ROW][i].add(
                    y, f.yhat[j].tolist(), lo={0.8: f.lo[j].tolist(), 0.95: f.lo95[j].tolist()},
                    hi={0.8: f.hi[j].tolist(), 0.95: f.hi95[j].tolist()}, scale=scale)
                tallies[BASELINE][i].add(y, ys[i][ti - season + k % season].tolist(),
                                         scale=scale)
                assert f.mean is not None and f.lead is not None
                p10, p90 = f.lead[j, 1], f.lead[j, 2]
                tallies[MEAN_ROW][i].add(y, f.mean[j].tolist(), scale=scale,
                                         lead=None if np.isnan(p10) else (float(p10), float(p90)))
                for m, member in enumerate(names):
                    assert paths is not None
                    tallies[MEMBER_ROW.format(member)][i].add(y, paths[j, m].tolist(),
                                                              scale=scale)
                n_origins += 1
        t0 = time.process_time()
        bank.learn(rows[live], values[live, g])
        cpu += time.process_time() - t0
    if final is not None:
        final.append(bank.forecast(rows, h))
    cpus = {BASELINE: 0.0, BANK_ROW: cpu, MEAN_ROW: cpu} | {
        MEMBER_ROW.format(m): 0.0 for m in names}
    if peer:
        tallies[PEER_NAME], cpus[PEER_NAME] = _peer_tallies(ys, in_sample, regime)
    scales = [(snaive_scale(y.tolist(), season), snaive_scale(y.tolist(), season, power=2))
              for y in ys]
    scored = [i for i, t in enumerate(tallies[BANK_ROW]) if t.n]
    base = [tallies[BASELINE][i] for i in scored]
    board_rows = [Row.from_tallies(row, [(ts[i], *scales[i]) for i in scored], cpus[row],
                                   baseline=base) for row, ts in tallies.items()]
    board = Scoreboard(name, len(panel), n_origins, board_rows, bucket=regime.bucket)
    board.meta["models"] = (
        f"{BANK_ROW} on the bank (models.bank); {MEAN_ROW}: its mean forecast (models.bank_mean;"
        " CPU: the same run); seasonal_naive, the mean and the members: point forecasts only "
        "(no bands; the members' CPU is in the ensemble's)"
        + (f"; {PEER_NAME}: refit at every origin" if peer else ""))
    article = "an" if regime.bucket == "hour" else "a"
    board.meta["protocol"] = (f"buckets of {article} {regime.bucket}, h = 1..{h}, season {season}"
                              + (f" (the model's second season: {regime.season2})"
                                 if regime.season2 else "") + ", "
                              f"first origin after {regime.warmup} buckets, then every "
                              f"{regime.step}")
    return board



def _peer_tallies(ys: Sequence[np.ndarray], in_sample: Sequence[Sequence[float | None]],
                  regime: Regime) -> tuple[list[Tally], float]:
    """AutoETS's tallies on the same origins, and its CPU seconds."""
    out, t0 = [], time.process_time()
    for y, scales in zip(ys, in_sample, strict=True):
        at = origins(len(y), regime.horizon, regime.warmup, regime.step)
        fs, _ = autoets_forecasts(y.tolist(), at, regime.horizon, regime.season)
        tally = Tally(regime.horizon)
        for t in at:
            f = fs[t]
            tally.add(y[t : t + regime.horizon].tolist(), f.yhat, lo={0.8: f.lo, 0.95: f.lo95},
                      hi={0.8: f.hi, 0.95: f.hi95}, scale=scales[t])
        out.append(tally)
    return out, time.process_time() - t0
