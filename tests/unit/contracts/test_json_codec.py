"""No NaN reaches a client: written as null, and read as None when an older writer stored it."""

from __future__ import annotations

import json
import math

from contracts.json_codec import dumpb, dumps, loads_stored
from contracts.wire import UPDATES_CHANNEL, merge_snapshot, server_frame
from gateway.routing import route


def test_non_finite_floats_are_written_as_null() -> None:
    payload = {"yhat": [1.0, math.nan], "hi": [math.inf], "lo": (-math.inf, 2)}
    assert json.loads(dumps(payload)) == {"yhat": [1.0, None], "hi": [None], "lo": [None, 2]}
    assert dumpb([math.nan]) == b"[null]"


def test_a_stored_nan_reads_as_none_and_every_frame_encodes() -> None:
    """A NaN stored in a forecast closed every dashboard with 1011, over and over."""
    live = '{"series":"A","version":3}'
    forecast = '{"forecast":{"yhat":[1.0,NaN],"hi":[Infinity,2.0]}}'
    data = merge_snapshot(live, forecast)
    assert data is not None and data["forecast"] == {"yhat": [1.0, None], "hi": [None, 2.0]}
    frame = server_frame("snapshot", channel="forecasts", series="A", version=3, data=data)
    assert json.loads(frame)["data"]["forecast"]["yhat"] == [1.0, None]
    assert loads_stored(b'{"a":1}') == ({"a": 1}, False)


def test_a_live_update_with_nan_is_sent_without_it() -> None:
    text = ('{"series":"A","version":4,"kind":"forecast","forecast":{"yhat":[NaN,1.0]},'
            '"event_ts":1.0}')
    for routed in route(UPDATES_CHANNEL, text):
        assert "NaN" not in routed.frame
        json.loads(routed.frame)  # what a browser's JSON.parse does: no NaN token
