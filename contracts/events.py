"""What travels from a producer to the worker: the sale event on ``sales.events``.

Wire format of a sale event (UTF-8 JSON, Kafka key = series id)::

    {"series": "85123A", "ts": 1259671800.0, "qty": 6, "price": 2.55,
     "id": "489434:0", "country": "United Kingdom"}

* ``series``: non-empty series id (StockCode, or ``StockCode|Country``), at most
  :data:`MAX_SERIES_LEN` characters.
* ``ts``: event time, seconds since the Unix epoch (UTC), a finite number.
* ``qty``: units sold; negative for a return/cancellation. Finite, ``abs(qty) <=``
  :data:`MAX_ABS_QTY`.
* ``price``: unit price, finite, ``0 <= price <=`` :data:`MAX_PRICE`.
* ``id`` (optional): the source's id of the line, for tracing.
* ``country`` (optional).

An *envelope* (as high-volume collectors send) holds many events, at most
:data:`MAX_ENVELOPE_EVENTS`, in one message::

    {"events": [{...}, {...}]}

The data sets (:mod:`sources`) are read as these events and the replay (:mod:`stream.replay`)
sends them; the worker validates what it reads against the same bounds
(:mod:`stream.validation`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

__all__ = ["SaleEvent", "MAX_SERIES_LEN", "MAX_ABS_QTY", "MAX_PRICE", "MAX_ENVELOPE_EVENTS"]

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
