"""What adding an event to a series' buckets returns, and what closing one yields.

Small immutable results of :class:`stream.bucketing.SeriesBuckets`: :class:`Accepted` (with
the open bucket's running totals), the rejections :class:`TooLate`, :class:`TooFarAhead` and
:class:`DuplicateId` (each with a ``reason`` for its dead letter), and :class:`ClosedBucket`.

>>> TooLate(ts=100.5, bucket=0, watermark=7200.0).reason
'event time 100.5 is in closed bucket 0 (watermark 7200)'
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Accepted", "TooLate", "TooFarAhead", "DuplicateId", "ClosedBucket"]


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")



class Accepted(NamedTuple):
    """The event went into the open bucket ``bucket``; its running totals after the event."""

    bucket: int
    qty: float
    revenue: float
    n_events: int


class TooLate(NamedTuple):
    """The event's bucket is due or closed already."""

    ts: float
    bucket: int
    watermark: float

    @property
    def reason(self) -> str:
        return (
            f"event time {_num(self.ts)} is in closed bucket {self.bucket} "
            f"(watermark {_num(self.watermark)})"
        )


class TooFarAhead(NamedTuple):
    """The event is more than ``max_future`` seconds ahead of the partition watermark."""

    ts: float
    watermark: float
    max_future: float

    @property
    def reason(self) -> str:
        return (
            f"event time {_num(self.ts)} is more than {_num(self.max_future)} s ahead of the "
            f"watermark {_num(self.watermark)}"
        )


class DuplicateId(NamedTuple):
    """An event whose ``id`` was already counted in the same (open) bucket of its series."""

    id: str
    bucket: int

    @property
    def reason(self) -> str:
        return f"id {self.id!r} was already counted in bucket {self.bucket}"


class ClosedBucket(NamedTuple):
    """A closed bucket ``[start, end)``; ``n_events == 0`` for a zero-filled one."""

    start: int
    end: int
    qty: float
    revenue: float
    n_events: int
    returns: float
