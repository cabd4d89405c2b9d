"""Session fixtures: a real local Kafka + Redis, started once when a test asks for them.

``services`` starts nothing until a test requests it (integration tests, marked
``@pytest.mark.integration``). ``KAFKA_BOOTSTRAP``/``REDIS_URL`` in the environment point the
session at existing servers instead. ``unique_topics`` gives each test its own topic names.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import pickle
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from config import Settings, load_settings
from contracts.wire import dumps, merge_snapshot, series_hash, worker_ops_key
from infra.procs import child_env, salescast_cmd, spawn, stop
from infra.redis_server import RedisProcess, start_redis, stop_redis
from stream.membership import default_worker_name
from stream.partitioning import PRODUCER_PARTITIONER


@pytest.fixture(autouse=True)
def _one_clock_and_calendar() -> Iterator[None]:
    """The shop's clock and holiday calendar are one per process (models.grid.use_offset,
    models.calendar.use_holidays): a test that sets another leaves the defaults behind it."""
    yield
    from models.calendar import DEFAULT_HOLIDAYS, use_holidays
    from models.grid import use_offset

    use_offset(0)
    use_holidays(DEFAULT_HOLIDAYS)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at real services: ``KAFKA_BOOTSTRAP``/``REDIS_URL`` if set, else a
    Kafka and a Redis started on 127.0.0.1 for this test session and stopped after it."""
    from infra import services as svc

    home: Path = tmp_path_factory.mktemp("salescast-home")
    settings = load_settings(dict(os.environ, SALESCAST_HOME=str(home)))
    try:
        # attached: the servers die with pytest even when it is killed without cleanup
        state = svc.up(settings, attached=True)
    except svc.ServiceError as exc:
        pytest.fail(f"local services did not start: {exc}", pytrace=False)
    try:
        yield settings.model_copy(update={"kafka_bootstrap": state.kafka_bootstrap,
                                          "redis_url": state.redis_url})
    finally:
        svc.down(settings)


@pytest.fixture
def local_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A ``redis-server`` of the test's own (no Kafka), stopped by its PID."""
    proc = start_redis(tmp_path / "redis", attached=True)
    try:
        yield proc
    finally:
        stop_redis(proc.pid)


@pytest.fixture(scope="session")
def retail_csv() -> Path:
    """The real Online Retail II file (fetched once into the shared cache)."""
    from sources.errors import DatasetError
    from sources.online_retail import fetch_dataset

    try:
        return fetch_dataset(load_settings().data_dir, progress=False)
    except DatasetError as exc:  # pragma: no cover - only without network and cache
        pytest.skip(f"Online Retail II cannot be fetched: {exc}")


@dataclass(frozen=True)
class UniqueTopics:
    """Topic names of one test: ``unique_topics("events")`` -> ``test.<test>.<run>.events``."""

    run: str

    def __call__(self, name: str) -> str:
        return f"test.{self.run}.{name}"

    def settings(self, base: Settings) -> Settings:
        """``base`` with this test's own events/dead-letter topics and consumer group."""
        return base.model_copy(update={
            "events_topic": self("events"), "deadletter_topic": self("deadletter"),
            "alerts_topic": self("alerts"), "buckets_topic": self("buckets"),
            "worker_id": f"test-worker-{self.run}"})


