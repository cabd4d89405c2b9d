"""The watch of the events topic (no Kafka: what the broker says is given)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

import stream.partition_watch as watch_mod
from config.settings import load_settings
from stream.partition_watch import REFUSAL, Identity, watcher


def _stops(monkeypatch: pytest.MonkeyPatch, looks: Iterator[Identity | Exception],
           caplog: pytest.LogCaptureFixture) -> tuple[str, int]:
    """Run the watch over ``looks`` until it stops the worker: its line, and how many looks."""
    settings = load_settings({})
    asked: list[object] = []

    def look(s: object) -> Identity:
        asked.append(got := next(looks))
        if isinstance(got, Exception):
            raise got
        return got

    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(watch_mod.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    app = SimpleNamespace()
    caplog.set_level(logging.CRITICAL, logger="salescast.worker")
    asyncio.run(asyncio.wait_for(watcher(settings, every=0.001, look=look)(app), 5))
    assert len(killed) == 1 and killed[0][1] == signal.SIGTERM
    line = getattr(app, REFUSAL)
    assert line in caplog.records[-1].getMessage()
    return line, len(asked)


def test_the_worker_stops_itself_once_the_events_topic_has_other_partitions(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({})
    n = settings.partitions
    line, asked = _stops(monkeypatch, iter([(n, "a")] * 3 + [(n + 4, "a")]), caplog)
    assert asked == 4
    assert line.startswith(f"SALESCAST_PARTITIONS is {n} but topic {settings.events_topic} "
                           f"has {n + 4} partitions")


@pytest.mark.parametrize(("after", "expected"), [
    (None, "topic sales.events was deleted under the worker; start a new topic set"),
    ((8, "b"), "topic sales.events was deleted and created again under the worker; start a new "
               "topic set"),
])
def test_the_worker_stops_itself_once_the_events_topic_is_deleted_or_made_again(
        after: Identity, expected: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """It went deaf: the topic a broker made again had the same count and offsets from 0."""
    looks = iter([(8, "a"), RuntimeError("broker down"), (8, "a"), after])
    line, asked = _stops(monkeypatch, looks, caplog)
    assert asked == 4 and line.startswith(expected)


def test_the_same_topic_never_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({})
    monkeypatch.setattr(watch_mod.os, "kill", lambda pid, sig: pytest.fail("stopped"))
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(watcher(
            settings, every=0.001, look=lambda s: (settings.partitions, "a"))(object()), 0.1))


def test_the_first_id_seen_is_handed_to_the_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker started on a topic made again took its new id as the first: the id goes to
    the processor, whose partition states were made from the old one (and refuse it)."""
    seen: list[str] = []
    looks = iter([OSError("down"), (8, "new-id"), (8, "new-id"), None])

    def look(s: object) -> Identity:
        got = next(looks)
        if isinstance(got, Exception):
            raise got
        return got

    monkeypatch.setattr(watch_mod.os, "kill", lambda pid, sig: None)
    asyncio.run(asyncio.wait_for(watcher(load_settings({}), every=0.001, look=look,
                                         found=seen.append)(SimpleNamespace()), 5))
    assert seen == ["new-id"]
