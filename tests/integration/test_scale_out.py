"""Scale-out on Kafka: several workers in one consumer group share the partitions, and a
partition's state moves with it through the changelog (real Kafka and Redis).

Three workers process a real-data replay on 8 partitions; one is killed with SIGKILL and
another stopped gracefully mid-stream, and a new one joins. At the end ``salescast audit``
reconciles (every valid event counted exactly once, nothing dead-lettered), every series'
forecast in Redis equals the one a single worker computes in-process from the same topic, and
the live workers' ops figures hold every partition exactly once.

What it took (README, "What happens on a rebalance"): no commits for a partition the worker
does not own, nothing applied during a rebalance, the unflushed states of revoked partitions
dropped, and a replayed series queued for closing only when it has an open bucket.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from contracts.wire import series_hash
from infra.procs import salescast_cmd, spawn
from sources.online_retail import iter_events
from stream.membership import default_worker_name
from stream.monitor import read_workers
from stream.partitioning import partition_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
]

EVENTS = 20_000
PARTITIONS = 8


def _counts(pipeline, truth: dict[str, int]) -> dict[str, int]:
    """Each series' event count as Redis has it (0 when absent), in one round trip."""
    pipe = pipeline.redis.pipeline(transaction=False)
    for sid in truth:
        pipe.hget(series_hash(sid), "o")
    out: dict[str, int] = {}
    for sid, raw in zip(truth, pipe.execute(), strict=True):
        out[sid] = json.loads(raw)["events"] if raw else 0
    return out


def _swept(pipeline, since: float) -> bool:
    """The live workers hold every partition once, none is rebalancing (or recovering a
    table), and each reported, after ``since``, no partition with a sweep to do."""
    live = {default_worker_name(w.pid) for w in pipeline.workers if w.poll() is None}
    figures = read_workers(pipeline.redis, time.time())
    if not live <= set(figures):
        return False
    held = sorted(p for n in live for p in json.loads(figures[n]["partitions"]))
    return held == list(range(PARTITIONS)) and all(
        float(figures[n]["updated_at"]) > since and figures[n]["sweeping"] == "0"
        and figures[n]["rebalancing"] == "0" for n in live)


def _workers(pipeline) -> str:
    """The live workers' figures that say what they hold and sweep (for a failure)."""
    figures = read_workers(pipeline.redis, time.time())
    keys = ("partitions", "rebalancing", "sweeping", "sweep_pending", "swept", "updated_at")
    return "\n".join(f"{n}: {({k: f.get(k) for k in keys})}" for n, f in sorted(figures.items()))


def _share_counted(pipeline, truth: dict[str, int]) -> float:
    got = _counts(pipeline, truth)
    return sum(min(got[s], n) for s, n in truth.items()) / sum(truth.values())


def _content(part: dict | None) -> dict | None:
    """A stored forecast part without ``forecast_version`` (when it was written, not what)."""
    return None if part is None else {k: v for k, v in part.items() if k != "forecast_version"}


def _difference(series: str, got: dict | None, ref: dict | None, pipeline) -> str:
    """What differs in one series' forecast part: its last closed buckets and first steps."""
    def brief(part: dict | None) -> str:
        if part is None:
            return "none"
        fc = part.get("forecast") or {}
        return (f"{len(part.get('actuals', []))} closed, last {part.get('actuals', [])[-2:]}, "
                f"forecast {json.dumps(fc)[:160]}")
    return (f"{series} (partition {partition_for(series, PARTITIONS)}, live "
            f"{pipeline.redis.hget(series_hash(series), 'o')!r}):\n  redis     {brief(got)}"
            f"\n  reference {brief(ref)}")


def test_workers_share_partitions_through_kill_stop_and_join(pipeline, retail_csv: Path) -> None:
    truth: dict[str, int] = {}
    for e in iter_events(retail_csv, limit=EVENTS):
        truth[e.series] = truth.get(e.series, 0) + 1

    # 3 workers, then one killed, one stopped, one new
    pipeline.repartition(PARTITIONS)
    replay = spawn(salescast_cmd("replay", "--max", "--limit", str(EVENTS)), pipeline.env(),
                   pipeline.logs / "replay.log")
    try:
        workers = [pipeline.start_worker() for _ in range(3)]
        pipeline.wait_for(lambda: _share_counted(pipeline, truth) >= 0.25, 300,
                          "a quarter of the events counted")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        pipeline.wait_for(lambda: _share_counted(pipeline, truth) >= 0.5, 300,
                          "half of the events counted")
        assert pipeline.stop_worker(workers[1]) == 0, "\n".join(pipeline.log_tail())
        pipeline.start_worker()
        assert replay.wait(300) == 0, "\n".join(pipeline.log_tail())
        try:
            pipeline.wait_for(lambda: _share_counted(pipeline, truth) == 1.0, 300,
                              "every event counted")
        except AssertionError as exc:  # say where: the audit's table per partition
            raise AssertionError(f"{exc}\n{pipeline.audit().stdout}") from None
    finally:
        if replay.poll() is None:
            replay.kill()
    report = pipeline.reconciled()
    assert report["total"]["accepted"] == EVENTS and report["total"]["rejected"] == 0
    assert _counts(pipeline, truth) == truth

    # every series' forecast is the one a single worker computes from the same events, once
    # the workers' eager close has closed the quiet series' last buckets too
    since = time.time()
    pipeline.wait_for(lambda: _swept(pipeline, since), 120, "every partition swept")
    reference = pipeline.reference_forecasts()
    got = pipeline.forecasts(sorted(truth))
    # (not the version a part was written at: a worker republishes every series it holds at
    # their latest offsets when it starts, as after a Redis restart; one worker never does)
    differ = sorted(s for s in truth if _content(got[s]) != _content(reference.get(s)))
    assert not differ, (f"{len(differ)} of {len(truth)} series differ from one worker's:\n"
                        + "\n".join(_difference(s, got[s], reference.get(s), pipeline)
                                     for s in differ[:5])
                        + f"\nworkers:\n{_workers(pipeline)}\n"
                        + "\n".join(pipeline.log_tail(15)))

    # the group view: the live workers hold every partition once, and timed their rebalances
    live = {default_worker_name(w.pid) for w in pipeline.workers if w.poll() is None}
    figures = read_workers(pipeline.redis, time.time())
    assert live <= set(figures), (live, sorted(figures))
    held = [p for name in live for p in json.loads(figures[name]["partitions"])]
    assert sorted(held) == list(range(PARTITIONS))
    assert all(int(figures[name]["rebalances"]) >= 1 for name in live)
    assert all(float(figures[name]["last_rebalance_s"]) >= 0 for name in live)
