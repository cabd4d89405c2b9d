"""The records that flow through Kafka, as plain frozen dataclasses.

Wire format of a sale event on ``sales.events`` (UTF-8 JSON, Kafka key = series id)::

    {"series": "85123A", "ts": 1259671800.0, "qty": 6, "price": 2.55,
     "id": "489434:0", "country": "United Kingdom"}

* ``series``: non-empty series id (StockCode, or ``StockCode|Country``), at most 64 chars.
* ``ts``: event time, seconds since the Unix epoch (UTC), a finite number.
* ``qty``: units sold; negative for a return/cancellation. Finite, ``abs(qty) <= 1e6``.
* ``price``: unit price, finite, ``0 <= price <= 1e6``.
* ``id`` (optional): the source's id of the line, for tracing.
* ``country`` (optional).

An *envelope* (as high-volume collectors send) holds many events in one message::

    {"events": [{...}, {...}]}

A record that fails validation goes to ``sales.deadletter`` as a :class:`DeadLetter`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass

__all__ = ["SaleEvent", "DeadLetter", "MAX_SERIES_LEN", "MAX_ABS_QTY", "MAX_PRICE"]

MAX_SERIES_LEN = 64
MAX_ABS_QTY = 1e6
MAX_PRICE = 1e6
MAX_ENVELOPE_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class SaleEvent:
    """One validated sale (or return, when ``qty < 0``)."""

    series: str
    ts: float
    qty: float
    price: float
    id: str | None = None
    country: str | None = None

    def to_json(self) -> bytes:
        """Serialise to the wire format.

        >>> SaleEvent("A", 10.0, 2.0, 1.5).to_json()
        b'{"series":"A","ts":10.0,"qty":2.0,"price":1.5}'
        """
        d = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(d, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected record: the raw bytes, why, at which stage, and where it came from."""

    reason: str
    stage: str
    raw: bytes
    topic: str
    partition: int
    offset: int

    def to_json(self) -> bytes:
        d = {
            "reason": self.reason,
            "stage": self.stage,
            "raw_b64": base64.b64encode(self.raw).decode(),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DeadLetter:
        d = json.loads(data)
        return cls(
            reason=d["reason"],
            stage=d["stage"],
            raw=base64.b64decode(d["raw_b64"]),
            topic=d["topic"],
            partition=int(d["partition"]),
            offset=int(d["offset"]),
        )
