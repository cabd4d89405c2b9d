"""``salescast bench scale``'s pure parts: the rebalance data set and the report (the runs
themselves need Kafka and Redis: ``salescast bench scale``)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from benchmarks.scale import Rebalance, Throughput, _report, series_events


def test_every_series_gets_two_events_a_closed_bucket_apart() -> None:
    events = [json.loads(e) for e in series_events(300)]
    assert len(events) == 600 and len({e["series"] for e in events}) == 300
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)  # time order
    first, second = events[0], events[300]
    assert first["series"] == second["series"] and second["ts"] - first["ts"] >= 2 * 86400


def test_the_report_shows_the_ratio_to_one_worker_and_the_cpu_split() -> None:
    console = Console(record=True, width=160)
    runs = [Throughput(1, 1000, 2.0, {"workers": 0.5, "broker": 0.3, "redis": 0.1}),
            Throughput(2, 1000, 1.6, {"workers": 0.6, "broker": 0.25, "redis": 0.1})]
    _report(console, runs, [Rebalance(10_000, 0, 1.25, 0.5, 12.0, 1.75)], Path("/tmp"))
    text = console.export_text()
    assert "1.25" in text and "60%" in text and "2,500" in text and "12.00" in text
