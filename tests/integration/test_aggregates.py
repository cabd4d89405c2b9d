"""Aggregates on the real Kafka + Redis: three weeks of Online Retail II replayed through a worker
on a 3-partition topic. Every forecast the worker publishes for ``total`` comes with one for
each country, and they add up at every horizon; the counts of the aggregates are the sums of
their SKUs' (``salescast audit`` checks them with every SKU's)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from contracts.wire import UPDATES_CHANNEL

pytestmark = pytest.mark.integration


def _day(y: int, m: int, d: int) -> float:
    return dt.datetime(y, m, d, tzinfo=dt.UTC).timestamp()


class Collector:
    """Every forecast update of the aggregates published on Redis, in a thread."""

    def __init__(self, r: Any) -> None:
        self.pubsub = r.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(UPDATES_CHANNEL)
        self.updates: list[dict[str, Any]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if msg is None:
                continue
            u = json.loads(msg["data"])
            name = u.get("series", "")
            if u.get("kind") == "forecast" and (name == "total" or name.startswith("country:")):
                self.updates.append(u)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)
        self.pubsub.close()


def test_countries_add_up_to_the_total_on_a_real_replay(pipeline: Any, retail_csv: Path) -> None:
    from sources.online_retail import iter_events
    from stream.monitor import read_workers
    from stream.replay import replay

    t0, t1, t2 = _day(2009, 12, 1), _day(2009, 12, 15), _day(2009, 12, 22)
    events = [e for e in iter_events(retail_csv) if t0 <= e.ts < t2]
    pipeline.repartition(3)
    s = pipeline.settings
    collector = Collector(pipeline.redis)
    try:
        pipeline.start_worker()
        # two weeks, then the third once they are counted: the total closes days at least
        # twice (with everything on the topic at once, one batch may close every day)
        first = [e for e in events if e.ts < t1]
        for part, n in ((first, len(first)), ([e for e in events if e.ts >= t1], len(events))):
            summary = replay(part, s.kafka, s.events_topic, speed=None, total=len(part),
                             progress=False, envelope=100)
            assert summary.sent == len(part)
            # the last day stays open; every event is counted in the total's live part
            pipeline.wait_for(lambda n=n: (pipeline.snapshot("total") or {}).get("events")
                              == n, 300, f"{n} events counted in the total")
        report = pipeline.reconciled()  # the audit: every SKU, the total and each country
        # the worker holding total's partition shows its ledger's late count in its figures
        pipeline.wait_for(lambda: any(
            f.get("aggregate_late", "").isdigit()
            for f in read_workers(pipeline.redis, time.time()).values()), 30,
            "the late aggregate sums in the worker's ops figures")
    finally:
        collector.stop()
    countries = {f"country:{e.country or '(none)'}" for e in events}
    assert report["reconciled"]
    assert report["series_checked"] == len({e.series for e in events}) + 1 + len(countries)

    by_version: dict[int, dict[str, dict[str, Any]]] = {}
    for u in collector.updates:
        by_version.setdefault(u["version"], {})[u["series"]] = u["forecast"]
    published = [fs for fs in by_version.values() if "total" in fs]
    assert len(published) >= 2
    for fs in published:
        total = fs["total"]
        children = total["model"]["hierarchy"]["children"]
        assert set(children) == set(fs) - {"total"}, "every child is published with the total"
        for name in children:
            assert fs[name]["t"] == total["t"]
        for h, y in enumerate(total["yhat"]):
            summed = sum(fs[name]["yhat"][h] for name in children)
            assert summed == pytest.approx(y, rel=1e-6, abs=1e-9), (total["t"][h], h)
    assert set(published[-1]["total"]["model"]["hierarchy"]["children"]) <= countries
