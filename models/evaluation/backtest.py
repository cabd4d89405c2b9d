"""Prequential backtest on Online Retail II: daily series per SKU, every model, one scoreboard.

Protocol (fixed before any run; nothing is tuned on the evaluation period):

* Series and panels: :mod:`models.evaluation.backtest_panels` (net quantity per UTC day per
  StockCode; ``top500``, ``sampled`` and the two tuning panels, the only places defaults were
  chosen).
* Origins every 7 days once a SKU has 56 days of history, while 14 days remain; at each one
  every model forecasts h = 1..14, *then* learns the next value:
  :mod:`models.evaluation.backtest_protocol`.
* Every model is wrapped in a :class:`~models.factory.SeriesModel` with 80%/95% per-horizon
  conformal intervals; ``ensemble`` is :func:`~models.factory.default_model` (its own members):
  :mod:`models.evaluation.backtest_zoo`.
* MASE (RMSSE) per series: the mean absolute (squared) error over its origins and h = 1..14,
  divided by the in-sample seasonal-naive(7) MAE (MSE) of the whole series; then averaged over
  series (series whose scale is 0 are left out). MAE, RMSE, bias, sMAPE and interval coverage
  and width are pooled over all points. CPU time is process time inside each model.

``salescast backtest PANEL [--quick] [--out DIR]`` runs :func:`run_backtest` on the data in the
settings' cache.

>>> import random
>>> rng = random.Random(1)
>>> panel = {f"s{i}": [float(rng.random() < 0.4) * (3 + (t % 7)) for t in range(120)]
...          for i in range(3)}
>>> board = evaluate_panel(panel, name="toy", progress=False)
>>> [row.name for row in board.rows][:2], board.n_series, board.n_origins
(['seasonal_naive', 'rolling_median'], 3, 24)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.evaluation.backtest_panels import daily_panel, last_day, select_panel
from models.evaluation.backtest_protocol import (
    HORIZON,
    LEVELS,
    SEASON,
    Step,
    iter_evaluate,
    origins,
)
from models.evaluation.backtest_zoo import model_zoo
from models.evaluation.metrics import Tally, snaive_scale, snaive_scales
from models.evaluation.peer import PEER_NAME, autoets_forecasts
from models.evaluation.scoreboard import BASELINE, Row, Scoreboard
from models.factory import Forecast, SeriesModel

__all__ = ["evaluate_panel", "run_backtest"]


@dataclass
class _Acc:
    tallies: list[tuple[Tally, float | None, float | None]] = field(default_factory=list)
    cpu: float = 0.0


def evaluate_panel(
    panel: Mapping[str, Sequence[float]],
    name: str = "panel",
    zoo: Mapping[str, Callable[[], SeriesModel]] | None = None,
    progress: bool = True,
    keep: Sequence[str] = (),
    peer: bool = False,
    lstm: Mapping[str, Mapping[int, list[float]]] | None = None,
    last_day: int | None = None,
    prices: Mapping[str, Sequence[float | None]] | None = None,
) -> Scoreboard:
    """Run :func:`iter_evaluate` over every series of ``panel`` and score every model.

    ``keep`` names series whose steps are kept in ``Scoreboard.examples`` (for plots);
    ``peer`` adds the AutoETS batch peer (:mod:`models.evaluation.peer`) at the same origins;
    ``lstm`` (per series, per day: the LSTM's path, from
    :func:`models.neural.lstm_backtest.lstm_paths`) adds the ``lstm`` and ``ensemble+lstm``
    rows. ``last_day`` (the epoch day of every series' last value) dates the series for
    calendar-aware members (UK bank holidays).
    """
    zoo = dict(model_zoo() if zoo is None else zoo)
    if lstm is not None:
        from models.neural.lstm_backtest import lstm_zoo

        zoo.update(lstm_zoo(HORIZON, LEVELS))
    names = list(zoo) + ([PEER_NAME] if peer else [])
    accs = {m: _Acc() for m in names}
    peer_failed = 0
    examples: dict[str, list[Step]] = {}
    n_origins = 0
    items = list(panel.items())
    bar = _progress(items, name) if progress else iter(items)
    for code, ys in bar:
        models = {m: make() for m, make in zoo.items()}
        if last_day is not None:
            for model in models.values():
                set_day = getattr(model.forecaster, "set_day", None)
                if set_day is not None:
                    set_day(last_day - len(ys) + 1)
        tallies = {m: Tally(HORIZON) for m in names}
        cpu: dict[str, float] = {}
        peer_fc: dict[int, Forecast] = {}
        if peer:
            t0 = time.process_time()
            peer_fc, failed = autoets_forecasts(ys, origins(len(ys)), HORIZON, SEASON)
            cpu[PEER_NAME] = time.process_time() - t0
            peer_failed += failed
        hooks = []
        if lstm is not None:
            hooks.append(_lstm_hook(lstm.get(code, {})))
        if prices is not None and code in prices:
            hooks.append(_price_hook(prices[code]))
        hook = _chain(hooks)
        in_sample = snaive_scales(ys, SEASON)  # each origin's MASE scale (M4/M5)
        for st in iter_evaluate(ys, models, cpu, after_learn=hook):
            if peer:
                st.forecasts[PEER_NAME] = peer_fc[st.origin]
            n_origins += 1
            for m, f in st.forecasts.items():
                lo = {0.8: f.lo, 0.95: f.lo95}
                hi = {0.8: f.hi, 0.95: f.hi95}
                tallies[m].add(st.y, f.yhat, lo, hi, scale=in_sample[st.origin])
            if code in keep:
                examples.setdefault(code, []).append(st)
        scale, scale2 = snaive_scale(ys, SEASON), snaive_scale(ys, SEASON, power=2)
        for m in names:
            if tallies[m].n:
                accs[m].tallies.append((tallies[m], scale, scale2))
            accs[m].cpu += cpu.get(m, 0.0)
    base = [t for t, _, _ in accs[BASELINE].tallies] if BASELINE in accs else None
    rows = [Row.from_tallies(m, acc.tallies, acc.cpu, baseline=base)
            for m, acc in accs.items()]
    board = Scoreboard(name, len(panel), n_origins, rows, examples=examples)
    if peer:
        board.meta["AutoETS fits that failed (fell back to a 7-day mean)"] = str(peer_failed)
    return board


def _lstm_hook(paths: Mapping[int, list[float]]
               ) -> Callable[[int, Mapping[str, SeriesModel]], None]:
    from models.neural.lstm_backtest import set_path

    def hook(t: int, models: Mapping[str, SeriesModel]) -> None:
        path = paths.get(t)
        if path is not None:
            for name in ("lstm", "ensemble+lstm"):
                set_path(models[name], path, "backtest")

    return hook


def _price_hook(prices: Sequence[float | None]
                ) -> Callable[[int, Mapping[str, SeriesModel]], None]:
    def hook(t: int, models: Mapping[str, SeriesModel]) -> None:
        for model in models.values():
            set_price = getattr(model.forecaster, "set_price", None)
            if set_price is not None:
                set_price(prices[t])

    return hook


def _chain(hooks: list[Callable[[int, Mapping[str, SeriesModel]], None]]
           ) -> Callable[[int, Mapping[str, SeriesModel]], None] | None:
    """One ``after_learn`` hook calling each of ``hooks`` in turn (None when there are none)."""
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def hook(t: int, models: Mapping[str, SeriesModel]) -> None:
        for h in hooks:
            h(t, models)

    return hook


def _progress(
    items: list[tuple[str, Sequence[float]]], name: str
) -> Iterator[tuple[str, Sequence[float]]]:
    try:
        from rich.progress import track
    except ImportError:  # rich is a dependency of the package; be lenient all the same
        return iter(items)
    return iter(track(items, description=f"backtest {name}", transient=True))


def run_backtest(path: Path, panel: str, quick: bool, out_dir: Path,
                 peer: bool = False, lstm: bool = False, bank: bool = False) -> Scoreboard:
    """Backtest ``panel`` of the data at ``path``; write the scoreboard (and plots) to ``out_dir``.

    Writes ``backtest-{panel}[-quick].md`` and, when matplotlib is installed, PNG plots.
    ``peer`` adds the AutoETS row (slow: a fit per origin and series). ``bank`` scores only
    the worker's model and its members, on the bank (:mod:`models.evaluation.backtest_bank`:
    seconds, not minutes).
    """
    series, prices = daily_panel(path)
    codes = select_panel(series, panel, quick)
    chosen = {c: series[c] for c in codes}
    day = last_day(path)
    if bank:
        from models.evaluation.backtest_bank import evaluate_panel_bank

        board = evaluate_panel_bank(chosen, panel + ("-quick" if quick else "") + "-bank",
                                    last_day=day, peer=peer)
        board.meta |= {"data": Path(path).name, "series in data": str(len(series))}
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        board.write(Path(out_dir), f"backtest-{board.name}")
        return board
    paths, refits = None, list[int]()
    if lstm:
        from models.neural.lstm_backtest import lstm_paths

        t0 = time.process_time()
        day0 = day - (max(len(v) for v in chosen.values()) - 1)
        paths, refits = lstm_paths(chosen, HORIZON, start_weekday=(day0 + 3) % 7)
        lstm_cpu = time.process_time() - t0
    board = evaluate_panel(chosen, panel + ("-quick" if quick else ""), keep=codes[:3],
                           peer=peer, lstm=paths, last_day=day, prices=prices)
    if lstm:
        board.meta["LSTM refits (days into the panel's calendar)"] = " ".join(map(str, refits))
        board.meta["LSTM training + inference CPU s (not in the rows)"] = f"{lstm_cpu:.0f}"
    board.meta = {**board.meta,
        "data": Path(path).name,
        "series in data": str(len(series)),
        "run at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"backtest-{board.name}"
    board.write(out_dir, stem)
    return board
