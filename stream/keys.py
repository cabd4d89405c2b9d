"""Redis key names shared by the worker (writer) and the gateway (reader).

* ``salescast:series:{id}``: hash with ``v`` (version: the source offset that produced the
  state) and ``d`` (the JSON snapshot of the series: recent actuals, open bucket, forecast).
* ``salescast:index``: sorted set of series ids, scored by the event time of their last update.
* ``salescast:updates``: pub/sub channel; each message is one series update (JSON).
* ``salescast:ops:worker``: hash of the worker's running figures (events, rates, latency).
* ``salescast:alerts``: pub/sub channel; each message is one anomaly alert (JSON).
* ``salescast:alerts:stream``: capped stream of alerts (field ``a``: the alert JSON), for
  resume after a reconnect; ``salescast:alerts:seen``: alert ids already published (dedup).
* ``salescast:ops``: pub/sub channel; each message is one ops snapshot (JSON), about 1/s.
* ``salescast:ops:latest``: the latest ops snapshot (JSON string).
* ``salescast:models``: pub/sub channel announcing a new current LSTM version (JSON).
* ``salescast:model:current``: hash describing the current LSTM version.
* ``salescast:movers``: sorted set of series scored by how far their latest closed bucket was
  from its forecast (in 95%-band half-widths); ``salescast:movers:info``: hash series -> JSON
  ``{score, actual, expected, bucket}``.
"""

from __future__ import annotations

__all__ = [
    "PREFIX", "series_key", "INDEX_KEY", "UPDATES_CHANNEL", "WORKER_OPS_KEY", "ALERTS_CHANNEL",
    "ALERTS_STREAM", "ALERTS_SEEN", "OPS_CHANNEL", "OPS_LATEST", "MODELS_CHANNEL",
    "MODEL_CURRENT", "MOVERS_KEY", "MOVERS_INFO",
]

PREFIX = "salescast"
INDEX_KEY = f"{PREFIX}:index"
UPDATES_CHANNEL = f"{PREFIX}:updates"
WORKER_OPS_KEY = f"{PREFIX}:ops:worker"
ALERTS_CHANNEL = f"{PREFIX}:alerts"
ALERTS_STREAM = f"{PREFIX}:alerts:stream"
ALERTS_SEEN = f"{PREFIX}:alerts:seen"
OPS_CHANNEL = f"{PREFIX}:ops"
OPS_LATEST = f"{PREFIX}:ops:latest"
MODELS_CHANNEL = f"{PREFIX}:models"
MODEL_CURRENT = f"{PREFIX}:model:current"
MOVERS_KEY = f"{PREFIX}:movers"
MOVERS_INFO = f"{PREFIX}:movers:info"


def series_key(series: str) -> str:
    """The hash holding one series' snapshot.

    >>> series_key("85123A")
    'salescast:series:85123A'
    """
    return f"{PREFIX}:series:{series}"
