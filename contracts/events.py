"""What travels from a producer to the worker: the sale event on ``sales.events``.

Wire format of a sale event (UTF-8 JSON, Kafka key = series id)::

    {"series": "85123A", "ts": 1259671800.0, "qty": 6, "price": 2.55,
     "id": "489434:0", "country": "United Kingdom"}

* ``series``: non-empty series id (StockCode, or ``StockCode|Country``), at most
  :data:`MAX_SERIES_LEN` characters of text (:func:`is_text`: no control characters, lone
  surrogates, line breaks, bidi overrides or zero-width spaces); a JSON integer (a product
  number) is read as its decimal string, the same series as that string.
* ``ts``: event time, seconds since the Unix epoch (UTC), a number with
  :data:`MIN_TS` (2000-01-01) ``<= ts <`` :data:`MAX_TS` (2100-01-01); not milliseconds.
* ``qty``: units sold; negative for a return/cancellation. Finite, ``abs(qty) <=``
  :data:`MAX_ABS_QTY`.
* ``price`` (optional): unit price, finite, ``0 <= price <=`` :data:`MAX_PRICE`; absent or
  null, the sale counts as a price of 0: its units are forecast, it adds no revenue.
* ``id`` (optional): the source's id of the line (a string, or an integer read as its
  decimal string), at most :data:`MAX_ID_LEN` characters of text; an event whose id was
  already counted in the same open bucket of its series is a duplicate.
* ``country`` (optional): at most :data:`MAX_COUNTRY_LEN` characters of text.

Numbers are JSON numbers (integers, decimals or exponents such as ``1.2596718e9``), never
strings or booleans; unknown extra fields are ignored, but for ``events``, which makes
the message an envelope (below). A key given twice in an event refuses that event (which
value was meant?), in an envelope's own keys the envelope; a leading UTF-8 byte order mark is
skipped.

An *envelope* (as high-volume collectors send) holds many events, at most
:data:`MAX_ENVELOPE_EVENTS`, in one message::

    {"events": [{...}, {...}]}

The data sets (:mod:`sources`) are read as these events and the replay (:mod:`stream.replay`)
sends them; the worker validates what it reads against the same bounds
(:mod:`stream.validation`).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass

__all__ = ["SaleEvent", "MAX_SERIES_LEN", "MAX_ABS_QTY", "MAX_PRICE", "MAX_ENVELOPE_EVENTS",
           "MIN_TS", "MAX_TS", "MAX_ID_LEN", "MAX_COUNTRY_LEN", "is_text"]

MAX_SERIES_LEN = 64
MIN_TS = 946_684_800.0  # 2000-01-01T00:00:00Z
MAX_TS = 4_102_444_800.0  # 2100-01-01T00:00:00Z (exclusive)
MAX_ID_LEN = 256
MAX_COUNTRY_LEN = 64
MAX_ABS_QTY = 1e6
MAX_PRICE = 1e6
MAX_ENVELOPE_EVENTS = 10_000
#: what text fields may not hold: control characters, lone surrogates, line and paragraph
#: separators (Unicode categories)
NOT_TEXT = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: and invisible characters that play no part in a name: the bidirectional embeddings,
#: overrides and isolates (a dashboard showed "A\u202eB" as a reversed name), the zero-width
#: space, the word joiner and the byte order mark
HIDDEN = frozenset("\u200b\u2060\ufeff" + "".join(map(chr, [*range(0x202A, 0x202F),
                                                            *range(0x2066, 0x206A)])))


def is_text(value: str) -> bool:
    """Whether ``value`` holds no control character, lone surrogate, line break or
    :data:`HIDDEN` character: printable text, and also the no-break spaces, zero-width joiners
    and marks that names in many scripts and emoji sequences use (which ``str.isprintable``
    refuses).

    >>> is_text("United\\u00a0Kingdom"), is_text("\\U0001f469\\u200d\\U0001f4bb"), is_text("a\\nb")
    (True, True, False)
    >>> is_text("A\\u202eB"), is_text("A\\u200bB"), is_text("\\u05e9\\u05dc\\u200f")
    (False, False, True)
    """
    return value.isprintable() or not any(unicodedata.category(c) in NOT_TEXT or c in HIDDEN
                                          for c in value)


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
