"""Validate sale events from raw Kafka message values: bytes in, events or rejections out.

Bad input is expected data, not a crash: :func:`validate` and :func:`parse_message` never raise
on any ``bytes`` value. Each bad record becomes a :class:`Rejection` with a short lower-case
reason naming the bad value and what is valid; the worker sends it to the dead-letter topic with
:meth:`Rejection.dead_letter`. The wire format is documented in :mod:`contracts.events`.

What is checked here, per event: UTF-8, JSON syntax, an object, the fields ``series`` (a
printable string of 1..64 chars), ``ts`` (a number, 2000-01-01 <= ts < 2100-01-01 UTC), ``qty``
(a number, ``abs(qty) <= 1e6``), optional ``price`` (a number, ``0 <= price <= 1e6``; absent:
0), ``id`` and ``country`` (strings; an integer ``series`` or ``id`` is its decimal string).
Booleans, NaN, infinities and numeric strings (``"6"``) are no numbers; unknown extra fields
are ignored (forward compatible). Whether a timestamp is too far from the stream is *not*
decided here: that needs the partition watermark (:mod:`stream.bucketing`).

Fast path: the C JSON scanner, then explicit type checks: ~4 us an event (``json.loads`` ~3,
a strict pydantic v2 model ~3.4), with reasons in this project's style and no error mapping.

>>> validate(b'{"series": "85123A", "ts": 1259671800, "qty": 6, "price": 2.55}')
SaleEvent(series='85123A', ts=1259671800.0, qty=6.0, price=2.55, id=None, country=None)
>>> validate(b'{"series": "85123A", "ts": 1259671800, "qty": "abc", "price": 2.55}').reason
"qty must be a number, got 'abc'"
>>> events, rejected = parse_message(b'{"events": [{"series": "A", "ts": 1e9, "qty": 1, '
...                                  b'"price": 1}, {"qty": 1}]}')
>>> len(events), rejected[0].index, rejected[0].reason, rejected[0].raw
(1, 1, "missing field 'series'", b'{"qty":1}')
"""

from __future__ import annotations

import json
import json.scanner
from dataclasses import dataclass
from typing import Any

from contracts.events import (  # the bounds are the contract's, defined there once
    MAX_ABS_QTY,
    MAX_COUNTRY_LEN,
    MAX_ENVELOPE_EVENTS,
    MAX_ID_LEN,
    MAX_PRICE,
    MAX_SERIES_LEN,
    MAX_TS,
    MIN_TS,
    SaleEvent,
    is_text,
)
from contracts.wire import GROUP_SERIES
from stream.records import DeadLetter

__all__ = ["Rejection", "validate", "parse_message", "MIN_TS", "MAX_TS"]

# The C scanner behind json.loads, called directly (~1 us cheaper); an object with a key twice
# is marked, and refused (``{"events": [...], "events": []}`` lost the first list): +0.3 us.
_FRAMED = {  # values that are not plain JSON text, as collectors send them
    "gzip": "not utf-8 json: gzip-compressed; send json (compression.type compresses for kafka)",
    "registry": "not plain json: a schema registry frame (magic byte 0, schema id); send json",
    "wide": "not utf-8 json: NUL bytes at the start (utf-16 or utf-32?); send utf-8"}


class _Twice(dict[str, Any]):
    key = ""  # the key given twice (the last value won, as in ``json.loads``)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen, twice = set[str](), _Twice(obj)
    twice.key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return twice


