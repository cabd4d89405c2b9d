"""The sale event's contract (contracts/events.py): its bounds are the ones the worker enforces."""

from __future__ import annotations

import json

import stream.validation as validation
from contracts import events
from contracts.events import SaleEvent
from stream.validation import Rejection, validate

EXAMPLE = (b'{"series": "85123A", "ts": 1259671800.0, "qty": 6, "price": 2.55,'
           b' "id": "489434:0", "country": "United Kingdom"}')


def test_the_validator_enforces_the_contracts_bounds() -> None:
    for name in ("MIN_TS", "MAX_TS", "MAX_ID_LEN", "MAX_COUNTRY_LEN", "MAX_SERIES_LEN",
                 "MAX_ABS_QTY", "MAX_PRICE", "MAX_ENVELOPE_EVENTS"):
        assert getattr(validation, name) is getattr(events, name), name
        assert name in events.__all__ and f":data:`{name}`" in (events.__doc__ or ""), name


def _event(**changes: object) -> SaleEvent | Rejection:
    return validate(json.dumps({**json.loads(EXAMPLE), **changes}).encode())


def test_the_documented_example_and_bounds() -> None:
    assert validate(EXAMPLE) == SaleEvent("85123A", 1259671800.0, 6.0, 2.55, "489434:0",
                                          "United Kingdom")
    assert isinstance(_event(ts=events.MIN_TS), SaleEvent)
    assert isinstance(_event(ts=events.MIN_TS - 1), Rejection)
    assert isinstance(_event(ts=events.MAX_TS), Rejection)
    assert isinstance(_event(ts=1259671800 * 1000), Rejection)  # milliseconds
    assert isinstance(_event(id="i" * events.MAX_ID_LEN), SaleEvent)
    assert isinstance(_event(id="i" * (events.MAX_ID_LEN + 1)), Rejection)
    assert isinstance(_event(country="c" * (events.MAX_COUNTRY_LEN + 1)), Rejection)
    assert _event(id=489434) == _event(id="489434")  # an integer id is its decimal string
    assert validate(b'{"series":"A","ts":1.2596718e9,"qty":-6,"price":0}') == SaleEvent(
        "A", 1259671800.0, -6.0, 0.0)
