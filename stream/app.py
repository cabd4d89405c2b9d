"""The Faust application: configuration, with the Kafka transport of :mod:`stream.transport`
(whose consumer follows the commit rules of :mod:`stream.commits`).

At-least-once processing (Faust's exactly-once mode has open duplicate/crash bugs): every
sink is idempotent instead. The web server Faust starts by default on 0.0.0.0:6066 is off.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.utils.terminal import SpinnerHandler
from mode.utils.logging import level_number

from config import DEFAULT_PARTITIONS
from models import kernels
from stream import heap
from stream.commits import BatchGate, Ownership
from stream.deliveries import Deliveries
from stream.lognoise import Repeats
from stream.table_store import Table
from stream.transport import Transport

__all__ = ["STATE_TABLE", "STOP_GRACE_S", "Worker", "create_app", "exit_after", "state_changelog"]

#: the worker's table of series states (:mod:`stream.agents`); Faust names its changelog topic
STATE_TABLE = "series-state"


def state_changelog(app_id: str) -> str:
    """The changelog topic of the state table of the worker group ``app_id``."""
    return f"{app_id}-{STATE_TABLE}-changelog"


def create_app(
    app_id: str,
    bootstrap: str,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    standby_replicas: int = 0,
    datadir: str | None = None,
    session_timeout: float = 10.0,
    commit_interval: float = 1.0,
) -> faust.App:
    """A Faust app tuned for a small-message, high-rate stream.

    ``producer_linger`` batches changelog writes (0 sends one tiny request per write), short
    (5 ms) because each flush step and each commit wait for every send to be delivered
    (:class:`stream.deliveries.Deliveries`); a large ``stream_buffer_maxsize`` lets a backlog
    fill big batches.
    Its consumers come from :class:`stream.transport.Transport` (a 20 ms broker fetch wait,
    not Faust's 1.5 s, or 16 KB).
    ``partitions`` is the partition count of the topics Faust creates (its table changelogs);
    ``standby_replicas`` (``SALESCAST_STANDBY_REPLICAS``) is Faust's
    ``table_standby_replicas``: each other worker of the group keeps that many warm copies of a
    table partition. Workers heartbeat every second (Faust's default is 3 s): a member learns
    of a rebalance at its next heartbeat, so with 3 s a joining worker waited up to 3 s for the
    others to rejoin before its recovery could start.
    """
    datadir = datadir or f"{tempfile.gettempdir()}/salescast-faust/{app_id}"
    Path(datadir).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        topic_partitions=partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        web_enabled=False,
        web_host="127.0.0.1",
        producer_linger=0.005,
        producer_max_batch_size=1_048_576,
        stream_buffer_maxsize=16_384,
        broker_max_poll_records=4_096,
        broker_commit_interval=commit_interval,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(1.0, session_timeout / 3),
        broker_rebalance_timeout=session_timeout,
        table_standby_replicas=standby_replicas,
        stream_wait_empty=False,
        Table=Table,  # the in-memory store that knows its changelog offsets
    )
    app.transport = Transport(app.conf.broker_consumer, app)
    gate = app.batch_gate = BatchGate()  # type: ignore[attr-defined]
    app.deliveries = Deliveries()  # type: ignore[attr-defined]
    app.ownership = Ownership()  # type: ignore[attr-defined]

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def drain(sender: Any, **kwargs: Any) -> None:
        """A stop lets the batches taken end before the producer stops (the consumer has; a
        batch queued behind the stop's commit started after it and failed on its sends)."""
        while not gate.idle():
            await gate.wait_idle()

    return app


#: how long a stop may take once signalled (a broker or Redis that does not answer held a stop
#: for the whole outage: 90 s and more in a fault probe); then the process exits, as a kill -9
#: would end it (the fault suite's case: what was not committed is read again)
STOP_GRACE_S = 60.0


def exit_after(seconds: float, why: str,
               exit_: Callable[[int], object] = os._exit) -> threading.Timer:
    """Exit the process with status 1 (``exit_``) ``seconds`` from now, saying ``why`` in the
    log, unless it has ended before; a daemon timer, which does not keep the process alive.

    >>> import time
    >>> codes = []
    >>> timer = exit_after(0.01, "a test", codes.append); time.sleep(0.2); codes
    [1]
    """
    def give_up() -> None:
        logging.getLogger("salescast.worker").error("%s: exiting without a clean stop", why)
        exit_(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


class Worker(faust.Worker):
    """Faust's worker, without its startup spinner's cost once started, with a garbage
    collector tuned for many long-lived objects (:func:`stream.heap.tune`) and the model
    bank's compiled loops loaded (:func:`models.kernels.warm`).

    For its terminal spinner, Faust sets the root logger to DEBUG and adds a handler that
    spins on every record; the spinner stops at startup, but the level stayed. Every
    ``log.debug`` of Faust and aiokafka (several per message sent) then built a record that
    no handler wrote: about 3% of a busy worker's main thread. Once started, this worker puts
    the root logger back to ``loglevel`` and drops the spinner's handler.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        heap.tune()
        kernels.warm()  # the bank's compiled loops, before the first close needs them

    def _schedule_shutdown(self, signal: Any) -> None:
        if not self._signal_stop_time:  # the first stop signal: a stop is bounded
            exit_after(STOP_GRACE_S, f"still stopping {STOP_GRACE_S:.0f} s after {signal!r}")
        super()._schedule_shutdown(signal)

    def _on_startup_end_spinner(self) -> None:
        super()._on_startup_end_spinner()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, SpinnerHandler)]:
            root.removeHandler(handler)
        for kept in root.handlers:  # the Kafka client's repeats (stream.lognoise)
            kept.addFilter(Repeats())
        root.setLevel(level_number(self.loglevel or logging.WARNING))  # as mode's own setup