_scan = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=_object))  # type: ignore[arg-type]
_BOUNDS = {"ts": (MIN_TS, MAX_TS), "qty": (-MAX_ABS_QTY, MAX_ABS_QTY), "price": (0.0, MAX_PRICE)}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record was rejected: ``reason``, the offending ``field`` (or None), the raw bytes;
    ``index``: the position in an envelope (None: a single event), ``raw`` then that element
    re-serialised as compact JSON."""

    reason: str
    field: str | None
    raw: bytes
    index: int | None = None

    def dead_letter(self, topic: str, partition: int, offset: int) -> DeadLetter:
        """The record the worker sends to the dead-letter topic (stage ``validation``, code
        ``invalid``; an envelope element's index in ``index`` and in the record's key).

        >>> letter = Rejection("series is empty", "series", b"{}", 3).dead_letter("t", 0, 1)
        >>> letter.reason, letter.stage, letter.index
        ('series is empty', 'validation', 3)
        """
        return DeadLetter(self.reason, "validation", self.raw, topic, partition, offset,
                          "invalid", self.index)


class _Bad(Exception):
    """Internal: one bad field, caught before it leaves this module."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _show(value: Any) -> str:
    """A short JSON-ish rendering of a bad value for a reason string."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false
    if isinstance(value, dict | list):
        return f"an {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decode(raw: bytes) -> Any:
    """UTF-8 bytes -> a JSON value, or raise :class:`_Bad`."""
    if not raw:
        raise _Bad("empty message (a null or empty value: a tombstone?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Bad(_FRAMED["gzip"] if raw[:2] == b"\x1f\x8b" else
                   f"not utf-8: invalid byte 0x{raw[e.start]:02x} at position {e.start}") from None
    except (AttributeError, TypeError):
        raise _Bad(f"message must be bytes, got {type(raw).__name__}") from None
    if text[:1] == "\ufeff":  # a byte order mark (some Windows producers write one): skipped
        text = text[1:]
    if "\x00" in text[:4]:  # a Schema Registry serializer's frame: magic 0, a 4-byte schema id
        raise _Bad(_FRAMED["registry" if text[5:6] in ("{", "[") else "wide"])
    try:
        try:
            value, end = _scan(text, len(text) - len(text.lstrip(" \t\n\r")))
        except StopIteration:  # no value at all: let json.loads say why
            return json.loads(text)
        if end != len(text) and text[end:].strip(" \t\n\r"):
            raise _Bad(f"malformed json: extra data at char {end}")
        return value
    except json.JSONDecodeError as e:
        msg = e.msg.removesuffix(" at")  # "invalid control character at" already says it
        raise _Bad(f"malformed json: {msg[:1].lower()}{msg[1:]} at char {e.pos}") from None
    except RecursionError:
        raise _Bad("malformed json: nested too deeply") from None
    except ValueError as e:  # an integer literal over Python's limit of digits (4300)
        if "digits" in str(e):
            raise _Bad("malformed json: a number with more than 4300 digits") from None
        raise _Bad(f"malformed json: {str(e)[:80]}") from None


def _number_problem(name: str, value: Any) -> _Bad:
    """The precise reason a value failed the fast numeric check (slow path only)."""
    lo, hi = _BOUNDS[name]
    if isinstance(value, bool):
        return _Bad(f"{name} must be a number, got {_show(value)} (a boolean)", name)
    if not isinstance(value, int | float):
        hint = " (seconds since the epoch, not a date string)" if name == "ts" else ""
        return _Bad(f"{name} must be a number{hint}, got {_show(value)}", name)
    if value != value or value in (float("inf"), float("-inf")):
        return _Bad(f"{name} must be finite, got {value}", name)
    if name == "ts":
        hint = " (milliseconds? divide by 1000)" if hi * 1000 > value >= lo * 1000 else ""
        return _Bad(f"ts must be seconds since the epoch between 2000-01-01 and 2100-01-01 "
                    f"({lo:.0f} <= ts < {hi:.0f}), got {_show(value)}{hint}", name)
    if name == "qty":
        return _Bad(f"qty must be within -{hi:g}..{hi:g} (absurd), got {_show(value)}", name)
    if value < 0:
        return _Bad(f"price must be >= 0, got {_show(value)}", name)
    return _Bad(f"price must be <= {hi:g} (absurd price), got {_show(value)}", name)


def _text_problem(name: str, value: Any, limit: int) -> _Bad:
    if not isinstance(value, str):
        return _Bad(f"{name} must be a string, got {_show(value)}", name)
    if not value.strip():
        return _Bad(f"{name} must not be empty", name)
    if len(value) > limit:
        return _Bad(f"{name} must be at most {limit} chars, got {len(value)}", name)
    return _Bad(f"{name} must be printable text (no control characters, line breaks, lone "
                f"surrogates, bidi overrides or zero-width spaces), got {_show(value)}", name)


def _optional(name: str, value: Any, limit: int) -> str:
    """Slow path of an optional text field: an integer id becomes a string, else a problem."""
    if type(value) is int and name == "id":
        value = str(value)
    if type(value) is not str or len(value) > limit or not is_text(value):
        raise _text_problem(name, value, limit)
    return value


def _event(obj: Any) -> SaleEvent:
    """Check one decoded event object; raise :class:`_Bad` on the first problem."""
    if type(obj) is _Twice:
        raise _Bad(f"key {obj.key!r} appears twice in the event", obj.key)
    if type(obj) is not dict:
        raise _Bad(f"not an object: expected a json object, got {type(obj).__name__}")
    try:
        series, ts, qty = obj["series"], obj["ts"], obj["qty"]
    except KeyError as e:
        name = e.args[0]
        hint = " (an envelope? use parse_message)" if "events" in obj else ""
        raise _Bad(f"missing field {name!r}{hint}", name) from None
    series = str(series) if type(series) is int else series  # a product number: as the id
    if (
        type(series) is not str
        or not 0 < len(series) <= MAX_SERIES_LEN
        or not (series.isprintable() or is_text(series))
        or series.isspace()
    ):
        raise _text_problem("series", series, MAX_SERIES_LEN)
    if series == GROUP_SERIES:  # its alerts would be read as the shop-wide ones
        raise _Bad(f"series {GROUP_SERIES!r} is the name of shop-wide alerts: rename it", "series")
    # A chained comparison is False for NaN and for out-of-range values, infinities included.
    if not ((type(ts) is float or type(ts) is int) and MIN_TS <= ts < MAX_TS):
        raise _number_problem("ts", ts)
    if not ((type(qty) is float or type(qty) is int) and -MAX_ABS_QTY <= qty <= MAX_ABS_QTY):
        raise _number_problem("qty", qty)
    if (price := obj.get("price")) is None:  # optional: a sale without one adds no revenue
        price = 0.0
    elif not ((type(price) is float or type(price) is int) and 0.0 <= price <= MAX_PRICE):
        raise _number_problem("price", price)
    ident = obj.get("id")  # optional fields: inline fast path, details in _optional
    if ident is not None and (
        type(ident) is not str or len(ident) > MAX_ID_LEN or not ident.isprintable()
    ):
        ident = _optional("id", ident, MAX_ID_LEN)
    country = obj.get("country")
    if country is not None and (
        type(country) is not str or len(country) > MAX_COUNTRY_LEN or not country.isprintable()
    ):
        country = _optional("country", country, MAX_COUNTRY_LEN)
    return SaleEvent(series, float(ts), float(qty), float(price), ident or None, country or None)


def validate(raw: bytes) -> SaleEvent | Rejection:
    """Validate one message value holding a single event (see the module docstring).

    >>> validate(b'{"series": "A", "ts": 1e9, "qty": true, "price": 1}').reason
    'qty must be a number, got true (a boolean)'
    >>> validate(b'\\xff').reason
    'not utf-8: invalid byte 0xff at position 0'
    """
    try:
        return _event(_decode(raw))
    except _Bad as bad:
        return Rejection(bad.reason, bad.field, raw)


def _reserialise(value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return b""


def parse_message(raw: bytes) -> tuple[list[SaleEvent], list[Rejection]]:
    """Validate a message holding one event or an envelope ``{"events": [...]}``.

    Each bad element of an envelope is its own rejection (with its index and its own bytes);
    a message that is not valid JSON, has an unknown shape or more than
    ``MAX_ENVELOPE_EVENTS`` events is rejected whole.

    >>> parse_message(b'[1, 2]')[1][0].reason
    'unknown envelope shape: expected an event object or {"events": [...]}, got an array'
    """
    try:
        obj = _decode(raw)
    except _Bad as bad:
        return [], [Rejection(bad.reason, bad.field, raw)]
    if type(obj) is _Twice and "events" in obj:
        return [], [Rejection(f"key {obj.key!r} appears twice in the envelope", obj.key, raw)]
    if type(obj) not in (dict, _Twice) or "events" not in obj:
        if type(obj) is list:
            why = 'expected an event object or {"events": [...]}, got an array'
            return [], [Rejection(f"unknown envelope shape: {why}", None, raw)]
        try:
            return [_event(obj)], []
        except _Bad as bad:
            return [], [Rejection(bad.reason, bad.field, raw)]
    items = obj["events"]
    if type(items) is not list or "series" in obj:
        why = "events must be an array" if type(items) is not list else "both events and series"
        return [], [Rejection(f"unknown envelope shape: {why}", "events", raw)]
    if len(items) > MAX_ENVELOPE_EVENTS:
        why = f"envelope has {len(items)} events, at most {MAX_ENVELOPE_EVENTS} allowed"
        return [], [Rejection(why, "events", raw)]
    events: list[SaleEvent] = []
    rejections: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            events.append(_event(item))
        except _Bad as bad:
            if type(item) is dict and "events" in item and bad.reason.startswith("missing"):
                bad = _Bad('nested envelope: an element must be an event, not {"events": [...]}',
                           "events")
            rejections.append(Rejection(bad.reason, bad.field, _reserialise(item), i))
    return events, rejections
