"""models/evaluation/anomaly_lookalikes.py: days of a real panel that already look injected."""

from __future__ import annotations

import numpy as np

from models.evaluation.anomaly_eval import inject_real
from models.evaluation.anomaly_lookalikes import ceiling, count_lookalikes, ordinary_days


def _busy(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20.0, n).astype(float) + 10.0


def test_a_panel_without_anomalies_has_none() -> None:
    assert count_lookalikes([_busy(300, s).tolist() for s in range(5)]) == {
        "spike": 0, "drop": 0, "level_shift": 0}


def test_every_injected_spike_and_drop_is_a_lookalike_and_a_stockout_one_drop() -> None:
    # an injection meets its own kind's definition: a detector cannot tell them apart
    plain = [_busy(300, s).tolist() for s in range(20)]
    injected, inj = inject_real(plain, seed=1)
    for i in inj:
        want = {"spike": 1 if i.kind == "spike" else 0,
                "drop": 1 if i.kind in ("drop", "stockout") else 0}
        got = count_lookalikes([injected[i.series]])
        assert {k: got[k] for k in want} == want, i


def test_a_shift_is_counted_once_however_many_days_it_shows() -> None:
    y = np.concatenate([_busy(200, 0), 3.0 * _busy(100, 1)])
    assert count_lookalikes([y.tolist()])["level_shift"] == 1


def test_closure_days_are_left_out() -> None:
    panel = np.vstack([_busy(300, s) for s in range(40)])
    panel[:, 200:203] = 0.0  # the whole shop closed: not 40 drops
    grid = panel.copy()
    assert not ordinary_days(grid)[200:203].any()
    assert count_lookalikes(panel.tolist())["drop"] == 0


def test_ceiling() -> None:
    assert ceiling(100, 0) == 1.0 and ceiling(0, 0) == 1.0 and ceiling(91, 2109) < 0.05
