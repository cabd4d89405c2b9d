"""Tests of stream.validation: good events, every kind of bad input, envelopes, fuzzing."""

from __future__ import annotations

import gzip
import json
import random

import pytest

import stream.validation as validation
from contracts.events import MAX_ENVELOPE_EVENTS, SaleEvent
from stream.records import DeadLetter
from stream.validation import Rejection, parse_message, validate

GOOD = {"series": "85123A", "ts": 1259671800.0, "qty": 6, "price": 2.55}


def encode(**changes: object) -> bytes:
    """GOOD with fields replaced (a value of ... removes the field), as JSON bytes."""
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def rejected(raw: bytes) -> Rejection:
    result = validate(raw)
    assert isinstance(result, Rejection), result
    assert result.raw == raw
    assert result.reason and result.reason[0].islower()
    return result


def test_exports() -> None:
    for name in validation.__all__:
        assert hasattr(validation, name)


def test_good_event() -> None:
    raw = encode(id="489434:0", country="United Kingdom", extra={"ignored": True})
    assert validate(raw) == SaleEvent(
        "85123A", 1259671800.0, 6.0, 2.55, id="489434:0", country="United Kingdom"
    )
    event = validate(encode(qty=-2, price=0, id=489434, country=""))
    assert isinstance(event, SaleEvent)
    assert (event.qty, event.price, event.id, event.country) == (-2.0, 0.0, "489434", None)
    assert isinstance(validate(b'  \n{"series":"A","ts":1e9,"qty":1,"price":1}\n '), SaleEvent)


def test_a_units_only_producer_and_product_numbers_are_taken() -> None:
    """Sales without a price (a producer of units only) add no revenue, and a product number
    sent as a JSON integer is its decimal string: both were dead-lettered before."""
    assert validate(encode(price=...)) == SaleEvent("85123A", 1259671800.0, 6.0, 0.0)
    assert validate(encode(price=None)) == SaleEvent("85123A", 1259671800.0, 6.0, 0.0)
    assert validate(encode(series=85123)) == SaleEvent("85123", 1259671800.0, 6.0, 2.55)
    assert validate(encode(series=85123)) == validate(encode(series="85123"))


def test_round_trip_through_wire_format() -> None:
    event = SaleEvent("A|United Kingdom", 1e9, 3.0, 1.25, "x", "UK")
    assert validate(event.to_json()) == event


