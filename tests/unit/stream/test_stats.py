"""The worker's running figures: latency percentiles over a window of recent batches."""

from __future__ import annotations

import random
import time

from stream.stats import WorkerStats


def test_quantiles_are_the_order_statistics_of_the_window() -> None:
    rng = random.Random(3)
    s = WorkerStats()
    every: list[float] = []
    for _ in range(40):
        batch = [rng.expovariate(20.0) for _ in range(rng.randrange(0, 300))]
        s.record_batch(1, len(batch), batch, 0.001, started_at=time.time())
        every.extend(batch)
    ordered = sorted(every)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        want = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        assert s.latency_quantile(q) == want
    assert s.latency_quantiles((0.5, 0.99)) == [s.latency_quantile(0.5), s.latency_quantile(0.99)]


def test_old_batches_leave_the_window_and_the_count_is_capped() -> None:
    s = WorkerStats(window=10.0, keep=1000)
    assert s.latency_quantiles((0.5, 0.99)) == [0.0, 0.0]
    s.record_batch(1, 3, [9.0, 9.0, 9.0], 0.0, started_at=time.time())
    s.latencies[0] = (time.time() - 60.0, s.latencies[0][1])  # recorded a minute ago
    s.record_batch(1, 2, [1.0, 2.0], 0.0, started_at=time.time())
    assert s.latency_quantile(0.99) == 2.0  # the old batch no longer counts
    for _ in range(50):
        s.record_batch(1, 100, [0.5] * 100, 0.0, started_at=time.time())
    assert 1000 <= sum(len(x) for _, x in s.latencies) < 1100  # the newest ~1000 are kept
    assert s.latency_quantile(1.0) == 0.5


def test_a_snapshot_reports_both_percentiles_in_ms_and_the_rss() -> None:
    s = WorkerStats()
    s.record_batch(2, 4, [0.010, 0.020, 0.030, 0.040], 0.002, started_at=time.time())
    snap = s.snapshot()
    assert (snap["latency_p50_ms"], snap["latency_p99_ms"]) == (30.0, 40.0)
    assert int(snap["rss_bytes"]) > 0 and snap["events"] == 4


def test_cpu_time_counts_from_the_end_of_the_first_batch() -> None:
    s = WorkerStats()
    s.record_batch(1, 10, [], 0.0, started_at=time.time())  # its CPU is before the mark
    assert s.snapshot()["cpu_events"] == 0
    sum(i * i for i in range(200_000))  # some CPU between the two batches
    s.record_batch(1, 7, [], 0.0, started_at=time.time())
    snap = s.snapshot()
    assert snap["cpu_events"] == 7 and float(snap["cpu_seconds"]) > 0


def test_the_loop_watch_records_how_long_a_blocking_call_held_the_loop() -> None:
    import asyncio

    stats = WorkerStats()

    async def main() -> None:
        watch = asyncio.create_task(stats.watch_loop())
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # a blocking call on the loop
        await asyncio.sleep(0.05)
        watch.cancel()

    asyncio.run(main())
    assert 0.15 < stats.stall_max < 1.0
    assert stats.snapshot()["loop_stall_max_ms"] >= 150
