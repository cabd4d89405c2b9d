"""Fixtures for pipeline tests: real worker processes and an in-process gateway."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import redis

from salescast.config import Settings
from salescast.procs import child_env, salescast_cmd, spawn, stop
from stream.keys import WORKER_OPS_KEY, series_key
from stream.sink import merge_snapshot


@dataclass
class Pipeline:
    """Unique topics and a worker id for one test, against the session's real services."""

    settings: Settings
    logs: Path
    redis: redis.Redis
    workers: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        s = self.settings
        return child_env(
            s.kafka, s.redis,
            SALESCAST_EVENTS_TOPIC=s.events_topic,
            SALESCAST_DEADLETTER_TOPIC=s.deadletter_topic,
            SALESCAST_WORKER_ID=s.worker_id,
            SALESCAST_PARTITIONS=str(s.partitions),
            SALESCAST_HOME=str(s.home),
        )

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = spawn(salescast_cmd("worker", "--loglevel", "info"), self.env(),
                     self.logs / f"worker-{len(self.workers)}.log")
        self.workers.append(proc)
        return proc

    def produce(self, records: list[tuple[bytes | None, bytes]]) -> None:
        """Publish (key, value) records to the events topic and wait for delivery."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.settings.kafka, "linger.ms": 10,
                             "enable.idempotence": True})
        for key, value in records:
            producer.produce(self.settings.events_topic, key=key, value=value)
            producer.poll(0)
        assert producer.flush(30) == 0

    def snapshot(self, series: str) -> dict | None:
        live, part = self.redis.hmget(series_key(series), ["o", "f"])
        return merge_snapshot(live, part)

    def ops(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(WORKER_OPS_KEY).items()}

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            for w in self.workers:
                if w.poll() not in (None, -9):
                    tail = "\n".join(self.log_tail())
                    raise AssertionError(f"worker exited with {w.returncode}:\n{tail}")
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n"
                             + "\n".join(self.log_tail()))

    def log_tail(self, n: int = 30) -> list[str]:
        lines: list[str] = []
        for log in sorted(self.logs.glob("worker-*.log")):
            lines += [f"--- {log.name}"] + log.read_text(errors="replace").splitlines()[-n:]
        return lines


@pytest.fixture
def pipeline(services: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    from infra.services import create_topics

    run = uuid.uuid4().hex[:8]
    settings = replace(
        services,
        home=tmp_path,
        events_topic=f"test.{run}.events",
        deadletter_topic=f"test.{run}.deadletter",
        worker_id=f"test-worker-{run}",
    )
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
