"""Scale-out on Kafka: several workers in one consumer group share the partitions, and a
partition's state moves with it through the changelog (real Kafka and Redis).

Three workers process a real-data replay on 8 partitions; one is killed with SIGKILL and
another stopped gracefully mid-stream, and a new one joins. At the end ``salescast audit``
reconciles: every valid event counted exactly once, nothing dead-lettered.

Not part of ``make test`` yet (issue 13): it runs with ``make test-scale``. Of three runs here,
two reconciled and one did not (the counts stopped short after the third rebalance); and in the
two that reconciled, 5 and 19 of about 2,000 series ended one bucket close behind a single
worker's forecast on the same events. Rebalancing is not exact yet.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from contracts.wire import series_hash
from infra.procs import salescast_cmd, spawn
from sources.online_retail import iter_events

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.environ.get("SALESCAST_TEST_SCALE") != "1",
                       reason="scale-out is not exact yet (issue 13): make test-scale runs it"),
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


def _share_counted(pipeline, truth: dict[str, int]) -> float:
    got = _counts(pipeline, truth)
    return sum(min(got[s], n) for s, n in truth.items()) / sum(truth.values())


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
        pipeline.wait_for(lambda: _share_counted(pipeline, truth) == 1.0, 300,
                          "every event counted")
    finally:
        if replay.poll() is None:
            replay.kill()
    report = pipeline.reconciled()
    assert report["total"]["accepted"] == EVENTS and report["total"]["rejected"] == 0
    assert _counts(pipeline, truth) == truth
