"""Hot swap of the LSTM under a running worker: the version reaches the forecast payloads
without a restart and without losing an event; a corrupt artifact is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contracts.events import SaleEvent
from models.neural.lstm import History, LSTMConfig, train
from models.neural.store import ModelStore

pytestmark = pytest.mark.integration

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
SERIES = ("H0", "H1", "H2")
WEEK = [2, 2, 3, 4, 8, 12, 1]


def _events(first_day: int, days: int) -> list[SaleEvent]:
    return [SaleEvent(s, T0 + d * DAY + 3600 * (1 + i), WEEK[d % 7], 1.0)
            for d in range(first_day, first_day + days) for i, s in enumerate(SERIES)]


def _records(events: list[SaleEvent]) -> list[tuple[bytes, bytes]]:
    return [(e.series.encode(), e.to_json()) for e in events]


def test_hot_swap_changes_the_version_in_payloads_without_losing_events(
        pipeline: Any, tmp_path: Any) -> None:
    first = _events(0, 40)
    pipeline.produce(_records(first))
    pipeline.start_worker()
    per = len(first) // len(SERIES)
    pipeline.wait_for(lambda: all((pipeline.snapshot(s) or {}).get("events") == per
                                  and (pipeline.snapshot(s) or {}).get("forecast")
                                  for s in SERIES), 90, "the first forecasts")
    assert "lstm_version" not in pipeline.snapshot("H0")["forecast"]["model"]

    rng = np.random.default_rng(0)
    hist = {f"x{i}": History(T0, DAY, rng.poisson(np.tile(WEEK, 12)[:84] * (1 + i % 3))
                             .astype(float)) for i in range(12)}
    model, _ = train(hist, LSTMConfig(window=28, horizon=14, hidden=8, epochs=2, stride=7),
                     progress=False)
    store = ModelStore(tmp_path / "models")
    version = store.save(model, {"mase": 0.5}, {"series": len(hist)})
    store.promote(version, pipeline.redis, reason="test")
    # the worker polls the current version every 2 s: wait for the swap, then close buckets
    pipeline.wait_for(lambda: pipeline.ops().get("lstm_version") == version, 30,
                      f"the worker to load {version}")

    second = _events(40, 6)
    pipeline.produce(_records(second))
    per += len(second) // len(SERIES)

    def swapped() -> bool:
        snaps = [pipeline.snapshot(s) or {} for s in SERIES]
        return all(s.get("events") == per and (s.get("forecast") or {}).get("model", {})
                   .get("lstm_version") == version for s in snaps)

    pipeline.wait_for(swapped, 90, f"forecasts made with LSTM {version}, every event counted")
    weights = pipeline.snapshot("H1")["forecast"]["model"]["weights"]
    assert "lstm" in weights and abs(sum(weights.values()) - 1.0) < 1e-6

    # a corrupt artifact is announced: the worker refuses it and keeps serving the old one
    bad = store.save(model, {"mase": 0.1}, {})
    (tmp_path / "models" / bad / "weights.pt").write_bytes(b"not a model")
    store.announce(pipeline.redis, bad)
    pipeline.wait_for(lambda: any(f"refusing LSTM model {bad}" in line
                                  for line in pipeline.log_tail(200)), 30, "the refusal log")
    third = _events(46, 3)
    pipeline.produce(_records(third))
    per += len(third) // len(SERIES)
    pipeline.wait_for(lambda: all((pipeline.snapshot(s) or {}).get("events") == per
                                  for s in SERIES), 90, "events after the bad announcement")
    assert pipeline.ops().get("lstm_version") == version
    assert all(pipeline.snapshot(s)["forecast"]["model"]["lstm_version"] == version
               for s in SERIES)
