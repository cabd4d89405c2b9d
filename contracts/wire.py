"""What travels from the worker to the dashboard: Redis keys, hash fields, payloads, frames.

The worker's sink (:mod:`stream.sink`) writes these shapes, the gateway reads and forwards
them, the dashboard (``gateway/static/core.js``) and the README's protocol section describe
them. Nothing here does I/O: it names keys and turns payloads into text and back.

Redis keys (all under :data:`PREFIX`):

* :func:`series_hash` ``salescast:series:{id}``: one series' state, a hash with the fields
  :data:`VERSION_FIELD` ``v`` (the source offset that produced the state, an integer),
  :data:`LIVE_FIELD` ``o`` (the live part: :data:`LIVE_FIELDS`, changes with every event) and
  :data:`FORECAST_FIELD` ``f`` (:data:`FORECAST_PART_FIELDS`: closed actuals and forecast,
  changes when a bucket closes). A snapshot is the two merged (:func:`merge_snapshot`).
* :data:`INDEX_KEY`: sorted set of series ids, scored by the event time of their last update.
* :data:`UPDATES_CHANNEL`: pub/sub; one JSON message per series write (a live update, or a
  forecast update when a bucket closed: ``kind``), with ``at``, the wall time of the write.
* :data:`ALERTS_CHANNEL`: pub/sub; one anomaly alert (:data:`ALERT_FIELDS`) per message, with
  ``sid``, its id in :data:`ALERTS_STREAM` (a capped stream, the alert JSON in field
  :data:`ALERT_FIELD` ``a``).
  :data:`ALERTS_SEEN`: alert event ids already published (dedup after a restart).
  :data:`ALERTS_STATE` ``salescast:alerts:state``: hash alert id -> the latest JSON of that
  alert (``state`` ``open``, ``updated`` or ``resolved``); :data:`ALERTS_GROUP` ``:{kind}:{since}``:
  the partitions that reported a group alert (the sink merges their messages);
  :data:`ALERTS_ACKS` ``salescast:alerts:acks``: hash alert id -> JSON
  ``{id, by, at, note}``, its latest acknowledgement
  (the gateway's ``ack`` frame, which also publishes the alert with ``state``
  ``acknowledged``); :data:`ALERTS_RESOLVED`: the resolved alerts' ids by time (ms), of
  which the sink keeps the newest ``ALERTS_RESOLVED_KEPT`` in the two hashes.
* :data:`OPS_CHANNEL`: pub/sub, one ops snapshot (:data:`OPS_FIELDS`) about once a second;
  :data:`OPS_LATEST`: the latest one (a string).
* :func:`worker_ops_key` ``salescast:ops:worker:{name}``: hash of one worker's running figures
  and the partitions it holds, expiring :data:`WORKER_TTL_S` after its last write;
  :data:`WORKERS_INDEX`: sorted set of worker names scored by the wall time of that write;
  :data:`REBALANCES_KEY`: list of the latest rebalances (JSON, newest first, capped at
  :data:`REBALANCES_KEPT`). The ops monitor reads the three. :data:`LOST_KEY`: hash worker
  name -> messages retention deleted before it read them (kept: ``salescast audit`` reports it).
* :data:`MOVERS_KEY`: sorted set of series scored by how far their latest closed bucket was
  from its forecast (in 95%-band half-widths); :data:`MOVERS_INFO`: hash series -> JSON
  ``{score, actual, expected, bucket}``.
* :data:`MODELS_CHANNEL`: pub/sub announcing a new current LSTM version;
  :data:`MODEL_CURRENT`: hash describing it.
* :func:`worker_epoch_key` ``salescast:worker:epoch:{name}``: each worker's marker that Redis
  holds what it holds (set as its republish begins, checked as it ends; a day's expiry, renewed
  each second). One a worker: a shared one hid a flush from every worker but the first to
  republish.

Server frames (gateway -> client) are compact JSON objects with a ``type``
(:func:`server_frame`); the live ones embed the worker's JSON as it came, without re-encoding
it (:func:`update_frame`, :func:`alert_update_frame`, :func:`ops_frame`).

>>> w = SeriesWrite("A", 3, 5.0, {"series": "A", "version": 3}, None, {"series": "A"})
>>> merge_snapshot(dumps(w.live), None)
{'forecast': None, 'actuals': [], 'series': 'A', 'version': 3}
>>> update_frame("actuals", "A", 3, '{"series":"A"}')
'{"type":"update","channel":"actuals","series":"A","version":3,"data":{"series":"A"}}'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contracts.json_codec import dumpb, dumps, loads_stored

__all__ = [
    "PREFIX", "INDEX_KEY", "UPDATES_CHANNEL", "WORKERS_INDEX", "REBALANCES_KEY", "WORKER_TTL_S",
    "LOST_KEY",
    "REBALANCES_KEPT", "worker_ops_key", "ALERTS_CHANNEL", "ALERTS_STATE", "ALERTS_ACKS",
    "ALERTS_STREAM", "ALERTS_SEEN", "ALERTS_GROUP", "OPS_CHANNEL", "OPS_LATEST", "MODELS_CHANNEL",
    "MODEL_CURRENT", "MOVERS_KEY", "MOVERS_INFO", "worker_epoch_key", "series_hash",
    "VERSION_FIELD", "LIVE_FIELD", "FORECAST_FIELD", "ALERT_FIELD", "CHANNELS", "LIVE_FIELDS",
    "FORECAST_PART_FIELDS", "snapshot_version", "ALERT_FIELDS", "GROUP_ALERT_FIELDS", "OPS_FIELDS",
    "SeriesWrite", "dumps", "dumpb", "loads_stored", "merge_snapshot", "live_part", "decode_alert",
    "mover_item", "MAX_NAME_LEN", "GROUP_SERIES",
    "server_frame", "update_frame", "alert_update_frame", "ops_frame",
]

PREFIX = "salescast"
INDEX_KEY = f"{PREFIX}:index"
UPDATES_CHANNEL = f"{PREFIX}:updates"
WORKERS_INDEX = f"{PREFIX}:ops:workers"
REBALANCES_KEY = f"{PREFIX}:ops:rebalances"
LOST_KEY = f"{PREFIX}:ops:lost"
WORKER_TTL_S = 15  #: a worker that has not written its figures for this long is gone
REBALANCES_KEPT = 50
ALERTS_CHANNEL = f"{PREFIX}:alerts"
ALERTS_STREAM = f"{PREFIX}:alerts:stream"
ALERTS_SEEN = f"{PREFIX}:alerts:seen"
ALERTS_STATE = f"{PREFIX}:alerts:state"  #: hash: alert id -> its latest JSON (the worker's sink)
ALERTS_ACKS = f"{PREFIX}:alerts:acks"  #: hash: alert id -> its latest acknowledgement (gateway)
ALERTS_RESOLVED = f"{PREFIX}:alerts:resolved"  #: sorted set: resolved alert ids, by time
ALERTS_KEPT = 10_000  #: alerts kept in ALERTS_STREAM, approximately (the sink and the gateway)
#: the longest series id or glob a client or a token may name: a SKU (64 characters) or an
#: aggregate (its field, ':', a country of 64 characters or a category), with room to escape
#: a SKU's glob characters (``[*]``)
MAX_NAME_LEN = 200
#: the series of a shop-wide (group) alert (models.anomaly.group_message); no SKU may be called
#: so (stream.validation refuses it)
GROUP_SERIES = "*"
ALERTS_GROUP = f"{PREFIX}:alerts:group"  #: + ":{kind}:{since}": a group alert's partitions
OPS_CHANNEL = f"{PREFIX}:ops"
OPS_LATEST = f"{PREFIX}:ops:latest"
MODELS_CHANNEL = f"{PREFIX}:models"
MODEL_CURRENT = f"{PREFIX}:model:current"
MOVERS_KEY = f"{PREFIX}:movers"
MOVERS_INFO = f"{PREFIX}:movers:info"



VERSION_FIELD = "v"  #: series hash: the version (source offset) of the stored state
LIVE_FIELD = "o"  #: series hash: the live part (JSON)
FORECAST_FIELD = "f"  #: series hash: the forecast part (JSON)
ALERT_FIELD = "a"  #: alerts stream: the alert (JSON)

#: The gateway's channels: what a client subscribes to.
CHANNELS = ("forecasts", "actuals", "alerts", "ops")

#: The fields of the live part of a series (and of an ``actuals`` update), in order.
LIVE_FIELDS = ("series", "version", "events", "event_ts", "open", "bucket_seconds", "at")
#: The fields of the forecast part of a series (written when a bucket closes); ``last``: the
#: latest closed bucket against its forecast (``actual``, ``expected``, ``bucket``, ``score``);
#: ``forecast_version``: the version of that write, the version of a ``forecasts`` snapshot
#: (:func:`snapshot_version`).
FORECAST_PART_FIELDS = ("bucket_seconds", "actuals", "forecast", "last", "forecast_version")
#: The fields of an anomaly alert (``models.anomaly.make_alert``); published with ``sid`` too.
ALERT_FIELDS = ("id", "event_id", "state", "scope", "series", "kind", "severity", "since",
                "buckets", "bucket", "bucket_end", "actual", "expected", "lo", "hi", "lo95",
                "hi95", "score", "model_version", "detected_at")
#: The fields of a group (shop-wide) alert (``models.anomaly.group_message``; the sink adds
#: ``partitions`` and drops ``partition`` when it merges the partitions' messages).
GROUP_ALERT_FIELDS = ("id", "event_id", "state", "scope", "series", "kind", "severity", "since",
                      "bucket", "bucket_end", "series_affected", "active", "usual", "partition",
                      "detected_at")
#: The fields of an ops snapshot (``stream.monitor.ops_snapshot``).
OPS_FIELDS = ("t", "groups", "events_per_s", "latency_ms", "events", "alerts", "worker_seen_s",
              "deadletters", "models", "lag_alert", "lag_threshold", "workers", "rebalances",
              "aggregate_late")


def worker_ops_key(name: str) -> str:
    """The hash of one worker's ops figures.

    >>> worker_ops_key("host:42")
    'salescast:ops:worker:host:42'
    """
    return f"{PREFIX}:ops:worker:{name}"


def worker_epoch_key(name: str) -> str:
    """One worker's marker that Redis holds what the worker holds (a flush removes it).

    >>> worker_epoch_key("host:42")
    'salescast:worker:epoch:host:42'
    """
    return f"{PREFIX}:worker:epoch:{name}"


def series_hash(series: str) -> str:
    """The Redis hash holding one series' state.

    >>> series_hash("85123A")
    'salescast:series:85123A'
    """
    return f"{PREFIX}:series:{series}"


@dataclass(frozen=True)
class SeriesWrite:
    """One series' new state, as the worker's processor hands it to the sink.

    ``live`` (``series``, ``version``, ``events``, ``event_ts``, ``open``) changes with every
    event and is small; ``forecast`` (``bucket_seconds``, ``actuals``, ``forecast``) only when
    a bucket closed, else ``None``. A snapshot is the two merged; ``update`` is what
    subscribers get on :data:`UPDATES_CHANNEL` (``kind``: ``live`` or ``forecast``).
    """

    series: str
    version: int
    event_ts: float
    live: dict[str, Any]
    forecast: dict[str, Any] | None
    update: dict[str, Any]


def merge_snapshot(live: str | bytes | None,
                   forecast: str | bytes | None) -> dict[str, Any] | None:
    """The snapshot of a series from its two stored parts (``None``: no such series).

    >>> merge_snapshot('{"series":"A","version":3}', '{"forecast":null,"actuals":[]}')
    {'forecast': None, 'actuals': [], 'series': 'A', 'version': 3}
    """
    if live is None:
        return None
    data: dict[str, Any] = {"forecast": None, "actuals": []}
    if forecast is not None:
        data.update(loads_stored(forecast)[0])
    data.update(loads_stored(live)[0])
    return data


def snapshot_version(channel: str, data: dict[str, Any]) -> int:
    """The version of a snapshot of ``channel`` from its merged ``data``: on ``forecasts`` the
    version of the latest forecast write (``forecasts`` subscribers are sent only those, so a
    snapshot and the updates of a channel count the same versions), else the live version.

    >>> data = {"series": "A", "version": 9, "forecast_version": 7}
    >>> snapshot_version("forecasts", data), snapshot_version("actuals", data)
    (7, 9)
    """
    version = data.get("forecast_version") if channel == "forecasts" else None
    return int(data.get("version", -1) if version is None else version)


def live_part(update: dict[str, Any]) -> dict[str, Any]:
    """The live part of a forecast update (what ``actuals`` subscribers get of it).

    >>> live_part({"series": "A", "version": 7, "kind": "forecast", "forecast": {}})
    {'series': 'A', 'version': 7, 'kind': 'live'}
    """
    live = {k: update[k] for k in LIVE_FIELDS if k in update}
    live["kind"] = "live"
    return live


def decode_alert(fields: dict[str, Any], sid: str) -> dict[str, Any] | None:
    """An alert from its stream entry (``None`` when unreadable), with its stream id.

    >>> decode_alert({"a": '{"id":"x","series":"A"}'}, "1-0")
    {'id': 'x', 'series': 'A', 'sid': '1-0'}
    >>> decode_alert({}, "1-0") is None
    True
    """
    try:
        alert = loads_stored(fields[ALERT_FIELD])[0]
    except (KeyError, ValueError, TypeError):
        return None
    if not isinstance(alert, dict):
        return None
    alert["sid"] = sid
    return alert


def mover_item(series: str, score: float, info: str | bytes | None) -> dict[str, Any]:
    """One row of a ``movers`` answer from the sorted set's score and the info hash's JSON.

    >>> mover_item("A", 4.2, '{"score":4.2,"actual":9,"expected":3.0,"bucket":0}')
    {'series': 'A', 'score': 4.2, 'actual': 9, 'expected': 3.0, 'bucket': 0}
    >>> mover_item("A", 4.2, "not json")
    {'series': 'A', 'score': 4.2}
    """
    item: dict[str, Any] = {"series": series, "score": score}
    if info:
        try:
            extra = json.loads(info)
        except ValueError:
            return item
        if isinstance(extra, dict):
            item.update({k: v for k, v in extra.items() if k != "score"})
    return item


def server_frame(kind: str, **fields: Any) -> str:
    """Serialise a server frame (fields that are ``None`` are left out).

    >>> server_frame("pong", id=None)
    '{"type":"pong"}'
    """
    body = {"type": kind, **{k: v for k, v in fields.items() if v is not None}}
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def update_frame(channel: str, series: str, version: int, data: str) -> str:
    """A ``forecasts``/``actuals`` update embedding ``data``, JSON as the worker wrote it."""
    return (f'{{"type":"update","channel":"{channel}","series":{json.dumps(series)},'
            f'"version":{version},"data":{data}}}')


def alert_update_frame(series: str, sid: str | None, data: str) -> str:
    """An ``alerts`` update embedding the alert's JSON ``data``.

    >>> alert_update_frame("A", "1-0", '{"id":"x"}')
    '{"type":"update","channel":"alerts","series":"A","sid":"1-0","data":{"id":"x"}}'
    """
    return (f'{{"type":"update","channel":"alerts","series":{json.dumps(series)},'
            f'"sid":{json.dumps(sid)},"data":{data}}}')


def ops_frame(kind: str, data: str) -> str:
    """An ``ops`` ``snapshot`` or ``update`` embedding the ops snapshot's JSON ``data``.

    >>> ops_frame("snapshot", '{"t":1}')
    '{"type":"snapshot","channel":"ops","data":{"t":1}}'
    """
    return f'{{"type":"{kind}","channel":"ops","data":{data}}}'
