"""Prometheus figures of the gateway, and of the pipeline as the ops monitor last reported it.

The gateway's own figures (connections, frames, errors, slow clients, push latency) are
prometheus-client metrics on a registry of their own. The pipeline's (consumer lag per
partition, events/s, latency, dead letters, late aggregate sums, model age) come from the
latest ops snapshot on the ``ops`` channel, exported by a custom collector at scrape time, so
``/metrics`` of any gateway shows the whole system.

>>> m = GatewayMetrics(lambda: 3)
>>> m.ops = {"groups": {"w": {"lag": 5, "partitions": [
...     {"topic": "t", "partition": 0, "lag": 5}]}}, "events_per_s": 2.0,
...     "latency_ms": {"p50": 10.0, "p99": 20.0}, "deadletters": 1, "lag_alert": False,
...     "models": {"lstm": None}}
>>> text = m.render()[0].decode()
>>> 'salescast_consumer_lag{group="w",partition="0",topic="t"} 5.0' in text
True
>>> "salescast_gateway_connections 3.0" in text
True
>>> m.ops["workers"] = [{"name": "h:1", "partitions": [0, 1], "lag": 5}]
>>> 'salescast_worker_partitions{worker="h:1"} 2.0' in m.render()[0].decode()
True
>>> m.ops["aggregate_late"] = 4  # from the worker that holds the total's partition
>>> "salescast_aggregate_late_reports 4.0" in m.render()[0].decode()
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

__all__ = ["GatewayMetrics"]


class _OpsCollector(Collector):
    def __init__(self, owner: GatewayMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ops: dict[str, Any] = self.owner.ops or {}
        lag = GaugeMetricFamily("salescast_consumer_lag", "Messages behind the end offset",
                                labels=["group", "topic", "partition"])
        total = GaugeMetricFamily("salescast_consumer_lag_total", "Total lag of a group",
                                  labels=["group"])
        for group, info in (ops.get("groups") or {}).items():
            total.add_metric([group], float(info.get("lag", 0)))
            for p in info.get("partitions", []):
                lag.add_metric([group, str(p["topic"]), str(p["partition"])], float(p["lag"]))
        yield lag
        yield total
        simple = [
            ("salescast_events_per_second", "Worker events per second",
             ops.get("events_per_s")),
            ("salescast_worker_latency_p50_seconds", "Event-to-Redis latency, median",
             _ms((ops.get("latency_ms") or {}).get("p50"))),
            ("salescast_worker_latency_p99_seconds", "Event-to-Redis latency, 99th percentile",
             _ms((ops.get("latency_ms") or {}).get("p99"))),
            ("salescast_deadletters", "Records in the dead-letter topic", ops.get("deadletters")),
            ("salescast_aggregate_late_reports", "Partition sums that reached the aggregates "
             "after their bucket had closed", ops.get("aggregate_late")),
            ("salescast_lag_alert", "1 when a group's lag is above the threshold",
             None if "lag_alert" not in ops else float(bool(ops["lag_alert"]))),
            ("salescast_ops_snapshot_timestamp_seconds", "When the ops monitor last reported",
             ops.get("t")),
        ]
        yield from _worker_families(ops)
        lstm = (ops.get("models") or {}).get("lstm") or {}
        simple.append(("salescast_lstm_model_age_seconds", "Age of the current LSTM model",
                       lstm.get("age_s")))
        for name, doc, value in simple:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))


def _worker_families(ops: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    """The group view: one series per worker (``worker`` label) and the worker count."""
    workers = [w for w in ops.get("workers") or [] if isinstance(w, dict)]
    families = [
        ("salescast_worker_partitions", "Partitions of the events topic a worker holds",
         lambda w: len(w.get("partitions") or [])),
        ("salescast_worker_events_per_second", "A worker's events per second",
         lambda w: w.get("events_per_s")),
        ("salescast_worker_lag", "Messages behind the end offset on a worker's partitions",
         lambda w: w.get("lag")),
        ("salescast_worker_rebalances", "Rebalances a worker went through since it started",
         lambda w: w.get("rebalances")),
        ("salescast_worker_last_rebalance_seconds",
         "How long a worker's last rebalance kept its partitions from being served",
         lambda w: w.get("last_rebalance_s")),
    ]
    for name, doc, pick in families:
        family = GaugeMetricFamily(name, doc, labels=["worker"])
        for w in workers:
            value = pick(w)
            if value is not None:
                family.add_metric([str(w.get("name"))], float(value))
        yield family
    if "workers" in ops:
        yield GaugeMetricFamily("salescast_workers", "Live workers in the group",
                                value=float(len(workers)))


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


class GatewayMetrics:
    """The gateway's registry; ``ops`` is the latest ops snapshot (set by the gateway)."""

    def __init__(self, connections: Callable[[], int],
                 redis_up: Callable[[], bool] = lambda: True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ops: dict[str, Any] | None = None
        g = Gauge("salescast_gateway_connections", "Open WebSocket connections",
                  registry=self.registry)
        g.set_function(lambda: float(connections()))
        up = Gauge("salescast_gateway_redis_up",
                   "1 while the gateway is subscribed to Redis and Redis answers pings",
                   registry=self.registry)
        up.set_function(lambda: float(redis_up()))
        self.redis_reconnects = Counter("salescast_gateway_redis_reconnects",
                                        "Times the Redis pub/sub feed was resubscribed",
                                        registry=self.registry)
        self.closes = Counter("salescast_gateway_closes",
                              "Connections closed by the gateway, by reason", ["reason"],
                              registry=self.registry)
        self.sent = Counter("salescast_gateway_frames_sent", "Frames sent to clients",
                            registry=self.registry)
        self.routed = Counter("salescast_gateway_updates_routed", "Messages routed from Redis",
                              ["channel"], registry=self.registry)
        self.errors = Counter("salescast_gateway_error_frames", "Error frames sent, by code",
                              ["code"], registry=self.registry)
        self.rejected = Counter("salescast_gateway_handshakes_rejected",
                                "WebSocket handshakes refused", ["reason"],
                                registry=self.registry)
        self.slow_closes = Counter("salescast_gateway_slow_client_closes",
                                   "Clients closed for being too far behind",
                                   registry=self.registry)
        self.push_latency = Histogram(
            "salescast_gateway_push_latency_seconds",
            "From the worker's Redis write to the gateway routing the update",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry)
        self.registry.register(_OpsCollector(self))

    def observe_push(self, seconds: float) -> None:
        self.push_latency.observe(max(0.0, seconds))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
