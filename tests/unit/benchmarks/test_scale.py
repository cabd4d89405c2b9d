"""``salescast bench scale``'s pure part: the rebalance data set (the runs need Kafka and
Redis: ``salescast bench scale``)."""

from __future__ import annotations

import json

from benchmarks.scale import series_events


def test_every_series_gets_two_events_a_closed_bucket_apart() -> None:
    events = [json.loads(e) for e in series_events(300)]
    assert len(events) == 600 and len({e["series"] for e in events}) == 300
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)  # time order
    first, second = events[0], events[300]
    assert first["series"] == second["series"] and second["ts"] - first["ts"] >= 2 * 86400
