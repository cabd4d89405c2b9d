"""One global PyTorch LSTM across all series: direct multi-horizon quantile forecasts.

Every series is cut into windows of ``window`` closed buckets (inputs) followed by ``horizon``
buckets (targets). Values go through ``log1p`` and are divided by the window's mean log1p plus
one (per-series, per-window scaling: a SKU selling 2 a day and one selling 2,000 look alike);
each step also carries the day of week of its bucket (one-hot). The LSTM's last hidden state
feeds one linear layer that outputs every horizon's quantiles at once (``quantiles``, default
10/50/90%), trained with the pinball loss; the median is the point forecast, the outer quantiles
an 80% band. Windows from every series train the same weights.

Training is time-ordered: the last ``horizon`` buckets of every series are held out (the
validation window) and no training target reaches into them; early stopping watches the
validation loss; seeds are fixed; a wall-time budget stops training early, keeping the best
epoch. :func:`evaluate` scores a model on the held-out windows (MASE against the in-sample
seasonal naive, and that of seasonal naive and of a forecast of 0 on the same windows), which
is what the evaluation gate compares. torch is in the ``lstm`` extra; nothing else in
salescast imports this module unless the LSTM is used.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> week = np.array([5, 5, 6, 7, 9, 12, 2], dtype=float)
>>> hist = {f"s{i}": History(0, 86400, np.tile(week * (1 + i % 3), 20)) for i in range(12)}
>>> model, report = train(hist, LSTMConfig(epochs=3, hidden=8), progress=False)
>>> report.epochs >= 1 and report.best_val_loss < report.first_val_loss
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from models.grid import is_calendar, shift, utc_offset

__all__ = ["LSTMConfig", "History", "GlobalLSTM", "TrainReport", "train", "predict",
           "evaluate", "FEATURES", "device"]

FEATURES = 1 + 7  # scaled log1p value, day-of-week one-hot
DAY = 86400


@dataclass(frozen=True)
class LSTMConfig:
    """Architecture and training settings (stored with every artifact)."""

    window: int = 56
    horizon: int = 14
    hidden: int = 32
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    epochs: int = 20
    batch: int = 256
    lr: float = 3e-3
    patience: int = 3
    stride: int = 7
    max_windows: int = 200_000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LSTMConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "quantiles" in known:
            known["quantiles"] = tuple(known["quantiles"])
        return cls(**known)


@dataclass(frozen=True)
class History:
    """A series' consecutive closed buckets: the first bucket's start, the width, the values."""

    start: int
    width: int
    values: np.ndarray

    def dow(self, n: int, offset: int = 0) -> np.ndarray:
        """Day of week (Monday 0) of buckets ``offset .. offset + n - 1``."""
        if is_calendar(self.width):  # months, quarters: the weekday of their first day
            starts = np.array([shift(self.start, offset + i, self.width) for i in range(n)])
        else:
            starts = self.start + (offset + np.arange(n)) * self.width
        return (((starts + utc_offset()) // DAY + 3) % 7).astype(np.int64)  # shop days; 1/1/70: Thu


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GlobalLSTM(nn.Module):
    """LSTM encoder over the input window, linear head to ``horizon x len(quantiles)``."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(FEATURES, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, config.horizon * len(config.quantiles))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        out = self.head(h[-1])
        return out.view(-1, self.config.horizon, len(self.config.quantiles))


