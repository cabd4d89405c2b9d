"""Redis key names shared by the worker (writer) and the gateway (reader).

* ``salescast:series:{id}``: hash with ``v`` (version: the source offset that produced the
  state) and ``d`` (the JSON snapshot of the series: recent actuals, open bucket, forecast).
* ``salescast:index``: sorted set of series ids, scored by the event time of their last update.
* ``salescast:updates``: pub/sub channel; each message is one series update (JSON).
* ``salescast:ops:worker``: hash of the worker's running figures (events, rates, latency).
"""

from __future__ import annotations

__all__ = ["PREFIX", "series_key", "INDEX_KEY", "UPDATES_CHANNEL", "WORKER_OPS_KEY"]

PREFIX = "salescast"
INDEX_KEY = f"{PREFIX}:index"
UPDATES_CHANNEL = f"{PREFIX}:updates"
WORKER_OPS_KEY = f"{PREFIX}:ops:worker"


def series_key(series: str) -> str:
    """The hash holding one series' snapshot.

    >>> series_key("85123A")
    'salescast:series:85123A'
    """
    return f"{PREFIX}:series:{series}"
