"""Prequential backtest on Online Retail II: daily series per SKU, every model, one scoreboard.

Protocol (fixed before any run; nothing is tuned on the evaluation period):

* Series: net quantity per UTC day per StockCode, zeros for days without a sale, from the SKU's
  first day with a positive net quantity to the last day of the data (:func:`daily_series`).
* Panels (:func:`select_panel`): ``"top500"``, the 500 SKUs with the largest total net
  quantity; ``"sampled"``, 500 SKUs drawn with ``random.Random(seed)`` (seed 0) from those
  with >= 100 selling days. ``quick=True`` keeps the first 50 of the panel. ``"tuning"``: 100
  SKUs with >= 50 selling days in neither panel (seed 1), and ``"tuning_top"``, the 100 SKUs
  with the largest volume in neither panel: the only places defaults were chosen.
* Origins every 7 days once a SKU has 56 days of history, while 14 days remain. At an
  origin each model forecasts h = 1..14 from what it has learnt so far, *then* learns the
  next value (:func:`iter_evaluate`): strictly in time order, no look-ahead.
* Every model is wrapped in a :class:`~models.factory.SeriesModel` with 80%/95% per-horizon
  conformal intervals; ``ensemble`` is :func:`~models.factory.default_model` (its own members).
* MASE (RMSSE) per series: the mean absolute (squared) error over its origins and h = 1..14,
  divided by the in-sample seasonal-naive(7) MAE (MSE) of the whole series; then averaged over
  series (series whose scale is 0 are left out). MAE, RMSE, bias, sMAPE and interval coverage
  and width are pooled over all points. CPU time is process time inside each model.

>>> import random
>>> rng = random.Random(1)
>>> panel = {f"s{i}": [float(rng.random() < 0.4) * (3 + (t % 7)) for t in range(120)]
...          for i in range(3)}
>>> board = evaluate_panel(panel, name="toy", progress=False)
>>> [row.name for row in board.rows][:2], board.n_series, board.n_origins
(['seasonal_naive', 'rolling_median'], 3, 24)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from models.base import Forecaster
from models.baselines import RollingMean, RollingMedian, SeasonalNaive
from models.calendar import HolidayAdjusted, MonthAdjusted
from models.conformal import ConformalInterval
from models.drift import DriftReset
from models.factory import Forecast, SeriesModel, default_model
from models.horizon import HorizonEnsemble
from models.intermittent import TSB
from models.metrics import Tally, snaive_scale
from models.online import HoltWintersLog1p
from models.peer import PEER_NAME, autoets_forecasts
from models.price import PriceAdjusted
from models.scoreboard import Row, Scoreboard
from models.snarimax import ScaledSNARIMAX

__all__ = [
    "HORIZON",
    "LEVELS",
    "PANELS",
    "Step",
    "daily_panel",
    "daily_series",
    "evaluate_panel",
    "iter_evaluate",
    "model_zoo",
    "run_backtest",
    "select_panel",
]

HORIZON, WARMUP, STEP, SEASON, LEVELS = 14, 56, 7, 7, (0.8, 0.95)
PANEL_SIZE, QUICK_SIZE, MIN_SELLING_DAYS, SEED = 500, 50, 100, 0
PANELS = ("top500", "sampled", "tuning", "tuning_top")  # the last two only choose defaults
DAY = 86400


def _wrap(forecaster: Forecaster) -> SeriesModel:
    return SeriesModel(forecaster, ConformalInterval(HORIZON, LEVELS), HORIZON)


def model_zoo() -> dict[str, Callable[[], SeriesModel]]:
    """Name -> factory of a fresh model, every one with the same conformal intervals."""
    return {
        "seasonal_naive": lambda: _wrap(SeasonalNaive(SEASON)),
        "rolling_median": lambda: _wrap(RollingMedian(28)),
        "rolling_mean": lambda: _wrap(RollingMean(28)),
        "holt_winters_log1p": lambda: _wrap(HoltWintersLog1p(SEASON)),
        "tsb": lambda: _wrap(TSB()),
        "snarimax": lambda: _wrap(ScaledSNARIMAX(SEASON)),
        "rolling_median+reset": lambda: _wrap(DriftReset(partial(RollingMedian, 28))),
        "holt_winters_log1p+reset": lambda: _wrap(DriftReset(partial(HoltWintersLog1p, SEASON))),
        "rolling_median+holidays": lambda: _wrap(HolidayAdjusted(partial(RollingMedian, 28))),
        "holt_winters_log1p+holidays": lambda: _wrap(
            HolidayAdjusted(partial(HoltWintersLog1p, SEASON))),
        "ensemble_v1+holidays": _ensemble_v1,
        "ensemble": lambda: default_model(HORIZON, SEASON),
        "ensemble+holidays": lambda: default_model(HORIZON, SEASON, holidays=True),
        "ensemble+holidays+month": lambda: _wrap(MonthAdjusted(
            lambda: default_model(HORIZON, SEASON, holidays=True).forecaster,
            name="ensemble+holidays+month")),
        "rolling_median+price": lambda: _wrap(PriceAdjusted(partial(RollingMedian, 28))),
        "holt_winters_log1p+price": lambda: _wrap(
            PriceAdjusted(partial(HoltWintersLog1p, SEASON))),
        "ensemble+holidays+price": lambda: default_model(
            HORIZON, SEASON, holidays=True, price=True),
    }


def _ensemble_v1() -> SeriesModel:
    """The worker's model until 2026-11-24 (four members: seasonal naive, one rolling median,
    Holt-Winters, TSB), kept as a row to compare with."""
    def make() -> Forecaster:
        members = [SeasonalNaive(SEASON), RollingMedian(28), HoltWintersLog1p(SEASON), TSB()]
        return HorizonEnsemble(members, HORIZON, power=2.0, combine="median")

    return _wrap(HolidayAdjusted(make, name="ensemble_v1+holidays"))


def daily_series(path: Path) -> dict[str, list[float]]:
    """Net quantity per UTC day per StockCode (see the module docstring), by StockCode."""
    return daily_panel(path)[0]


def daily_panel(path: Path) -> tuple[dict[str, list[float]], dict[str, list[float | None]]]:
    """:func:`daily_series` and, aligned with it, each day's unit price: the quantity-weighted
    mean price of the day's sales lines (None on a day without a sale)."""
    from sources.online_retail import iter_events

    days: dict[str, dict[int, float]] = {}
    sold: dict[str, dict[int, tuple[float, float]]] = {}  # day -> (qty, qty * price) of sales
    last = 0
    for e in iter_events(Path(path)):
        d = int(e.ts // DAY)
        per = days.setdefault(e.series, {})
        per[d] = per.get(d, 0.0) + e.qty
        if e.qty > 0 and e.price > 0:
            q, v = sold.setdefault(e.series, {}).get(d, (0.0, 0.0))
            sold[e.series][d] = (q + e.qty, v + e.qty * e.price)
        last = max(last, d)
    out, prices = {}, {}
    for code, per in days.items():
        selling = [d for d, q in per.items() if q > 0]
        if selling:
            first = min(selling)
            out[code] = [float(per.get(d, 0.0)) for d in range(first, last + 1)]
            paid = sold.get(code, {})
            prices[code] = [paid[d][1] / paid[d][0] if d in paid else None
                            for d in range(first, last + 1)]
    return out, prices


def select_panel(
    series: Mapping[str, Sequence[float]], panel: str, quick: bool = False, seed: int = SEED
) -> list[str]:
    """The StockCodes of ``panel`` (one of :data:`PANELS`), in a fixed order."""
    if panel not in PANELS:
        valid = ", ".join(map(repr, PANELS[:-1])) + f" or {PANELS[-1]!r}"
        raise ValueError(f"panel must be {valid}, got {panel!r}")
    def by_volume() -> list[str]:
        return sorted(series, key=lambda c: (-sum(series[c]), c))

    if panel == "top500":
        codes = by_volume()[:PANEL_SIZE]
    elif panel == "sampled":
        pool = sorted(c for c, ys in series.items() if sum(y > 0 for y in ys) >= MIN_SELLING_DAYS)
        codes = random.Random(seed).sample(pool, min(PANEL_SIZE, len(pool)))
    else:  # the tuning panels: disjoint from both scored panels, never scored
        taken = set(select_panel(series, "top500")) | set(select_panel(series, "sampled"))
        if panel == "tuning":
            pool = sorted(
                c
                for c, ys in series.items()
                if c not in taken and sum(y > 0 for y in ys) >= MIN_SELLING_DAYS // 2
            )
            codes = random.Random(seed + 1).sample(pool, min(QUICK_SIZE * 2, len(pool)))
        else:  # "tuning_top": the next 100 SKUs by volume
            codes = [c for c in by_volume() if c not in taken][: QUICK_SIZE * 2]
    return codes[:QUICK_SIZE] if quick else codes


@dataclass
class Step:
    """One origin of one series: the actuals of h = 1..H and each model's forecast."""

    origin: int
    y: list[float]
    forecasts: dict[str, Forecast]


def iter_evaluate(
    ys: Sequence[float],
    models: Mapping[str, SeriesModel],
    cpu: dict[str, float] | None = None,
    horizon: int = HORIZON,
    warmup: int = WARMUP,
    step: int = STEP,
    after_learn: Callable[[int, Mapping[str, SeriesModel]], None] | None = None,
) -> Iterator[Step]:
    """Prequential loop over one series: forecast at each origin, then learn, in time order.

    Like river's ``evaluate.iter_evaluate`` for forecasting; ``cpu`` accumulates each model's
    process time (learning and forecasting).
    """
    clock = time.process_time
    cpu = {} if cpu is None else cpu
    for t, y in enumerate(ys):
        if t >= warmup and (t - warmup) % step == 0 and t + horizon <= len(ys):
            forecasts = {}
            for name, m in models.items():
                t0 = clock()
                forecasts[name] = m.forecast(horizon)
                cpu[name] = cpu.get(name, 0.0) + clock() - t0
            yield Step(t, list(ys[t : t + horizon]), forecasts)
        for name, m in models.items():
            t0 = clock()
            m.learn_one(y)
            cpu[name] = cpu.get(name, 0.0) + clock() - t0
        if after_learn is not None:  # e.g. hand the LSTM's new path to the models that use it
            after_learn(t, models)


@dataclass
class _Acc:
    tallies: list[tuple[Tally, float | None, float | None]] = field(default_factory=list)
    cpu: float = 0.0


def origins(n: int, horizon: int = HORIZON, warmup: int = WARMUP, step: int = STEP) -> list[int]:
    """The backtest origins of a series of ``n`` values (as :func:`iter_evaluate` uses them).

    >>> origins(80)
    [56, 63]
    """
    return [t for t in range(warmup, n - horizon + 1, step)]


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
    ``peer`` adds the AutoETS batch peer (:mod:`models.peer`) at the same origins; ``lstm``
    (per series, per day: the LSTM's path, from :func:`models.lstm_backtest.lstm_paths`) adds
    the ``lstm`` and ``ensemble+lstm`` rows. ``last_day`` (the epoch day of every series'
    last value) dates the series for calendar-aware members (UK bank holidays).
    """
    zoo = dict(model_zoo() if zoo is None else zoo)
    if lstm is not None:
        from models.lstm_backtest import lstm_zoo

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
        for st in iter_evaluate(ys, models, cpu, after_learn=hook):
            if peer:
                st.forecasts[PEER_NAME] = peer_fc[st.origin]
            n_origins += 1
            for m, f in st.forecasts.items():
                lo = {0.8: f.lo, 0.95: f.lo95}
                hi = {0.8: f.hi, 0.95: f.hi95}
                tallies[m].add(st.y, f.yhat, lo, hi)
            if code in keep:
                examples.setdefault(code, []).append(st)
        scale, scale2 = snaive_scale(ys, SEASON), snaive_scale(ys, SEASON, power=2)
        for m in names:
            if tallies[m].n:
                accs[m].tallies.append((tallies[m], scale, scale2))
            accs[m].cpu += cpu.get(m, 0.0)
    rows = [Row.from_tallies(m, acc.tallies, acc.cpu) for m, acc in accs.items()]
    board = Scoreboard(name, len(panel), n_origins, rows, examples=examples)
    if peer:
        board.meta["AutoETS fits that failed (fell back to a 7-day mean)"] = str(peer_failed)
    return board


def _lstm_hook(paths: Mapping[int, list[float]]
               ) -> Callable[[int, Mapping[str, SeriesModel]], None]:
    from models.lstm_backtest import set_path

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
    the worker's model, on the bank (:mod:`models.backtest_bank`: seconds, not minutes).
    """
    series, prices = daily_panel(path)
    codes = select_panel(series, panel, quick)
    chosen = {c: series[c] for c in codes}
    if bank:
        from models.backtest_bank import evaluate_panel_bank

        board = evaluate_panel_bank(chosen, panel + ("-quick" if quick else "") + "-bank",
                                    last_day=_last_day(path))
        board.meta |= {"data": Path(path).name, "series in data": str(len(series))}
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        board.write(Path(out_dir), f"backtest-{board.name}")
        return board
    paths, refits = None, list[int]()
    if lstm:
        from models.lstm_backtest import lstm_paths

        t0 = time.process_time()
        day0 = _last_day(path) - (max(len(v) for v in chosen.values()) - 1)
        paths, refits = lstm_paths(chosen, HORIZON, start_weekday=(day0 + 3) % 7)
        lstm_cpu = time.process_time() - t0
    board = evaluate_panel(chosen, panel + ("-quick" if quick else ""), keep=codes[:3],
                           peer=peer, lstm=paths, last_day=_last_day(path), prices=prices)
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


def _last_day(path: Path) -> int:
    """The epoch day of the data's last event: every daily series ends on it."""
    from sources.online_retail import iter_events

    last = 0.0
    for e in iter_events(Path(path)):
        last = max(last, e.ts)
    return int(last // DAY)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m models.backtest PANEL [--quick] [--out DIR] [--data DIR]``."""
    import argparse

    from sources.online_retail import fetch_dataset

    ap = argparse.ArgumentParser(prog="python -m models.backtest", description=__doc__)
    ap.add_argument("panel", choices=PANELS)
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_SIZE} SKUs only")
    ap.add_argument("--out", type=Path, default=Path("backtest-out"))
    ap.add_argument("--data", type=Path, default=Path("~/.cache/salescast/data").expanduser())
    args = ap.parse_args(argv)
    board = run_backtest(fetch_dataset(args.data), args.panel, args.quick, args.out)
    print(board.to_markdown())


if __name__ == "__main__":
    main()
