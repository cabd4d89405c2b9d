"""The pipeline bench's inputs: events keyed by series, envelopes grouped per partition.

The runs themselves need Kafka, Redis and a worker (``salescast bench``)."""

from __future__ import annotations

import json

from benchmarks.pipeline import _envelopes, keyed
from stream.partitioning import partition_for
from stream.synthetic import bench_events


def test_events_are_keyed_by_their_series() -> None:
    events = list(bench_events(50, 7, seed=1))
    assert [k for k, _ in keyed(events)] == [json.loads(e)["series"].encode() for e in events]


def test_envelopes_hold_every_event_once_each_on_its_series_partition() -> None:
    events = list(bench_events(1000, 40, seed=2))
    envelopes = list(_envelopes(events, 30, partitions=4))
    inside = [(p, e) for _, value, p in envelopes for e in json.loads(value)["events"]]
    assert sorted(json.dumps(e, sort_keys=True) for _, e in inside) == sorted(
        json.dumps(json.loads(e), sort_keys=True) for e in events)
    assert all(partition_for(e["series"], 4) == p for p, e in inside)
    assert all(len(json.loads(v)["events"]) <= 30 for _, v, _ in envelopes)
    assert sum(len(json.loads(v)["events"]) == 30 for _, v, _ in envelopes) >= 1000 // 30 - 4