def _inputs(values: np.ndarray, dows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[n, window, FEATURES]`` inputs and ``[n]`` scales from ``[n, window]`` values."""
    logv = np.log1p(np.maximum(values, 0.0))
    scale = logv.mean(axis=1) + 1.0
    x = np.zeros((*values.shape, FEATURES), dtype=np.float32)
    x[..., 0] = logv / scale[:, None]
    np.put_along_axis(x, 1 + dows[..., None], 1.0, axis=2)
    return x, scale


def _windows(hist: Mapping[str, History], cfg: LSTMConfig, end_offset: int,
             stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows whose targets end at least ``end_offset`` buckets before each series' end."""
    w, h = cfg.window, cfg.horizon
    vals, dows, targets = [], [], []
    for hs in hist.values():
        v = np.asarray(hs.values, dtype=np.float64)
        last_end = len(v) - end_offset  # exclusive end of the last usable target
        for end in range(last_end, w + h - 1, -stride):
            s = end - h - w
            if s < 0:
                break
            vals.append(v[s : s + w])
            dows.append(hs.dow(w, s))
            targets.append(v[s + w : end])
    if not vals:
        empty = np.zeros((0, w, FEATURES), dtype=np.float32)
        return empty, np.zeros((0, h), dtype=np.float32), np.zeros(0)
    x, scale = _inputs(np.array(vals), np.array(dows))
    y = (np.log1p(np.maximum(np.array(targets), 0.0)) / scale[:, None]).astype(np.float32)
    return x, y, scale


def _pinball(pred: torch.Tensor, y: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
    diff = y.unsqueeze(-1) - pred
    return torch.maximum(qs * diff, (qs - 1.0) * diff).mean()


@dataclass
class TrainReport:
    """What training did: epochs run, losses, windows, time."""

    epochs: int = 0
    first_val_loss: float = math.inf
    best_val_loss: float = math.inf
    train_windows: int = 0
    val_windows: int = 0
    seconds: float = 0.0
    stopped: str = ""
    losses: list[float] = field(default_factory=list)


def train(hist: Mapping[str, History], cfg: LSTMConfig | None = None, budget_s: float = 120.0,
          progress: bool = True,
          on_epoch: Callable[[int, float, float], None] | None = None,
          ) -> tuple[GlobalLSTM, TrainReport]:
    """Train a model on ``hist`` (series id -> :class:`History`), time-ordered (see above)."""
    cfg = cfg or LSTMConfig()
    started = time.monotonic()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    xtr, ytr, _ = _windows(hist, cfg, cfg.horizon, cfg.stride)
    xva, yva, _ = _windows(hist, cfg, 0, 10**9)  # one window per series: the held-out tail
    if len(xtr) == 0 or len(xva) == 0:
        raise ValueError(f"not enough history: need series of >= {cfg.window + 2 * cfg.horizon} "
                         "closed buckets")
    if len(xtr) > cfg.max_windows:
        keep = rng.choice(len(xtr), cfg.max_windows, replace=False)
        xtr, ytr = xtr[keep], ytr[keep]
    dev = device()
    model = GlobalLSTM(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    qs = torch.tensor(cfg.quantiles, dtype=torch.float32, device=dev)
    xt, yt = torch.from_numpy(xtr).to(dev), torch.from_numpy(ytr).to(dev)
    xv, yv = torch.from_numpy(xva).to(dev), torch.from_numpy(yva).to(dev)
    report = TrainReport(train_windows=len(xtr), val_windows=len(xva))
    best: dict[str, torch.Tensor] | None = None
    bad = 0
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xt))).to(dev)
        over = False
        for i in range(0, len(xt), cfg.batch):
            # out of time: stop, keeping the best (60 s budgets ran 84-184 s when it was
            # looked at once an epoch); a first epoch cut short is scored as it is
            if i > 0 and time.monotonic() - started > budget_s:
                over = True
                break
            idx = order[i : i + cfg.batch]
            opt.zero_grad()
            loss = _pinball(model(xt[idx]), yt[idx], qs)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if over and best is not None:
            report.stopped = f"time budget of {budget_s:g} s reached"
            break
        model.eval()
        with torch.no_grad():
            val = float(_pinball(model(xv), yv, qs))
        report.epochs = epoch + 1
        report.losses.append(val)
        if epoch == 0:
            report.first_val_loss = val
        if on_epoch is not None:
            on_epoch(epoch + 1, loss.item(), val)
        if val < report.best_val_loss - 1e-6:
            report.best_val_loss, bad = val, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                report.stopped = f"early stop after {bad} epochs without improvement"
                break
        if time.monotonic() - started > budget_s:
            report.stopped = f"time budget of {budget_s:g} s reached"
            break
    if best is not None:
        model.load_state_dict(best)
    report.seconds = time.monotonic() - started
    model.eval()
    return model.cpu(), report


def predict(model: GlobalLSTM, hists: Sequence[History]) -> np.ndarray:
    """Quantile forecasts ``[n, horizon, len(quantiles)]`` for the buckets after each history.

    Histories shorter than the window are left-padded with zeros.
    """
    cfg = model.config
    w = cfg.window
    if not hists:
        return np.zeros((0, cfg.horizon, len(cfg.quantiles)))
    vals = np.zeros((len(hists), w))
    dows = np.zeros((len(hists), w), dtype=np.int64)
    for i, hs in enumerate(hists):
        v = np.asarray(hs.values[-w:], dtype=np.float64)
        vals[i, w - len(v):] = v
        dows[i] = hs.dow(w, len(hs.values) - w)
    x, scale = _inputs(vals, dows)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy().astype(np.float64)
    out = np.sort(out, axis=2)  # quantiles never cross
    return np.maximum(np.expm1(out * scale[:, None, None]), 0.0)


@dataclass(frozen=True)
class Evaluation:
    """Scores on the held-out windows: MASE of the model and of seasonal naive (same windows)."""
    mase: float
    snaive_mase: float
    coverage: float
    series: int
    zero_mase: float = math.nan  # a forecast of 0 on the same windows

    def to_dict(self) -> dict[str, float]:
        return {"mase": round(self.mase, 4), "snaive_mase": round(self.snaive_mase, 4),
                "zero_mase": round(self.zero_mase, 4), "coverage": round(self.coverage, 4),
                "series": self.series}


def evaluate(model: GlobalLSTM, hist: Mapping[str, History], season: int = 7) -> Evaluation:
    """Score ``model`` on the last ``horizon`` buckets of every series (held out in training)."""
    h = model.config.horizon
    inputs, actual, scales, naive = [], [], [], []
    for hs in hist.values():
        v = np.asarray(hs.values, dtype=np.float64)
        if len(v) < h + 2 * season:
            continue
        past = v[:-h]
        scale = float(np.mean(np.abs(past[season:] - past[:-season])))
        if scale <= 0:
            continue
        inputs.append(History(hs.start, hs.width, past))
        actual.append(v[-h:])
        scales.append(scale)
        naive.append(np.resize(past[-season:], h))
    if not inputs:
        raise ValueError("no series long enough to evaluate on")
    q = predict(model, inputs)
    mid = len(model.config.quantiles) // 2
    act = np.array(actual)
    mase = np.mean(np.abs(q[:, :, mid] - act).mean(axis=1) / scales)
    snaive = np.mean(np.abs(np.array(naive) - act).mean(axis=1) / scales)
    zero = np.mean(np.abs(act).mean(axis=1) / scales)
    inside = (act >= q[:, :, 0]) & (act <= q[:, :, -1])
    return Evaluation(float(mase), float(snaive), float(inside.mean()), len(inputs), float(zero))
