"""A worker restarted with other model settings finds rows saved with the old ones.

An hourly worker with a horizon of 12 saves its series' model rows in the changelog; restarted
with a horizon of 18, it reads them back. A row of the old settings has exactly the length of
a row of the new settings' layout before the weekly season (models.bank_upgrade), and before
models/bank_check.py the worker died on it with a segmentation fault. Now each such series
starts a fresh model (a warning in the log), keeps its counts and history, and every event is
counted once (the audit).
"""

from __future__ import annotations

import calendar
import random

import pytest

from contracts.events import SaleEvent
from infra.procs import salescast_cmd, spawn

pytestmark = pytest.mark.integration

MONDAY = calendar.timegm((2021, 1, 4, 0, 0, 0))
SERIES = [f"H{i}" for i in range(6)]


def _events(hours: range, seed: int) -> list[SaleEvent]:
    rng = random.Random(seed)
    out = []
    for hour in hours:
        if 9 <= hour % 24 < 17:
            for sid in SERIES:
                out.append(SaleEvent(sid, MONDAY + hour * 3600 + rng.randrange(3600),
                                     rng.randint(1, 4), 1.5))
    return sorted(out, key=lambda e: e.ts)


def test_a_restart_with_another_horizon_starts_fresh_models_and_counts_every_event(
        pipeline) -> None:
    pipeline.settings = pipeline.settings.model_copy(update={"bucket_seconds": 3600})

    def worker(horizon: int):  # type: ignore[no-untyped-def]
        env = {**pipeline.env(), "SALESCAST_HORIZON": str(horizon), "SALESCAST_LSTM": "0"}
        proc = spawn(salescast_cmd("worker", "--loglevel", "info"), env,
                     pipeline.logs / f"worker-h{horizon}.log")
        pipeline.workers.append(proc)
        return proc

    first, second = _events(range(0, 10 * 24), 3), _events(range(10 * 24, 14 * 24), 4)
    pipeline.produce([(e.series.encode(), e.to_json()) for e in first])
    old = worker(12)
    counted = {sid: sum(1 for e in first if e.series == sid) for sid in SERIES}
    pipeline.wait_for(lambda: all((pipeline.snapshot(sid) or {}).get("events") == n
                                  for sid, n in counted.items()), 120, "the first days")
    assert all(len(pipeline.snapshot(sid)["forecast"]["yhat"]) == 12 for sid in SERIES)
    assert pipeline.stop_worker(old) == 0  # its states, model rows included, are flushed

    pipeline.produce([(e.series.encode(), e.to_json()) for e in second])
    new = worker(18)
    for e in second:
        counted[e.series] += 1
    pipeline.wait_for(lambda: all((pipeline.snapshot(sid) or {}).get("events") == n
                                  for sid, n in counted.items()), 120, "every event")
    assert new.poll() is None  # alive: no crash on the old rows
    assert pipeline.reconciled()  # every event counted once
    for sid in SERIES:
        snap = pipeline.snapshot(sid)
        assert snap is not None and len(snap["forecast"]["yhat"]) == 18
        assert len(snap["actuals"]) == 120  # a full history (SALESCAST_HISTORY) survived
    log = (pipeline.logs / "worker-h18.log").read_text(errors="replace")
    assert "its model row cannot be loaded" in log
