"""``salescast bench aggregates``: what the aggregates cost the worker, in the same run.

The same synthetic events (each series sells in one of five countries), produced once, are
read by the real ``salescast worker`` with ``SALESCAST_AGGREGATE_BY=none`` and with
``country`` (every event also counts in ``total`` and its country; the partitions report
their sums to total's partition once per batch, which learns and reconciles the aggregates),
alternately (none first, then country first), twice each, each run with its own consumer
group and Redis database. The table
shows each run's rate and the ratio of the best run with aggregates to the best without;
the target is at least 0.9.
"""

from __future__ import annotations

import uuid

import redis
from rich.console import Console
from rich.table import Table

from benchmarks.pipeline import _envelopes, _wait_worker, keyed, produce
from benchmarks.pipeline_report import Figure
from config import Settings
from infra.procs import child_env, salescast_cmd, spawn, stop

__all__ = ["run_aggregates_bench"]

MODES = ("none", "country")


def _db_url(url: str, db: int) -> str:
    """``url`` with its database number replaced by ``db``."""
    base = url.rsplit("/", 1)[0] if url.rsplit("/", 1)[-1].isdigit() else url.rstrip("/")
    return f"{base}/{db}"


def _run(settings: Settings, kafka: str, redis_url: str, topic: str, events: int,
         mode: str, worker_id: str) -> Figure:
    env = child_env(kafka, redis_url, SALESCAST_EVENTS_TOPIC=topic, SALESCAST_WORKER_ID=worker_id,
                    SALESCAST_AGGREGATE_BY=mode)
    proc = spawn(salescast_cmd("worker"), env, settings.home / "logs" / f"{worker_id}.log")
    r = redis.Redis.from_url(redis_url)
    try:
        ops = _wait_worker(r, events, 900, proc)
        seconds = float(ops["last_event_at"]) - float(ops["first_event_at"])
        return Figure(f"aggregates {mode}", events, seconds)
    finally:
        stop(proc)
        r.flushdb()
        r.close()


def run_aggregates_bench(settings: Settings, events: int, series: int, envelope: int,
                         console: Console, rounds: int = 2) -> list[Figure]:
    from infra import services
    from stream.synthetic import bench_events

    was_up = settings.services_file.exists() or bool(settings.kafka_bootstrap)
    state = services.up(settings)
    run = uuid.uuid4().hex[:8]
    topic = f"bench.{run}.aggregates"
    services.create_topics(state.kafka_bootstrap, settings, extra=[topic])
    figures: list[Figure] = []
    try:
        raw = bench_events(events, series, seed=4)
        values = _envelopes(raw, envelope, settings.partitions) if envelope else keyed(raw)
        n = produce(state.kafka_bootstrap, topic, values)
        console.print(f"{events:,} events over {series:,} series in {n:,} messages; "
                      f"{rounds} rounds of {' / '.join(MODES)}")
        for k in range(rounds):  # the order alternates: neither mode always runs warm
            for mode in MODES if k % 2 == 0 else MODES[::-1]:
                j = MODES.index(mode)
                url = _db_url(state.redis_url, 1 + j)
                fig = _run(settings, state.kafka_bootstrap, url, topic, events, mode,
                           f"bench-{run}-agg-{mode}-{k}")
                console.print(f"  {fig.name}: {fig.rate:,.0f} events/s")
                figures.append(fig)
    finally:
        if not was_up:
            services.down(settings)
    best = {m: max(f.rate for f in figures if f.name.endswith(m)) for m in MODES}
    table = Table(title=f"salescast bench aggregates (envelopes of {envelope})"
                  if envelope else "salescast bench aggregates (single-event messages)")
    for col in ("run", "events/s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for f in figures:
        table.add_row(f.name, f"{f.rate:,.0f}")
    console.print(table)
    console.print(f"best with aggregates / best without: "
                  f"{best['country'] / best['none']:.3f} (target: at least 0.9)")
    return figures
