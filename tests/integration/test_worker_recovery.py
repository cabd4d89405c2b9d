"""kill -9 the worker mid-stream: after a restart, counts and model state are exact."""

from __future__ import annotations

import pickle
import random
import signal

import pytest

from contracts.events import SaleEvent
from stream.aggregates import REPORT_PREFIX
from stream.processor import Message, Processor

pytestmark = pytest.mark.integration

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _events(n_series: int = 40, days: int = 45, per_day: int = 400) -> list[SaleEvent]:
    rng = random.Random(7)
    out = []
    for day in range(days):
        for i in range(per_day):
            sid = f"K{rng.randrange(n_series):03d}"
            out.append(SaleEvent(sid, T0 + day * DAY + i * (DAY // per_day),
                                 rng.choice([1, 1, 2, 3, 5, -1]), 1.25))
    return out


def test_kill_9_and_restart_gives_exact_counts_and_models(pipeline) -> None:
    events = _events()
    records = [(e.series.encode(), e.to_json()) for e in events]
    half = len(records) // 2
    pipeline.produce(records[:half])
    worker = pipeline.start_worker()
    pipeline.wait_for(lambda: int(pipeline.ops().get("accepted", 0)) >= half // 3, 90,
                      "the worker to process part of the stream")
    pipeline.produce(records[half : half + half // 2])
    worker.send_signal(signal.SIGKILL)  # mid-stream, no clean shutdown
    worker.wait(10)
    pipeline.produce(records[half + half // 2 :])
    pipeline.start_worker()

    truth: dict[str, int] = {}
    for e in events:
        truth[e.series] = truth.get(e.series, 0) + 1

    def all_counted() -> bool:
        snaps = {sid: pipeline.snapshot(sid) for sid in truth}
        return all(s is not None and s["events"] == truth[sid] for sid, s in snaps.items())

    pipeline.wait_for(all_counted, 180, "every series to reach its true event count")

    # The same events through the pure processor, per partition in offset order, give the
    # reference state; the worker's snapshots must match it exactly (no loss, no double count).
    reference = _reference(pipeline, records)
    for sid, count in truth.items():
        snap = pipeline.snapshot(sid)
        assert snap is not None
        assert snap["events"] == count
        ref = reference[f"s:{sid}"]
        assert snap["actuals"] == ref.actuals(DAY)
        expected = Processor("t").forecast_of(ref)
        assert snap["forecast"]["yhat"] == pytest.approx(expected.yhat, rel=1e-9)
        assert snap["forecast"]["lo"] == pytest.approx(expected.lo, rel=1e-9)


def _reference(pipeline, records) -> dict:
    """Read back what the broker holds (partition, offset) and replay it through Processor."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": pipeline.settings.kafka, "group.id": "ref-reader",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([pipeline.settings.events_topic])
    by_partition: dict[int, list[Message]] = {}
    seen = 0
    while seen < len(records):
        for msg in consumer.consume(1000, timeout=2.0):
            if msg.error():
                continue
            by_partition.setdefault(msg.partition(), []).append(
                Message(msg.offset(), 0.0, msg.value()))
            seen += not msg.value().startswith(REPORT_PREFIX)  # not the aggregates' reports
    consumer.close()
    proc = Processor.from_settings(pipeline.settings)
    store: dict = {}
    for partition, msgs in by_partition.items():
        out = proc.process(partition, sorted(msgs, key=lambda m: m.offset), store.get)
        store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
    return store
