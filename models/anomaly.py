"""Anomaly alerts: what was expected of a bucket, and the lifecycle of an alert.

When a bucket closes, the worker scores its actual against the forecast the series' model had
made *before* learning it (:class:`Expected`), with the count-aware rules of
:class:`~models.bank_anomaly.DetectorBank`. An anomaly that goes on for several buckets is one
alert: :func:`track` keeps each series' open alert and turns the findings of its buckets into
lifecycle messages, all with the alert's ``id``:

* ``open``: the first anomalous bucket (``since`` is its start);
* ``updated``: a further anomalous bucket in the same direction (a spike followed by a level
  shift up is one alert; its ``kind`` becomes ``level_shift``, its ``severity`` the worst seen,
  ``buckets`` counts them);
* ``resolved``: the first bucket that is not anomalous and is back inside the 95% band on the
  alert's side (or one in the other direction, which opens a new alert). A bucket beyond the
  band on that side goes on as ``updated`` though the detector found nothing in it: its
  level-shift test starts over once it has fired, and a probe's shift to three times the level
  was ``resolved`` at a bucket far above the band, a stock-out twice in ten days of zeros.

Every message has its own ``event_id`` (consumers and the Redis sink deduplicate on it: a
replay after a restart scores the same buckets again and gets the same ids). Nothing in an
alert depends on wall time; ``detected_at`` is the bucket's end (event time). Shop-wide
events (closures, surges) are *group* alerts (``scope: "group"``, ``series: "*"``), made by
:mod:`models.activity` with :func:`group_message`.

>>> e = Expected(yhat=10.0, lo=7.0, hi=13.0, lo95=5.0, hi95=15.0)
>>> open_, msgs = track(None, "A", 0, 86400, 40.0, e, Finding("spike", "critical", 6.0), "m")
>>> [(m["state"], m["kind"], m["buckets"]) for m in msgs]
[('open', 'spike', 1)]
>>> open_, msgs = track(open_, "A", 86400, 172800, 41.0, e,
...                     Finding("level_shift", "warning", 6.2), "m")
>>> [(m["state"], m["kind"], m["severity"], m["buckets"]) for m in msgs]
[('updated', 'level_shift', 'critical', 2)]
>>> open_, msgs = track(open_, "A", 172800, 259200, 30.0, e, None, "m")  # above the band
>>> [(m["state"], m["buckets"]) for m in msgs]
[('updated', 3)]
>>> open_, msgs = track(open_, "A", 259200, 345600, 11.0, e, None, "m")
>>> [(m["state"], m["since"], m["bucket"]) for m in msgs], open_
([('resolved', 0, 259200)], None)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from contracts.wire import GROUP_SERIES

__all__ = ["Expected", "Finding", "SEVERITIES", "KINDS", "GROUP_KINDS", "STATES", "alert_id",
           "track", "group_message"]

SEVERITIES = ("info", "warning", "critical")
KINDS = ("spike", "drop", "level_shift")
GROUP_KINDS = ("closure", "surge")  # shop-wide events (models.activity)
STATES = ("open", "updated", "resolved")  # the gateway adds "acknowledged"
MIN_HALF_WIDTH = 1.0


@dataclass(frozen=True, slots=True)
class Expected:
    """What the model expected for one bucket: point forecast and its 80% / 95% bands."""

    yhat: float
    lo: float
    hi: float
    lo95: float
    hi95: float

    @property
    def half_width(self) -> float:
        """Half the 95% band, at least one unit: the scale of scores (a band of [0, 0] on a
        SKU that never sells must not make one sale an infinite score)."""
        return max((self.hi95 - self.lo95) / 2.0, MIN_HALF_WIDTH)


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomalous bucket: ``kind`` in :data:`KINDS`, ``severity`` warning or critical,
    ``score`` the signed distance from the forecast in 95% half-widths."""

    kind: str
    severity: str
    score: float

    @property
    def up(self) -> bool:
        return self.kind == "spike" or (self.kind == "level_shift" and self.score >= 0)


def alert_id(series: str, bucket: int, kind: str) -> str:
    """A stable id: the same (series, bucket, kind) always gives the same id.

    >>> alert_id("85123A", 1291161600, "spike") == alert_id("85123A", 1291161600, "spike")
    True
    >>> alert_id("85123A", 1291161600, "spike") != alert_id("85123A", 1291161600, "drop")
    True
    """
    raw = f"{series}\x00{bucket}\x00{kind}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def _worse(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def track(open_: dict[str, Any] | None, series: str, bucket: int, bucket_end: int,
          actual: float, e: Expected, finding: Finding | None,
          model_version: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One scored bucket of a series: its open alert after it, and the messages to send."""
    values = {"bucket": bucket, "bucket_end": bucket_end, "actual": actual,
              "expected": round(e.yhat, 4), "lo": round(e.lo, 4), "hi": round(e.hi, 4),
              "lo95": round(e.lo95, 4), "hi95": round(e.hi95, 4),
              "score": round((actual - e.yhat) / e.half_width, 3), "detected_at": bucket_end}
    out: list[dict[str, Any]] = []
    if open_ is not None and finding is None and (
            actual > e.hi95 if open_["score"] >= 0 else actual < e.lo95):  # it goes on (a
        finding = Finding(open_["kind"], open_["severity"], values["score"])  # CUSUM restarts)
    if open_ is not None and (finding is None or finding.up != (open_["score"] >= 0)):
        out.append(_message(dict(open_, **values), "resolved"))
        open_ = None
    if finding is None:
        return open_, out
    if open_ is None:
        aid = alert_id(series, bucket, finding.kind)
        new = {"id": aid, "scope": "series", "series": series, "kind": finding.kind,
               "severity": finding.severity, "since": bucket, "buckets": 1,
               "model_version": model_version, **values}
        new["score"] = round(finding.score, 3)
        return new, [*out, _message(new, "open")]
    kind = "level_shift" if "level_shift" in (finding.kind, open_["kind"]) else open_["kind"]
    new = {**open_, **values, "kind": kind, "buckets": open_["buckets"] + 1,
           "severity": _worse(open_["severity"], finding.severity),
           "model_version": model_version, "score": round(finding.score, 3)}
    return new, [*out, _message(new, "updated")]


def _message(alert: dict[str, Any], state: str) -> dict[str, Any]:
    event = f"{alert['id']}\x00{state}\x00{alert['bucket']}\x00{alert.get('partition', '')}"
    return dict(alert, state=state,
                event_id=hashlib.blake2b(event.encode(), digest_size=8).hexdigest())


def group_message(kind: str, since: int, bucket: int, bucket_end: int, state: str,
                  series_affected: int, active: int, usual: float,
                  partition: int | None) -> dict[str, Any]:
    """A shop-wide alert message (``kind`` in :data:`GROUP_KINDS`): ``active`` series had sales
    in the bucket where ``usual`` (the median of the same bucket of the last seasons) do;
    ``series_affected`` is how many series the event touched.

    >>> m = group_message("closure", 0, 0, 86400, "open", 480, 0, 480.0, 3)
    >>> m["series"], m["scope"], m["severity"], m["id"] == alert_id("*", 0, "closure")
    ('*', 'group', 'warning', True)
    """
    alert = {"id": alert_id(GROUP_SERIES, since, kind), "scope": "group",
             "series": GROUP_SERIES, "kind": kind, "severity": "warning", "since": since,
             "bucket": bucket, "bucket_end": bucket_end,
             "series_affected": series_affected, "active": active, "usual": round(usual, 1),
             "partition": partition, "detected_at": bucket_end}
    return _message(alert, state)
