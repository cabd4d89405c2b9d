"""``salescast bench lstm``: LSTM training time, batched inference latency, memory.

Synthetic daily series (weekly pattern, Poisson noise, per-series level; fixed seed) stand in
for ``series`` SKUs x ``days`` days of closed buckets. It trains the default
:class:`~models.neural.lstm.LSTMConfig` under the trainer's time budget, then times inference of
batches of 1,000 and 10,000 series, next to the reference of the same run: seasonal naive's
forecast of the same batch (numpy), which is what the LSTM has to be worth its cost against.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from models.neural.lstm import History

__all__ = ["run_lstm_bench"]


def _series(n: int, days: int, cls: type[History], seed: int = 0) -> dict[str, History]:
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 0.95, 0.95, 1.05, 1.25, 1.4, 0.55])
    start = 1_600_000_000 - 1_600_000_000 % 86400
    return {f"s{i}": cls(start, 86400, rng.poisson(rng.lognormal(1.5, 1.0)
                                                       * np.resize(week, days)).astype(float))
            for i in range(n)}


def run_lstm_bench(series: int, days: int, budget: float, console: Console) -> None:
    import torch

    from models.neural.lstm import History, LSTMConfig, device, evaluate, predict, train

    proc = psutil.Process(os.getpid())
    hist = _series(series, days, History)
    cfg = LSTMConfig()
    console.print(f"training on {series:,} series x {days} days ({device()}, "
                  f"{torch.get_num_threads()} threads, budget {budget:g} s) ...")
    t0 = time.perf_counter()
    model, report = train(hist, cfg, budget_s=budget, progress=False)
    train_s = time.perf_counter() - t0
    ev = evaluate(model, hist)
    rows = []
    for n in (1_000, 10_000):
        batch = [hist[f"s{i % series}"] for i in range(n)]
        predict(model, batch[:10])  # warm up
        t0 = time.perf_counter()
        predict(model, batch)
        lstm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        last = np.stack([np.asarray(h.values[-7:]) for h in batch])
        np.tile(last, 2)[:, : cfg.horizon]
        naive_s = time.perf_counter() - t0
        rows.append((n, lstm_s, naive_s))
    rss = proc.memory_info().rss
    table = Table(title="salescast bench lstm")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("training windows", f"{report.train_windows:,}")
    table.add_row("epochs run", f"{report.epochs} ({report.stopped or 'all'})")
    table.add_row("training time", f"{train_s:.1f} s (target <= 120 s)")
    table.add_row("held-out MASE: LSTM / seasonal naive", f"{ev.mase:.3f} / {ev.snaive_mase:.3f}")
    table.add_row("held-out 80% band coverage", f"{ev.coverage:.2f}")
    for n, lstm_s, naive_s in rows:
        ratio = lstm_s / max(naive_s, 1e-9)
        table.add_row(f"inference, batch of {n:,}",
                      f"{1000 * lstm_s:.1f} ms ({1e6 * lstm_s / n:.1f} us/series; {ratio:.0f}x "
                      f"seasonal naive's {1000 * naive_s:.2f} ms)")
    table.add_row("process RSS after", f"{rss / 2**20:.0f} MiB")
    console.print(table)
