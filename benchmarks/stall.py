"""``salescast bench stall``: the longest event-loop stall of one worker at a day close.

The memory-and-restart part of ``salescast bench scale`` holds ``S`` series in one worker
and reads its ``loop_stall_max_ms`` once every series has closed its first buckets. That
figure varies a lot from run to run on this machine (0.14 to 4.3 s in one session), and the
whole scale bench takes many minutes; this runs only that part, several times:

1. two events for each of ``S`` series, a day apart (:func:`benchmarks.scale.series_events`),
   produced to a fresh topic of 4 partitions;
2. one worker (LSTM off) takes them; once it has taken every event and its eager close is
   over (ops ``sweeping`` 0, from a snapshot taken after the last event), its longest stall,
   its RSS and the seconds it took are recorded; it is stopped.

Each run is a fresh worker on a fresh consumer group, on the same topic.

>>> summary([150.0, 4270.0, 180.0])
'longest stall: median 180 ms, at most 4,270 ms (3 runs); target <= 50 ms'
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass

import redis
from rich.console import Console
from rich.table import Table

from benchmarks.pipeline import keyed, produce
from benchmarks.scale import Group, bench_topics, series_events
from benchmarks.scale_report import REBALANCE_PARTITIONS
from config import Settings

__all__ = ["StallRun", "run_stall_bench", "summary"]

TARGET_MS = 50.0


@dataclass(frozen=True)
class StallRun:
    stall_ms: float  # the worker's loop_stall_max_ms
    rss_mb: float
    seconds: float  # from the worker's start until its eager close was over


def summary(stalls: list[float]) -> str:
    """One line: the median and the longest of the runs' longest stalls, against the target."""
    runs = f"{len(stalls)} run{'' if len(stalls) == 1 else 's'}"
    return (f"longest stall: median {statistics.median(stalls):,.0f} ms, at most "
            f"{max(stalls):,.0f} ms ({runs}); target <= {TARGET_MS:.0f} ms")


def _one_run(base: Group, n_series: int) -> StallRun:
    g = Group(base.settings, base.kafka, base.redis_url, base.r, base.topic, base.partitions,
              lstm=False)
    try:
        started = time.monotonic()
        f = g.figures(g.start_and_close(n_series))
        return StallRun(float(f.get("loop_stall_max_ms", "nan")),
                        int(f.get("rss_bytes", 0)) / 2**20, time.monotonic() - started)
    finally:
        g.close()


def run_stall_bench(settings: Settings, n_series: int, runs: int, console: Console) -> None:
    from infra import services

    was_up = settings.services_file.exists() or bool(settings.kafka_bootstrap)
    state = services.up(settings)
    r = redis.Redis.from_url(state.redis_url)
    done: list[StallRun] = []
    try:
        topic = f"bench.{uuid.uuid4().hex[:8]}.stall"
        bench_topics(state.kafka_bootstrap, settings, {topic: REBALANCE_PARTITIONS})
        console.print(f"producing {2 * n_series:,} events over {n_series:,} series ...")
        produce(state.kafka_bootstrap, topic, keyed(series_events(n_series)))
        base = Group(settings, state.kafka_bootstrap, state.redis_url, r, topic,
                     REBALANCE_PARTITIONS)
        for i in range(runs):
            with console.status(f"run {i + 1} of {runs}: one worker takes them ..."):
                done.append(_one_run(base, n_series))
    finally:
        r.close()
        if not was_up:
            services.down(settings)
    table = Table(title=f"one worker, {n_series:,} series on {REBALANCE_PARTITIONS} partitions "
                        "(LSTM off): its day close")
    for column in ("run", "longest stall ms", "RSS MiB", "seconds"):
        table.add_column(column, justify="right")
    for i, run in enumerate(done, 1):
        table.add_row(str(i), f"{run.stall_ms:,.0f}", f"{run.rss_mb:,.0f}", f"{run.seconds:.1f}")
    console.print(table)
    console.print(summary([run.stall_ms for run in done]), soft_wrap=True)
