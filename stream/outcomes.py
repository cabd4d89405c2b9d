"""What adding an event to a series' buckets returns, and what closing one yields.

Small immutable results of :class:`stream.bucketing.SeriesBuckets`: :class:`Accepted` (with
the open bucket's running totals), the rejections :class:`TooLate`, :class:`TooFarAhead` and
:class:`DuplicateId` (each a :class:`Rejection`, with a ``reason`` for its dead letter), and
:class:`ClosedBucket`.

>>> TooLate(ts=100.5, bucket=0, watermark=7200.0).reason
'event time 100.5 is in closed bucket 0 (watermark 7200)'
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple

__all__ = ["Accepted", "Rejection", "TooLate", "TooFarAhead", "DuplicateId", "ClosedBucket"]


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")



class Accepted(NamedTuple):
    """The event went into the open bucket ``bucket``; its running totals after the event."""

    bucket: int
    qty: float
    revenue: float
    n_events: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejected event; :attr:`reason` (its dead letter's) fills the class's ``REASON`` with
    the fields, the ``float`` ones without trailing zeros."""

    REASON: ClassVar[str] = ""

    @property
    def reason(self) -> str:
        return self.REASON.format(**{
            f.name: _num(getattr(self, f.name)) if f.type == "float" else getattr(self, f.name)
            for f in fields(self)})


@dataclass(frozen=True, slots=True)
class TooLate(Rejection):
    """The event's bucket is due or closed already."""

    REASON: ClassVar[str] = "event time {ts} is in closed bucket {bucket} (watermark {watermark})"
    ts: float
    bucket: int
    watermark: float


@dataclass(frozen=True, slots=True)
class TooFarAhead(Rejection):
    """The event is more than ``max_future`` seconds ahead of the partition watermark."""

    REASON: ClassVar[str] = ("event time {ts} is more than {max_future} s ahead of the "
                             "watermark {watermark}")
    ts: float
    watermark: float
    max_future: float


@dataclass(frozen=True, slots=True)
class DuplicateId(Rejection):
    """An event whose ``id`` was already counted in the same (open) bucket of its series."""

    REASON: ClassVar[str] = "id {id!r} was already counted in bucket {bucket}"
    id: str
    bucket: int


class ClosedBucket(NamedTuple):
    """A closed bucket ``[start, end)``; ``n_events == 0`` for a zero-filled one."""

    start: int
    end: int
    qty: float
    revenue: float
    n_events: int
    returns: float
