"""The ops monitor: consumer lag per group and partition, throughput, latency, dead letters, models.

Every ``interval`` seconds :class:`LagMonitor` asks Kafka (confluent-kafka's AdminClient) for the
committed offsets of each consumer group and the end offsets of the topics they read, reads the
workers' running figures from Redis, and publishes one ops snapshot: ``SET`` in
``salescast:ops:latest`` and ``PUBLISH`` on ``salescast:ops`` (the gateway's ``ops`` channel and
its Prometheus ``/metrics``). :func:`ops_snapshot` is the pure part: offsets in, snapshot out.

A lag alert is raised (``lag_alert: true``, and a log line) when the total lag of a group passes
``SALESCAST_LAG_ALERT``.

Lag counts offsets that hold a record. A transactional producer (Kafka Streams, Flink,
Debezium) ends each transaction with a commit or abort marker, an offset no consumer reads, so
a partition whose last offset is a marker kept a lag of 1 until its next record (Faust commits
the offsets of the records it processed). :class:`stream.bare_tails.BareTails` asks the
broker, once per such range, whether it holds a record; a range that holds none counts 0.

>>> snap = ops_snapshot(
...     {"g": {("sales.events", 0): 90, ("sales.events", 1): None}},
...     {("sales.events", 0): 100, ("sales.events", 1): 7},
...     workers={"h:1": {"events_per_s": "12.5", "latency_p50_ms": "40", "latency_p99_ms": "90",
...                      "group": "g", "topic": "sales.events", "partitions": "[1]",
...                      "updated_at": "999.5"}},
...     rebalances=[], deadletters=3, model=None, threshold=10, now=1000.0)
>>> snap["groups"]["g"]["lag"], snap["lag_alert"], snap["latency_ms"]
(17, True, {'p50': 40.0, 'p99': 90.0})
>>> snap["workers"][0]["name"], snap["workers"][0]["partitions"], snap["workers"][0]["lag"]
('h:1', [1], 7)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from contracts.pubsub import db_of, in_db
from contracts.wire import (
    MODEL_CURRENT,
    OPS_CHANNEL,
    OPS_LATEST,
    REBALANCES_KEY,
    WORKER_TTL_S,
    WORKERS_INDEX,
    worker_ops_key,
)

__all__ = ["ops_snapshot", "worker_view", "read_workers", "LagMonitor"]

log = logging.getLogger("salescast.monitor")

TopicPartition = tuple[str, int]


def _num(raw: Any, default: float = 0.0) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return default


def ops_snapshot(
    committed: Mapping[str, Mapping[TopicPartition, int | None]],
    ends: Mapping[TopicPartition, int],
    workers: Mapping[str, Mapping[str, Any]],
    rebalances: list[dict[str, Any]],
    deadletters: int,
    model: Mapping[str, Any] | None,
    threshold: int,
    now: float,
    bare: frozenset[tuple[str, str, int]] | set[tuple[str, str, int]] = frozenset(),
) -> dict[str, Any]:
    """One ops snapshot (the README's protocol section has the schema).

    ``committed``: group -> (topic, partition) -> committed offset, ``None`` when the group
    has committed nothing there (all of the partition counts as lag). ``workers``: name -> the
    running figures each live worker wrote (strings, as a Redis hash gives them); the
    snapshot's ``events_per_s``, ``events`` and ``alerts`` are their sums, its latency the
    worst worker's, ``worker_seen_s`` the age of the freshest. ``rebalances``: the latest
    rebalances, newest first. ``bare``: ``(group, topic, partition)`` whose offsets from the
    committed one to the end hold no record (:class:`BareTails`): no lag.
    """
    groups: dict[str, Any] = {}
    alert: bool = False
    for group, offsets in committed.items():
        parts: list[dict[str, Any]] = []
        total = 0
        for (topic, partition), off in sorted(offsets.items()):
            end = ends.get((topic, partition), 0)
            lag = max(0, end - (off if off is not None and off >= 0 else 0))
            lag = 0 if (group, topic, partition) in bare else lag
            total += lag
            parts.append({"topic": topic, "partition": partition,
                          "committed": off, "end": end, "lag": lag})
        alert = alert or total > threshold
        groups[group] = {"lag": total, "partitions": parts}
    lstm = None
    if model:
        promoted = _num(model.get("promoted_at"), 0.0)
        lstm = {"version": model.get("version"), "promoted_at": promoted or None,
                "age_s": round(now - promoted, 1) if promoted else None}
    views = [worker_view(name, figures, groups, now) for name, figures in sorted(workers.items())]
    return {
        "t": now,
        "groups": groups,
        "events_per_s": round(sum(v["events_per_s"] for v in views), 1),
        "latency_ms": {"p50": max((v["latency_ms"]["p50"] for v in views), default=0.0),
                       "p99": max((v["latency_ms"]["p99"] for v in views), default=0.0)},
        "events": sum(v["events"] for v in views),
        "alerts": sum(v["alerts"] for v in views),
        "worker_seen_s": min((v["seen_s"] for v in views), default=0.0),
        "deadletters": deadletters,
        "models": {"lstm": lstm},
        "lag_alert": alert,
        "lag_threshold": threshold,
        "workers": views,
        "rebalances": rebalances,
        "aggregate_late": max((v["aggregate_late"] for v in views
                               if v["aggregate_late"] is not None), default=None),
    }


def worker_view(name: str, figures: Mapping[str, Any], groups: Mapping[str, Any],
                now: float) -> dict[str, Any]:
    """One worker's line of the ops snapshot: what it holds, its rate, the lag of its
    partitions (from its group's committed offsets) and its last rebalance."""
    try:
        held = [int(p) for p in json.loads(figures.get("partitions") or "[]")]
    except (TypeError, ValueError):
        held = []
    topic = figures.get("topic")
    parts = (groups.get(figures.get("group") or "") or {}).get("partitions", [])
    last = _num(figures.get("last_rebalance_s"), -1.0)
    return {
        "name": name,
        "partitions": held,
        "lag": sum(p["lag"] for p in parts if p["topic"] == topic and p["partition"] in held),
        "events_per_s": _num(figures.get("events_per_s")),
        "events": int(_num(figures.get("events"))),
        "alerts": int(_num(figures.get("alerts"))),
        "latency_ms": {"p50": _num(figures.get("latency_p50_ms")),
                       "p99": _num(figures.get("latency_p99_ms"))},
        "rebalancing": _num(figures.get("rebalancing")) > 0,
        "rebalances": int(_num(figures.get("rebalances"))),
        "last_rebalance_s": None if last < 0 else last,
        # partition sums the aggregates' ledger took after their bucket had closed (only the
        # worker that holds the total's partition has one)
        "aggregate_late": (None if figures.get("aggregate_late") is None
                           else int(_num(figures.get("aggregate_late")))),
        "seen_s": round(now - _num(figures.get("updated_at"), now), 1),
    }


def _decoded(raw: Any) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in dict(raw).items()}


def read_workers(redis: Any, now: float) -> dict[str, dict[str, str]]:
    """The figures of every live worker (written in the last :data:`WORKER_TTL_S` seconds),
    by name; forgets the workers that are gone. ``redis``: a synchronous client."""
    redis.zremrangebyscore(WORKERS_INDEX, "-inf", now - WORKER_TTL_S)
    names = [n.decode() for n in redis.zrange(WORKERS_INDEX, 0, -1)]
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(worker_ops_key(name))
    return {name: _decoded(raw) for name, raw in zip(names, pipe.execute(), strict=True) if raw}


class LagMonitor:
    """Polls Kafka offsets and Redis, publishes ops snapshots (the thin I/O around the above)."""

    def __init__(self, bootstrap: str, redis_url: str, groups: list[str], topics: list[str],
                 deadletter_topic: str, threshold: int) -> None:
        from confluent_kafka.admin import AdminClient
        from redis import Redis

        from infra.kafka_client import committed_reach, offset_reader
        from stream.bare_tails import BareTails

        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        self.consumer = offset_reader(bootstrap, "salescast-monitor")  # for the watermarks
        self.readers = {group: offset_reader(bootstrap, group) for group in groups}
        self.bare = BareTails(lambda t, p, o: committed_reach(bootstrap, t, p, o))
        self.redis = Redis.from_url(redis_url)
        self.groups, self.topics = groups, topics
        self.deadletter_topic, self.threshold = deadletter_topic, threshold
        self._alerting = False

    def _partitions(self, topic: str) -> list[int]:
        # every topic's metadata: a request naming the topic would make a broker with
        # auto.create.topics.enable create it (a monitor started before the worker made its
        # events topic with the broker's partition count, and the worker then refused it)
        meta = self.admin.list_topics(timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        return sorted(meta.partitions)

    def _end(self, topic: str, partition: int) -> int:
        from confluent_kafka import TopicPartition as TP

        _, high = self.consumer.get_watermark_offsets(TP(topic, partition), timeout=10,
                                                      cached=False)
        return int(high)

    def poll(self) -> dict[str, Any]:
        """Read offsets and figures once and build the snapshot."""
        from confluent_kafka import TopicPartition as TP

        tps = [(t, p) for t in self.topics for p in self._partitions(t)]
        ends = {tp: self._end(*tp) for tp in tps}
        committed: dict[str, dict[TopicPartition, int | None]] = {}
        for group in self.groups:
            got = self.readers[group].committed([TP(t, p) for t, p in tps], timeout=10)
            committed[group] = {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
                                for tp in got}
        dead = sum(self._end(self.deadletter_topic, p)
                   for p in self._partitions(self.deadletter_topic))
        now = time.time()
        workers = read_workers(self.redis, now)
        rebalances = [json.loads(x) for x in self.redis.lrange(REBALANCES_KEY, 0, 19)]
        model = _decoded(self.redis.hgetall(MODEL_CURRENT))
        return ops_snapshot(committed, ends, workers, rebalances, dead, model or None,
                            self.threshold, now, self.bare.update(committed, ends))

    def publish(self, snap: dict[str, Any]) -> None:
        body = json.dumps(snap, separators=(",", ":"))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(OPS_LATEST, body)
        pipe.publish(in_db(OPS_CHANNEL, db_of(self.redis)), body)
        pipe.execute()
        if snap["lag_alert"] and not self._alerting:
            lags = {g: v["lag"] for g, v in snap["groups"].items()}
            log.warning("consumer lag above %d: %s", self.threshold, lags)
        self._alerting = snap["lag_alert"]

    def run(self, interval: float = 1.0, count: int | None = None,
            give_up: float = 0.0) -> Exception | None:
        """Poll and publish every ``interval`` seconds (``count`` times, or until interrupted);
        a failed poll is logged and retried. The last poll's error when every poll failed
        (else None); ``TimeoutError`` (from that error) once ``give_up`` seconds (> 0) passed
        since the start or the last published snapshot."""
        n, published, error = 0, 0, None
        last_ok = time.monotonic()  # the start counts as one
        while count is None or n < count:
            started = time.monotonic()
            try:
                self.publish(self.poll())
                published, last_ok = published + 1, time.monotonic()
            except Exception as exc:  # a broker hiccup must not kill the monitor
                log.warning("ops poll failed: %s", exc)
                error = exc
                if give_up and time.monotonic() - last_ok >= give_up:
                    raise TimeoutError(f"no snapshot published for {give_up:g} s") from exc
            n += 1
            if count is None or n < count:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        return error if not published else None

    def close(self) -> None:
        for consumer in (self.consumer, *self.readers.values()):
            consumer.close()
        self.redis.close()
