"""models/neural/trainer.py and the worker's LstmRunner: what a probe of the trainer found
(2026-12-07): a NaN bucket that made the gate promote anything, a stray bucket years ahead
that crashed the trainer at every start, a gate against the weekly lag on hourly buckets, a
promotion Redis missed for good, and models a worker cannot serve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.wire import MODEL_CURRENT
from models.grid import use_offset
from models.neural.lstm import GlobalLSTM, History, LSTMConfig, evaluate
from models.neural.store import ModelStore
from models.neural.trainer import BucketHistory, _unlike, reannounce, train_and_gate
from stream.lstm_runner import LstmRunner

HOUR, DAY = 3600, 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
TINY = LSTMConfig(window=24, horizon=6, hidden=4, epochs=1, stride=6, batch=64, seed=0)


def test_buckets_that_are_no_numbers_or_years_away_are_skipped() -> None:
    h = BucketHistory(width=DAY, keep=30)
    rows = [["A", T0 + d * DAY, 0, float(d % 7)] for d in range(40)]
    assert h.add([*rows, ["A", T0, 0, math.nan], ["B", T0, 0, math.inf],
                  ["A", 10**14, 0, 1.0], ["A", T0, 0, "x"]]) == 40
    got = h.histories(1)["A"]
    assert len(got.values) == 30 and np.isfinite(got.values).all()
    h.add([["A", T0 + 3_000 * DAY, 0, 5.0]])  # one stray start, 8 years ahead
    assert len(h.histories(1)["A"].values) == 30  # its last 30 buckets, not 3,000


def _hourly(n: int = 12, hours: int = 24 * 14) -> dict[str, History]:
    rng = np.random.default_rng(0)
    day = 1 + np.sin(np.arange(hours) * 2 * np.pi / 24)
    return {f"s{i}": History(T0, HOUR, rng.poisson(3 * day).astype(float)) for i in range(n)}


def test_the_gate_goes_by_the_buckets_own_seasonal_naive(tmp_path: Path) -> None:
    """Hourly buckets: seasonal naive is yesterday's hour (it was last week's day's: an LSTM
    four times worse than the daily cycle beat that)."""
    hist = _hourly()
    out = train_and_gate(hist, ModelStore(tmp_path), None, TINY, budget_s=30)
    assert out.metrics["season"] == 24
    daily, weekly = (evaluate(GlobalLSTM(TINY), hist, season).snaive_mase for season in (24, 7))
    assert out.metrics["snaive_mase"] == pytest.approx(daily, abs=1e-4) and weekly > daily


def test_a_rollback_pins_the_store_and_the_trainer_promotes_nothing(tmp_path: Path,
                                                                     monkeypatch) -> None:
    import models.neural.trainer as trainer

    store = ModelStore(tmp_path)
    model = GlobalLSTM(TINY)
    for v in ("v1", "v2"):
        store.save(model, {}, {"bucket_seconds": HOUR}, version=v)
        store.promote(v)
    store.rollback()
    monkeypatch.setattr(trainer, "gate", lambda ev, cur: (True, "beats everything"))
    out = train_and_gate(_hourly(), store, None, TINY, budget_s=30)
    assert not out.promoted and "a rollback pinned v1" in out.reason
    assert store.current() == "v1" and store.meta(out.version)["status"] == "rejected"


def test_series_too_short_for_two_seasons_are_rejected_with_the_reason(tmp_path: Path) -> None:
    """Weekly buckets: scoring needs two years and a horizon of each series."""
    rng = np.random.default_rng(0)
    weekly = {f"s{i}": History(T0, 7 * DAY, rng.poisson(5.0, 60).astype(float))
              for i in range(8)}
    out = train_and_gate(weekly, ModelStore(tmp_path), None, TINY, budget_s=30)
    assert not out.promoted and out.reason.startswith("no series long enough to evaluate on")
    assert "(two seasons of 52 and 6 buckets)" in out.reason


def test_a_rollback_by_hand_while_the_trainer_promotes_wins(tmp_path: Path) -> None:
    from models.neural.store import PinnedError

    store = ModelStore(tmp_path)
    for v in ("v1", "v2", "v3"):
        store.save(GlobalLSTM(TINY), {}, {}, version=v)
    store.promote("v1")
    store.promote("v2")
    store.rollback()
    with pytest.raises(PinnedError, match="pinned to v1"):
        store.promote("v3", unpin=False)  # the trainer's: the pin stays
    assert store.current() == "v1" and store.pinned() == "v1"


def test_a_current_model_trained_otherwise_is_not_compared() -> None:
    window = {"bucket_seconds": DAY, "utc_offset": 0}
    alike = {"window": {"bucket_seconds": DAY, "utc_offset": 0}, "config": {"horizon": 14}}
    assert _unlike(alike, window, 14) is None
    assert _unlike({**alike, "window": {"bucket_seconds": DAY}}, window, 14) is None  # older
    assert _unlike(alike, window, 7) == "for 14 buckets ahead, not 7"
    assert _unlike(alike, {**window, "utc_offset": 3600}, 14) == "on the clock UTC+0 s"
    assert _unlike(alike, {**window, "bucket_seconds": HOUR}, 14) == "on buckets of 86400 s"


class _Redis:
    """The hash the workers read, and what is published."""

    def __init__(self, down: bool = False) -> None:
        self.hash: dict[str, Any] = {}
        self.down = down

    def hget(self, key: str, field: str) -> bytes | None:
        if self.down:
            from redis.exceptions import ConnectionError

            raise ConnectionError("Error 111 connecting")
        value = self.hash.get(field)
        return None if value is None else str(value).encode()

    def hset(self, key: str, mapping: dict[str, Any]) -> None:
        assert key == MODEL_CURRENT
        self.hash.update(mapping)

    def publish(self, channel: str, body: str) -> None:
        pass


def test_the_store_s_current_version_is_announced_again_when_redis_lost_it(
        tmp_path: Path) -> None:
    """A promotion while Redis was down left the workers on the old model for good, and so
    did a Redis restarted empty (a probe)."""
    store = ModelStore(tmp_path)
    store.save(GlobalLSTM(TINY), {}, {}, version="v1")
    store.promote("v1")  # no Redis: not announced
    redis = _Redis(down=True)
    assert reannounce(store, redis) is None  # a warning, no traceback
    redis.down = False
    assert reannounce(store, redis) == "v1" and redis.hash["version"] == "v1"
    assert reannounce(store, redis) is None  # Redis names it: nothing to do
    redis.hash.clear()  # restarted empty
    assert reannounce(store, redis) == "v1"
    redis.hash.clear()
    # a trainer of other buckets on the same store (a probe's hourly one announced the daily
    # model, which its workers refused) does not announce it
    store.save(GlobalLSTM(TINY), {}, {"bucket_seconds": 86400}, version="v2")
    store.promote("v2")
    redis.hash.clear()
    assert reannounce(store, redis, 3600) is None and "version" not in redis.hash
    assert reannounce(store, redis, 86400) == "v2"
    redis.hash.clear()
    store.promote("v1")
    import shutil

    shutil.rmtree(store.root / "v1")  # deleted by hand: a warning, the trainer goes on
    assert reannounce(store, redis) is None and "version" not in redis.hash


def test_the_worker_refuses_what_it_cannot_serve_and_tries_again_when_announced_again(
        tmp_path: Path) -> None:
    store, model = ModelStore(tmp_path), GlobalLSTM(TINY)
    runner = LstmRunner(DAY)
    long = "v-" + "descriptive-name-" * 4  # a worker keeps 64 bytes of it in every row
    store.save(model, {}, {"bucket_seconds": DAY}, version=long)
    assert not runner.swap({"version": long, "path": str(tmp_path / long)})
    other = store.save(model, {}, {"bucket_seconds": DAY, "utc_offset": 8 * 3600})
    assert not runner.swap({"version": other, "path": str(tmp_path / other)})
    v = store.save(model, {}, {"bucket_seconds": DAY, "utc_offset": 0})
    weights = (tmp_path / v / "weights.pt").read_bytes()
    (tmp_path / v / "weights.pt").write_bytes(b"truncated")
    announced = {"version": v, "path": str(tmp_path / v), "promoted_at": "1"}
    assert not runner.swap(announced) and not runner.swap(announced)  # refused, once
    (tmp_path / v / "weights.pt").write_bytes(weights)  # mended, then promoted again
    assert runner.swap({**announced, "promoted_at": "2"}) and runner.version == v


@pytest.fixture(autouse=True)
def _utc() -> Any:
    use_offset(0)
    yield
    use_offset(0)