@pytest.fixture
def unique_topics(request: pytest.FixtureRequest) -> UniqueTopics:
    """Fresh topic names for this test, so tests sharing one Kafka never see each other's data."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]
    return UniqueTopics(f"{slug}.{uuid.uuid4().hex[:8]}")


# -- pipelines: real worker processes on unique topics ----------------------------------------

@dataclass
class Pipeline:
    """Unique topics and a worker id for one test, against the session's real services."""

    settings: Settings
    logs: Path
    redis: redis.Redis
    workers: list[subprocess.Popen[bytes]]
    stopped: list[subprocess.Popen[bytes]] = field(default_factory=list)  # on purpose

    def env(self) -> dict[str, str]:
        s = self.settings
        return child_env(
            s.kafka, s.redis,
            SALESCAST_EVENTS_TOPIC=s.events_topic,
            SALESCAST_DEADLETTER_TOPIC=s.deadletter_topic,
            SALESCAST_ALERTS_TOPIC=s.alerts_topic,
            SALESCAST_BUCKETS_TOPIC=s.buckets_topic,
            SALESCAST_WORKER_ID=s.worker_id,
            SALESCAST_LAG_ALERT=str(s.lag_alert),
            SALESCAST_PARTITIONS=str(s.partitions),
            SALESCAST_HOME=str(s.home),
            SALESCAST_EVENT_TIME=s.event_time,
            SALESCAST_BUCKET_SECONDS=str(s.bucket_seconds),
            SALESCAST_UTC_OFFSET=_hhmm(s.utc_offset),
        )

    def repartition(self, partitions: int) -> None:
        """Move this pipeline to fresh topics with ``partitions`` partitions."""
        from infra.services import create_topics

        run = uuid.uuid4().hex[:8]
        self.settings = self.settings.model_copy(update=dict(
            partitions=partitions, events_topic=f"test.{run}.events",
            deadletter_topic=f"test.{run}.deadletter", alerts_topic=f"test.{run}.alerts",
            buckets_topic=f"test.{run}.buckets", worker_id=f"test-worker-{run}"))
        create_topics(self.settings.kafka, self.settings)

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = spawn(salescast_cmd("worker", "--loglevel", "info"), self.env(),
                     self.logs / f"worker-{len(self.workers)}.log")
        self.workers.append(proc)
        return proc

    def stop_worker(self, proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
        """Stop a worker gracefully (SIGTERM; SIGKILL after ``timeout``); its exit status
        (0 when it stopped cleanly)."""
        self.stopped.append(proc)
        stop(proc, timeout)
        return proc.returncode

    def start_monitor(self, interval: float = 0.5) -> subprocess.Popen[bytes]:
        """The ops monitor (lag, rates) publishing to this test's Redis."""
        proc = spawn(salescast_cmd("monitor", "--interval", str(interval)), self.env(),
                     self.logs / "monitor.log")
        self.workers.append(proc)
        return proc

    def produce(self, records: list[tuple[bytes | None, bytes]]) -> None:
        """Publish (key, value) records to the events topic and wait for delivery."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.settings.kafka, "linger.ms": 10,
                             "enable.idempotence": True,
                             "partitioner": PRODUCER_PARTITIONER})
        for key, value in records:
            producer.produce(self.settings.events_topic, key=key, value=value)
            producer.poll(0)
        assert producer.flush(30) == 0

    def audit(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """``salescast audit *args`` against this pipeline's topics and Redis."""
        return subprocess.run(salescast_cmd("audit", *args), env=self.env(), text=True,
                              capture_output=True, timeout=timeout, check=False)

    def reconciled(self, wait: float = 60) -> dict:
        """The JSON report of ``salescast audit --wait``; fails the test unless it exits 0."""
        done = self.audit("--wait", str(wait), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def snapshot(self, series: str) -> dict | None:
        live, part = self.redis.hmget(series_hash(series), ["o", "f"])
        return merge_snapshot(live, part)

    def ops(self, worker: subprocess.Popen[bytes] | None = None) -> dict[str, str]:
        """The running figures of ``worker`` (by default the one started last)."""
        proc = worker or self.workers[-1]
        raw = self.redis.hgetall(worker_ops_key(default_worker_name(proc.pid)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def reference_forecasts(self) -> dict[str, dict]:
        """Each series' last forecast part as one worker, run in-process on the events topic
        as it stands (every partition from its first offset, in one pass), writes it."""
        from confluent_kafka import Consumer, TopicPartition

        from stream.processor import Message, Processor
        from stream.sweep import Sweeper, series_of

        topic = self.settings.events_topic
        proc = Processor.from_settings(self.settings, lambda states: None,  # torch, no model
                                       partitions=self.settings.partitions)
        consumer = Consumer({"bootstrap.servers": self.settings.kafka, "log_level": 0,
                             "group.id": f"reference-{uuid.uuid4().hex[:8]}",
                             "enable.auto.commit": False})
        store: dict = {}
        last: dict[str, dict] = {}
        sweeper = Sweeper(proc)

        def keys(partition: int) -> list[str]:
            return series_of(store, partition, self.settings.partitions)

        try:
            for p in range(self.settings.partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                consumer.assign([TopicPartition(topic, p, low)])
                batch: list[Message] = []
                while low + len(batch) < high:
                    m = consumer.poll(10)
                    assert m is not None and m.error() is None, m and m.error()
                    batch.append(Message(m.offset(), m.timestamp()[1] / 1000.0, m.value() or b""))
                outs = (proc.process(p, batch[i:i + 4096], store.get)
                        for i in range(0, len(batch), 4096))
                # then the eager close of the quiet series (the worker's as it goes: the
                # forecasts are the same, stream.sweep)
                sweeps = iter(functools.partial(sweeper.step, p, store.get, keys), None)
                for out in itertools.chain(outs, sweeps):
                    store.update({k: pickle.loads(pickle.dumps(v))  # through the changelog
                                  for k, v in out.states.items()})
                    last.update({w.series: json.loads(dumps(w.forecast)) for w in out.writes
                                 if w.forecast is not None})
        finally:
            consumer.close()
        return last

    def forecasts(self, series: list[str]) -> dict[str, dict | None]:
        """Each series' forecast part as Redis has it."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in series:
            pipe.hget(series_hash(sid), "f")
        return {sid: (json.loads(raw) if raw else None)
                for sid, raw in zip(series, pipe.execute(), strict=True)}

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            for w in self.workers:
                if w not in self.stopped and w.poll() not in (None, -9):
                    tail = "\n".join(self.log_tail())
                    raise AssertionError(f"worker exited with {w.returncode}:\n{tail}")
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n"
                             + "\n".join(self.log_tail()))

    def log_tail(self, n: int = 30) -> list[str]:
        lines: list[str] = []
        for log in sorted(self.logs.glob("*.log")):
            lines += [f"--- {log.name}"] + log.read_text(errors="replace").splitlines()[-n:]
        return lines


def _hhmm(offset: int) -> str:
    """Seconds east of UTC as SALESCAST_UTC_OFFSET takes them: -18000 -> "-05:00"."""
    return f"{'-' if offset < 0 else '+'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


@pytest.fixture
def pipeline(services: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    from infra.services import create_topics

    run = uuid.uuid4().hex[:8]
    settings = services.model_copy(update={
        "home": tmp_path,
        "events_topic": f"test.{run}.events",
        "deadletter_topic": f"test.{run}.deadletter",
        "alerts_topic": f"test.{run}.alerts",
        "buckets_topic": f"test.{run}.buckets",
        "worker_id": f"test-worker-{run}",
    })
    create_topics(settings.kafka, settings)
    r = redis.Redis.from_url(settings.redis)
    r.flushdb()
    p = Pipeline(settings, tmp_path / "logs", r, [])
    try:
        yield p
    finally:
        for w in p.workers:
            stop(w)
        r.close()
