"""``salescast bench``: Kafka -> worker -> Redis throughput and latency, with references.

In one run, on the same synthetic events and broker:

1. **ceiling**: a bare confluent-kafka consumer that only decodes the JSON;
2. **floor**: a plain Faust agent that only decodes, on Faust's own transport (Faust's own
   per-message cost), then the same agent on the worker's transport
   (:mod:`stream.transport`: what that transport saves a plain agent);
3. **worker**: the real ``salescast worker`` (validate, bucket, forecast, state, Redis),
   on single-event messages and on envelopes of many events;
4. **latency**: single-event messages produced at a steady rate (``--rate``, default 2,000
   events/s) once the worker caught up (:func:`_wait_settled`: it took every preloaded
   event and finished the eager close they left): a 20 s warm-up, then the 10 s whose
   p50/p99 of the time from the producer's timestamp to the Redis write are the figures
   (the worker's ops percentiles cover its last 10 s); and the worker's RSS.

With ``rounds`` > 1 the ceiling, the floor and the worker runs are repeated, alternately, on
the same messages (each run a fresh consumer group; the latency run only in the last round):
on a shared machine one run's rates move by a third from run to run, so the table shows each
round's ratios and their median, which is the figure to quote.
(:mod:`benchmarks.pipeline_report` prints the table.)
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator

import redis
from confluent_kafka import Consumer, Producer
from rich.console import Console

from benchmarks.pipeline_report import (
    LATENCY_RATE,
    LATENCY_SECONDS,
    LATENCY_WARMUP,
    Figure,
    report,
)
from config import Settings
from contracts.wire import worker_ops_key
from infra.procs import child_env, salescast_cmd, spawn, stop
from stream.membership import default_worker_name
from stream.partitioning import PRODUCER_PARTITIONER, partition_for

__all__ = ["run_bench", "produce", "keyed", "eager_close_over"]


def produce(bootstrap: str, topic: str,
             values: Iterable[tuple[bytes, bytes] | tuple[bytes, bytes, int]]) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "partitioner": PRODUCER_PARTITIONER,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 500000})
    n = 0
    for key, value, *partition in values:
        while True:
            try:
                if partition:
                    producer.produce(topic, value=value, key=key, partition=partition[0])
                else:
                    producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush(60)
    return n


def _produce_paced(bootstrap: str, topic: str, values: Iterable[tuple[bytes, bytes]],
                   rate: float) -> None:
    # librdkafka's default linger (5 ms): a collector's producer batches what comes within it
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "partitioner": PRODUCER_PARTITIONER})
    start = time.monotonic()
    for i, (key, value) in enumerate(values):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, value=value, key=key)
        producer.poll(0)
    producer.flush(30)


def keyed(events: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    for raw in events:
        yield json.loads(raw)["series"].encode(), raw


def _envelopes(events: Iterable[bytes], size: int,
               partitions: int) -> Iterator[tuple[bytes, bytes, int]]:
    """Envelopes of ``size`` events, grouped per partition (every event on its series')."""
    chunks: dict[int, list[bytes]] = {}
    for raw in events:
        p = partition_for(json.loads(raw)["series"], partitions)
        chunk = chunks.setdefault(p, [])
        chunk.append(raw)
        if len(chunk) == size:
            yield b"env", b'{"events":[' + b",".join(chunk) + b"]}", p
            chunk.clear()
    for p, chunk in chunks.items():
        if chunk:
            yield b"env", b'{"events":[' + b",".join(chunk) + b"]}", p


def bare_decode_rate(bootstrap: str, topic: str, messages: int) -> Figure:
    """The ceiling: consume and ``json.loads`` every message, nothing else."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "fetch.queue.backoff.ms": 100,
    })
    consumer.subscribe([topic])
    seen, start, cpu = 0, 0.0, 0.0
    deadline = time.monotonic() + 300
    while seen < messages and time.monotonic() < deadline:
        for msg in consumer.consume(10000, timeout=1.0):
            if msg.error():
                continue
            if not start:
                start, cpu = time.perf_counter(), time.process_time()
            json.loads(msg.value() or b"null")
            seen += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    consumer.close()
    return Figure("ceiling: bare confluent-kafka decode", seen, elapsed, cpu)


def _read_ops(r: redis.Redis, proc: subprocess.Popen[bytes]) -> dict[str, str]:
    """The running figures of the worker ``proc``."""
    key = worker_ops_key(default_worker_name(proc.pid))
    raw: dict[bytes, bytes] = r.hgetall(key)  # type: ignore[assignment]
    return {k.decode(): v.decode() for k, v in raw.items()}


def _wait_worker(r: redis.Redis, target: int, timeout: float,
                 proc: subprocess.Popen[bytes]) -> dict[str, str]:
    """Wait until the worker has taken ``target`` messages' events (accepted or rejected)."""
    deadline = time.monotonic() + timeout
    ops: dict[str, str] = {}
    while time.monotonic() < deadline:
        ops = _read_ops(r, proc)
        if int(ops.get("events", 0)) >= target:
            return ops
        if proc.poll() is not None:
            raise RuntimeError("the worker exited during the benchmark")
        time.sleep(0.2)
    raise TimeoutError(f"the worker did not process {target} events in {timeout:.0f} s: {ops}")


def eager_close_over(ops: dict[str, str], since: float) -> bool:
    """Whether a worker's ops figures ``ops`` were published after ``since`` (wall time) and
    show no eager close left to do (``sweeping`` 0).

    >>> eager_close_over({"updated_at": "12.5", "sweeping": "0"}, since=12.0)
    True
    >>> eager_close_over({"updated_at": "11.5", "sweeping": "0"}, since=12.0)  # from before
    False
    """
    return float(ops.get("updated_at", 0)) > since and ops.get("sweeping") == "0"


def _wait_settled(r: redis.Redis, timeout: float,
                  proc: subprocess.Popen[bytes]) -> None:
    """Wait until the worker has no eager close left to do (:func:`eager_close_over`, as of a
    snapshot published after this call): a worker that took a backlog of events closes its
    quiet series' buckets behind it, a chunk between batches, and that work is not the
    steady load the latency run measures."""
    deadline = time.monotonic() + timeout
    since = time.time()
    while time.monotonic() < deadline:
        if eager_close_over(_read_ops(r, proc), since):
            return
        if proc.poll() is not None:
            raise RuntimeError("the worker exited during the benchmark")
        time.sleep(0.2)
    raise TimeoutError(f"the worker's eager close did not end in {timeout:.0f} s")


def run_bench(settings: Settings, events: int, series: int, envelope: int,
              console: Console, rate: float = LATENCY_RATE, rounds: int = 1) -> None:
    from infra import services
    from stream.synthetic import bench_events

    was_up = settings.services_file.exists() or bool(settings.kafka_bootstrap)
    state = services.up(settings)
    run = uuid.uuid4().hex[:8]
    single, env_topic, lat_topic = (f"bench.{run}.single", f"bench.{run}.envelope",
                                    f"bench.{run}.latency")
    services.create_topics(state.kafka_bootstrap, settings,
                           extra=[single, env_topic, lat_topic])
    r = redis.Redis.from_url(state.redis_url)
    per_round: list[list[Figure]] = []
    kafka, redis_url = state.kafka_bootstrap, state.redis_url
    try:
        console.print(f"producing {events:,} synthetic events over {series:,} series ...")
        produce(kafka, single, keyed(bench_events(events, series, seed=1)))
        if envelope:
            n = produce(kafka, env_topic, _envelopes(bench_events(events, series, seed=2),
                                                     envelope, settings.partitions))
            console.print(f"{n:,} envelopes of {envelope} events")
        for k in range(rounds):
            if rounds > 1:
                console.print(f"round {k + 1} of {rounds} ...")
            last = k == rounds - 1
            figures = [bare_decode_rate(kafka, single, events),
                       _faust_floor(settings, kafka, redis_url, single, events),
                       _faust_floor(settings, kafka, redis_url, single, events, "salescast")]
            fig, got = _worker_run(settings, kafka, redis_url, r, single, events,
                                   f"bench-{run}-single-{k}",
                                   with_latency=lat_topic if last else None,
                                   series=series, rate=rate)
            ops = got if last else {}
            figures.append(fig)
            if envelope:
                fig_env, _ = _worker_run(settings, kafka, redis_url, r, env_topic, events,
                                         f"bench-{run}-env-{k}")
                fig_env.name = f"worker: envelopes of {envelope} events"
                figures.append(fig_env)
            per_round.append(figures)
    finally:
        r.close()
        if not was_up:
            services.down(settings)
    report(console, per_round, ops, rate)


def _faust_floor(settings: Settings, kafka: str, redis_url: str, topic: str,
                 events: int, transport: str = "faust") -> Figure:
    """The floor: a plain Faust agent that only decodes, run as a child process, on Faust's
    own transport (or on the worker's: ``transport="salescast"``)."""
    env = child_env(kafka, redis_url)
    log = settings.home / "logs" / f"bench-faust-floor-{transport}.log"
    proc = spawn(salescast_cmd("bench-faust-floor", topic, str(events),
                               "--transport", transport), env, log)
    proc.wait(600)
    # Faust routes stdout through its logger: find the JSON object in the last such line
    lines = [x for x in log.read_text().splitlines() if '{"events"' in x]
    if not lines:
        raise RuntimeError(f"the Faust reference run printed no result (see {log})")
    result = json.loads(lines[-1][lines[-1].index("{"):])
    name = ("floor: plain Faust agent decode" if transport == "faust" else
            "  the same agent on salescast's transport")
    return Figure(name, result["events"], result["seconds"], result.get("cpu_seconds"))


def _worker_run(settings: Settings, kafka: str, redis_url: str, r: redis.Redis, topic: str,
                events: int, worker_id: str, with_latency: str | None = None,
                series: int = 1000, rate: float = LATENCY_RATE) -> tuple[Figure, dict[str, str]]:
    from stream.synthetic import bench_events

    env = child_env(kafka, redis_url, SALESCAST_EVENTS_TOPIC=topic,
                    SALESCAST_WORKER_ID=worker_id)
    log = settings.home / "logs" / f"{worker_id}.log"
    proc = spawn(salescast_cmd("worker"), env, log)
    try:
        ops = _wait_worker(r, events, 600, proc)
        seconds = float(ops["last_event_at"]) - float(ops["first_event_at"])
        fig = Figure("worker: single-event messages", events, seconds)
        if int(ops.get("cpu_events", 0)):  # CPU time per event after the first batch
            fig.cpu_seconds = (float(ops["cpu_seconds"]) * events / int(ops["cpu_events"]))
        if with_latency:
            # a steady ``rate`` on the same topic, once the worker is caught up: a warm-up,
            # then the 10 s that the worker's latency percentiles cover
            from stream.synthetic import DEFAULT_START

            _wait_settled(r, 120, proc)
            n = int(rate * (LATENCY_WARMUP + LATENCY_SECONDS))
            later = DEFAULT_START + 10.0 * (events + 1)  # after the preloaded events
            paced = keyed(bench_events(n, series, seed=3, start_ts=later,
                                        seconds_per_event=0.1))
            _produce_paced(kafka, topic, paced, rate)
            ops = _wait_worker(r, events + n, 120 + LATENCY_SECONDS, proc)
            time.sleep(1.5)  # the next ops snapshot: percentiles over the last 10 s
            ops = _read_ops(r, proc)
        return fig, ops
    finally:
        stop(proc)