def test_bounds_are_inclusive_where_documented() -> None:
    assert isinstance(validate(encode(ts=validation.MIN_TS)), SaleEvent)
    assert isinstance(validate(encode(qty=1e6, price=1e6)), SaleEvent)
    assert isinstance(validate(encode(qty=-1e6)), SaleEvent)
    assert isinstance(validate(encode(series="x" * 64)), SaleEvent)
    rejected(encode(ts=validation.MAX_TS))


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"\xff\xfe{}", None, "not utf-8: invalid byte 0xff at position 0"),
        ('{"series":"é"}'.encode("latin-1"), None, "not utf-8"),
        (b"", None, "empty message (a null or empty value: a tombstone?)"),
        (b"{", None, "malformed json"),
        (b"{'series': 'A'}", None, "malformed json: expecting property name"),
        (b'{"series":"A"} x', None, "malformed json: extra data"),
        (b"\xef\xbb\xbf{}", "series", "missing field 'series'"),  # a UTF-8 BOM: skipped
        ('{"series": "A"}'.encode("utf-16-le"), None, "not utf-8 json: NUL bytes"),
        # what collectors send: a Confluent serializer's frame, an application-level gzip
        # (they read "NUL bytes ... (utf-16 or utf-32?)" and "invalid byte 0x8b")
        (b"\x00\x00\x00\x00\x07" + json.dumps(GOOD).encode(), None,
         "not plain json: a schema registry frame"),
        (gzip.compress(json.dumps(GOOD).encode()), None, "not utf-8 json: gzip-compressed"),
        (b'{"events": [], "events": []}', "events", "key 'events' appears twice"),
        (b'  {"qty": 1, "qty": 2}', "qty", "key 'qty' appears twice in the event"),
        (b'{"series": "A\x01"}', None, "malformed json: invalid control character at char 13"),
        (b"[" * 100_000, None, "malformed json"),
        (b"[1, 2]", None, "not an object: expected a json object, got list"),
        (b'"just a string"', None, "not an object"),
        (b"null", None, "not an object"),
        (encode(series=...), "series", "missing field 'series'"),
        (encode(ts=...), "ts", "missing field 'ts'"),
        (encode(qty=...), "qty", "missing field 'qty'"),
        (b'{"events": []}', "series", "missing field 'series' (an envelope? use parse_message)"),
        (encode(qty="abc"), "qty", "qty must be a number, got 'abc'"),
        (encode(qty="6"), "qty", "qty must be a number, got '6'"),
        (encode(qty=None), "qty", "qty must be a number, got null"),
        (encode(qty=[1]), "qty", "qty must be a number, got an array"),
        (encode(qty=True), "qty", "qty must be a number, got true (a boolean)"),
        (encode(price=False), "price", "price must be a number, got false (a boolean)"),
        (encode(qty=float("nan")), "qty", "qty must be finite, got nan"),
        (encode(price=float("inf")), "price", "price must be finite, got inf"),
        (encode(ts=float("-inf")), "ts", "ts must be finite, got -inf"),
        (b'{"series":"A","ts":1e9,"qty":1e999,"price":1}', "qty", "qty must be finite, got inf"),
        (encode(qty=2e6), "qty", "qty must be within -1e+06..1e+06 (absurd), got 2000000.0"),
        (encode(qty=-(10**7)), "qty", "qty must be within -1e+06..1e+06 (absurd), got -10000000"),
        (encode(price=-0.01), "price", "price must be >= 0, got -0.01"),
        (encode(price=5e6), "price", "price must be <= 1e+06 (absurd price), got 5000000.0"),
        (encode(series=""), "series", "series must not be empty"),
        (encode(series="   "), "series", "series must not be empty"),
        (encode(series="x" * 65), "series", "series must be at most 64 chars, got 65"),
        (encode(series="a\x00b"), "series",
         "series must be printable text (no control characters, line breaks, lone "
         "surrogates, bidi overrides or zero-width spaces), got 'a\\x00b'"),
        (encode(series="A\u202eB"), "series", "series must be printable"),  # shown reversed
        (encode(series="A\u200bB"), "series", "series must be printable"),  # looks like AB
        (encode(series="a\nb"), "series", "series must be printable"),
        (b'{"series":"\\ud800","ts":1e9,"qty":1,"price":1}', "series", "series must be printable"),
        (encode(series=85123.0), "series", "series must be a string, got 85123.0"),
        (encode(series=10**70), "series", "series must be at most 64 chars, got 71"),
        (encode(ts="2020-01-01"), "ts",
         "ts must be a number (seconds since the epoch, not a date string), got '2020-01-01'"),
        (encode(ts=5), "ts", "ts must be seconds since the epoch between 2000-01-01 and 2100"),
        (encode(ts=1259671800000), "ts", "ts must be seconds since the epoch"),  # milliseconds
        (encode(id=[1]), "id", "id must be a string, got an array"),
        (encode(id=True), "id", "id must be a string, got true"),
        (encode(id="x" * 300), "id", "id must be at most 256 chars, got 300"),
        (encode(country=44), "country", "country must be a string, got 44"),
        (encode(country="U\x07K"), "country", "country must be printable"),
        (b"1" * 5000, None, "malformed json"),  # an integer over Python's 4300-digit limit
    ],
)
def test_rejections(raw: bytes, field: str | None, reason: str) -> None:
    rejection = rejected(raw)
    assert rejection.reason.startswith(reason), rejection.reason
    assert rejection.field == field
    assert rejection.index is None


def test_milliseconds_are_named_as_such() -> None:
    assert rejected(encode(ts=1259671800000)).reason.endswith(
        "got 1259671800000 (milliseconds? divide by 1000)")
    assert "milliseconds" not in rejected(encode(ts=5)).reason


def test_long_values_are_shortened_in_reasons() -> None:
    assert len(rejected(encode(qty="x" * 10_000)).reason) < 80


