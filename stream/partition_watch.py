"""The events topic's partition count, watched while the worker runs.

A series lives on partition ``murmur2(series) % SALESCAST_PARTITIONS``, its state in the same
partition of the worker table's changelog, and a worker refuses to start when the events
topic has another count (``salescast.cliutil.check_partitions``, with :func:`mismatch`'s
line). Partitions added to the topic while workers run (``kafka-topics --alter
--partitions``) went unnoticed: the events on the new partitions were not read, and about
five minutes later (the consumer's metadata refresh) Faust assigned them and every worker
crashed with a traceback (a probe's finding).

:func:`watcher` asks the broker for the count every :data:`WATCH_EVERY` seconds (in a thread:
the admin client blocks) and, once it differs, logs the line a restart would print and stops
the worker cleanly (what it applied is committed as on any stop; a SIGTERM to itself, so a
stop is bounded as every stop is: ``stream.app.STOP_GRACE_S``). ``salescast worker`` then
exits with status 2 (:data:`REFUSAL`).

>>> mismatch(8, {"sales.events": 8}) is None
True
>>> mismatch(8, {"sales.events": 12})[:55]
'SALESCAST_PARTITIONS is 8 but topic sales.events has 12'
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from config import Settings
from stream.offsets import events_partitions

__all__ = ["WATCH_EVERY", "REFUSAL", "mismatch", "watcher"]

log = logging.getLogger("salescast.worker")

WATCH_EVERY = 10.0  #: seconds between two reads of the events topic's partition count
REFUSAL = "salescast_refusal"  #: the app attribute that holds why the worker stopped itself


def mismatch(expected: int, counts: dict[str, int]) -> str | None:
    """The one line that refuses a worker whose topics (name -> partition count) do not have
    ``expected`` partitions (``None``: they all do)."""
    wrong = {name: n for name, n in counts.items() if n != expected}
    if not wrong:
        return None
    return (f"SALESCAST_PARTITIONS is {expected} but "
            + " and ".join(f"topic {name} has {n}" for name, n in wrong.items())
            + " partitions: set it to the topics' count, or start a new topic set and "
            "SALESCAST_WORKER_ID (README, \"Choosing the partition count\"): a series must be "
            "read on the partition that holds its state")


def watcher(settings: Settings, every: float = WATCH_EVERY,
            count: Callable[[Settings], int] = events_partitions
            ) -> Callable[[Any], Awaitable[None]]:
    """The worker's task (``app.task(watcher(settings))``): every ``every`` seconds, the
    events topic's partition count (``count``); once it is not ``settings.partitions``, the
    worker stops itself, saying why (see the module docstring)."""
    async def watch(app: Any) -> None:
        while True:
            await asyncio.sleep(every)
            line = mismatch(settings.partitions,
                            {settings.events_topic: await asyncio.to_thread(count, settings)})
            if line is not None:
                log.critical("%s; the worker stops (the events topic changed under it)", line)
                setattr(app, REFUSAL, line)
                os.kill(os.getpid(), signal.SIGTERM)
                return
    return watch
