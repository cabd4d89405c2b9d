"""The watch of the events topic's partition count (no Kafka: the count is given)."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import SimpleNamespace

import pytest

import stream.partition_watch as watch_mod
from config.settings import load_settings
from stream.partition_watch import REFUSAL, watcher


def test_the_worker_stops_itself_once_the_events_topic_has_other_partitions(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({})
    counts = iter([settings.partitions] * 3 + [settings.partitions + 4])
    asked: list[int] = []

    def count(s: object) -> int:
        asked.append(n := next(counts))
        return n

    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(watch_mod.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    app = SimpleNamespace()
    caplog.set_level(logging.CRITICAL, logger="salescast.worker")
    asyncio.run(asyncio.wait_for(watcher(settings, every=0.001, count=count)(app), 5))
    assert len(asked) == 4 and len(killed) == 1 and killed[0][1] == signal.SIGTERM
    line = getattr(app, REFUSAL)
    assert line.startswith(f"SALESCAST_PARTITIONS is {settings.partitions} but topic "
                           f"{settings.events_topic} has {settings.partitions + 4} partitions")
    assert line in caplog.records[-1].getMessage()


def test_the_same_count_never_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({})
    monkeypatch.setattr(watch_mod.os, "kill", lambda pid, sig: pytest.fail("stopped"))
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(
            watcher(settings, every=0.001, count=lambda s: settings.partitions)(object()), 0.1))