def test_dead_letter() -> None:
    rejection = rejected(encode(qty="abc"))
    letter = rejection.dead_letter("sales.events", 3, 42)
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.partition, letter.offset) == ("validation", 3, 42)
    assert DeadLetter.from_json(letter.to_json()) == letter
    assert letter.raw == rejection.raw and letter.reason == rejection.reason


def test_parse_message_single_event() -> None:
    assert parse_message(encode()) == ([validate(encode())], [])
    events, rejections = parse_message(encode(qty="abc"))
    assert events == [] and rejections == [validate(encode(qty="abc"))]


def test_envelope_elements_are_rejected_one_by_one() -> None:
    items: list[object] = [GOOD, {**GOOD, "qty": "abc"}, 7, {**GOOD, "series": "B"}, {}]
    raw = json.dumps({"events": items, "producer": "pos-17"}).encode()
    events, rejections = parse_message(raw)
    assert [e.series for e in events] == ["85123A", "B"]
    assert [(r.index, r.field) for r in rejections] == [(1, "qty"), (2, None), (4, "series")]
    assert rejections[0].reason == "qty must be a number, got 'abc'"
    assert json.loads(rejections[0].raw) == items[1]
    assert rejections[1].raw == b"7" and rejections[1].reason.startswith("not an object")
    assert rejections[2].raw == b"{}"
    letter = rejections[0].dead_letter("t", 0, 1)  # as the worker writes it: the index apart
    assert (letter.reason, letter.index) == ("qty must be a number, got 'abc'", 1)


def test_envelope_nan_element_is_reserialised() -> None:
    events, rejections = parse_message(b'{"events":[{"series":"A","ts":NaN,"qty":1,"price":1}]}')
    assert events == [] and rejections[0].raw == b'{"series":"A","ts":NaN,"qty":1,"price":1}'


def test_nested_envelope_element_is_named_as_such() -> None:
    inner = {"events": [GOOD]}
    events, rejections = parse_message(json.dumps({"events": [GOOD, inner]}).encode())
    assert len(events) == 1 and [(r.index, r.field) for r in rejections] == [(1, "events")]
    assert rejections[0].reason == (
        'nested envelope: an element must be an event, not {"events": [...]}'
    )
    assert json.loads(rejections[0].raw) == inner


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"events": {"a": 1}}', "unknown envelope shape: events must be an array"),
        (b'{"events": null}', "unknown envelope shape: events must be an array"),
        (b'{"events": [], "series": "A"}', "unknown envelope shape: both events and series"),
        (b"[{}]", "unknown envelope shape: expected an event object or"),
        (b"42", "not an object"),
        (b"{", "malformed json"),
    ],
)
def test_envelopes_rejected_whole(raw: bytes, reason: str) -> None:
    events, rejections = parse_message(raw)
    assert events == [] and len(rejections) == 1
    assert rejections[0].reason.startswith(reason) and rejections[0].raw == raw


def test_envelope_size_limit() -> None:
    assert parse_message(b'{"events": []}') == ([], [])
    at_limit = json.dumps({"events": [GOOD] * MAX_ENVELOPE_EVENTS}).encode()
    assert len(parse_message(at_limit)[0]) == MAX_ENVELOPE_EVENTS
    over = json.dumps({"events": [GOOD] * (MAX_ENVELOPE_EVENTS + 1)}).encode()
    events, rejections = parse_message(over)
    assert events == [] and len(rejections) == 1 and rejections[0].raw == over
    assert rejections[0].reason == (
        f"envelope has {MAX_ENVELOPE_EVENTS + 1} events, at most {MAX_ENVELOPE_EVENTS} allowed"
    )


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[pos:pos] = rng.choice(
                [b"{", b"}", b"[", b'"', b",", b"NaN", b"-", b"\\u0000", b"1e999"]
            )
        elif op == 2:
            del b[pos : pos + rng.randint(1, 5)]
        else:
            b = b[:pos]
    return bytes(b)


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kinds = ["int", "float", "str", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 7, 10**6, 10**7, 2**63, 1_259_671_800])
    if kind == "float":
        return rng.choice([0.5, -2.5, 1e-300, 1e300, float("nan"), float("inf"), 1.26e9])
    if kind == "str":
        return rng.choice(["", " ", "A", "85123A", "\x00", "é", "\ud800", "x" * 70, "6"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["series", "ts", "qty", "price", "id", "country", "events", "x"]
    return {k: _random_value(rng, depth + 1) for k in rng.sample(keys, rng.randint(0, 6))}


def test_fuzz_never_raises() -> None:
    rng = random.Random(20240601)
    seeds = [encode(), encode(id="1", country="UK"), json.dumps({"events": [GOOD, GOOD]}).encode()]
    inputs: list[bytes] = []
    for _ in range(1500):
        inputs.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        inputs.append(_mutate(rng, rng.choice(seeds)))
        value = _random_value(rng)
        if rng.random() < 0.3:
            value = {"events": [_random_value(rng) for _ in range(rng.randint(0, 4))]}
        inputs.append(json.dumps(value).encode("utf-8", "surrogatepass"))
    kinds = set()
    for raw in inputs:
        single = validate(raw)
        assert isinstance(single, SaleEvent | Rejection)
        events, rejections = parse_message(raw)
        assert all(isinstance(e, SaleEvent) for e in events)
        for r in rejections:
            assert isinstance(r, Rejection) and isinstance(r.raw, bytes)
            assert r.reason and r.reason[0].islower() and len(r.reason) < 200
            kinds.add(r.reason.split(" ")[0])
            r.dead_letter("t", 0, 0).to_json()  # every rejection can go to the dead-letter topic
    assert {"not", "malformed", "missing", "series", "ts", "unknown"} <= kinds


@pytest.mark.parametrize("text", [
    "United\u00a0Kingdom",  # a no-break space
    "\U0001f469\u200d\U0001f4bb",  # an emoji sequence joined by a zero-width joiner
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0645",  # Persian with a zero-width non-joiner
    "\u05e9\u05dc\u05d5\u05dd\u200f",  # Hebrew with a right-to-left mark
])
def test_text_that_isprintable_refuses_is_still_a_valid_name(text: str) -> None:
    ev = validate(encode(series=text, country=text, id=text))
    assert isinstance(ev, SaleEvent), ev
    assert (ev.series, ev.country, ev.id) == (text, text, text)


@pytest.mark.parametrize("text", ["a\u2028b", "a\u2029b", "a\x1bb", "\x7f"])
def test_line_separators_and_controls_are_still_refused(text: str) -> None:
    rej = validate(encode(series=text))
    assert isinstance(rej, Rejection) and rej.field == "series"
    assert rej.reason.startswith("series must be printable text")


def test_a_key_twice_refuses_only_the_element_it_is_in() -> None:
    """In an envelope, the element with the key twice is dead-lettered alone (with its
    index); a key twice inside an unknown field changes nothing (unknown fields are ignored)."""
    twice = b'{"series": "B", "ts": 1e9, "qty": "x", "price": 1, "qty": 1}'
    extra = b'{"series": "C", "ts": 1e9, "qty": 1, "price": 1, "meta": {"tag": 1, "tag": 2}}'
    events, rejections = parse_message(b'{"events": [' + json.dumps(GOOD).encode() + b", "
                                       + twice + b", " + extra + b"]}")
    assert [e.series for e in events] == ["85123A", "C"]
    assert [(r.index, r.field, r.reason) for r in rejections] == [
        (1, "qty", "key 'qty' appears twice in the event")]


def test_a_series_called_like_the_shop_wide_alerts_is_refused() -> None:
    """A probe: a SKU named ``*`` had its alerts read as the shop-wide (group) alerts, whose
    series is ``*``: a token for that SKU could neither see nor acknowledge them."""
    rej = validate(b'{"series": "*", "ts": 1e9, "qty": 1, "price": 1}')
    assert isinstance(rej, Rejection) and rej.field == "series"
    assert "shop-wide alerts" in rej.reason
    assert isinstance(validate(b'{"series": "**", "ts": 1e9, "qty": 1, "price": 1}'), SaleEvent)
