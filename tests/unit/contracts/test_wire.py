"""The shared description of what travels (contracts/wire.py): the processor's writes, as the
sink stores and publishes them, become the snapshots and updates the gateway sends."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from contracts import wire
from contracts.events import SaleEvent
from gateway.routing import route
from models.anomaly import Expected, Finding, group_message, track
from stream.monitor import ops_snapshot
from stream.processor import Message, Processor

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
README = Path(__file__).resolve().parents[3] / "README.md"


def _writes() -> list[wire.SeriesWrite]:
    """Every write of a processor fed 20 days of one series (buckets close from day 2)."""
    proc = Processor("t")
    store: dict[str, Any] = {}
    writes: list[wire.SeriesWrite] = []
    for day in range(20):
        ev = SaleEvent("A\"1", T0 + day * DAY + 60, 3.0, 2.0)
        out = proc.process(0, [Message(day, 0.0, ev.to_json())], store.get)
        store.update(out.states)
        writes.extend(out.writes)
    return writes


def _stored(w: wire.SeriesWrite) -> tuple[str, str | None]:
    """What the sink stores in the series hash: the live part and the forecast part."""
    return wire.dumps(w.live), None if w.forecast is None else wire.dumps(w.forecast)


def test_a_processor_write_reads_back_as_a_snapshot_with_its_live_part_on_top() -> None:
    writes = _writes()
    closing = [w for w in writes if w.forecast is not None]
    assert closing and len(closing) < len(writes)
    w = closing[-1]
    snap = wire.merge_snapshot(*_stored(w))
    assert snap is not None
    assert snap["version"] == w.version and snap["series"] == 'A"1'
    assert w.forecast is not None and snap["forecast"]["yhat"]
    assert snap["actuals"] == w.forecast["actuals"]
    assert set(w.live) <= set(wire.LIVE_FIELDS)
    # a series written before any bucket closed has no forecast part yet
    assert wire.merge_snapshot(*_stored(writes[0]))["forecast"] is None  # type: ignore[index]
    assert wire.merge_snapshot(None, '{"forecast": 1}') is None


def test_a_forecasts_snapshot_has_the_version_of_the_last_forecast_not_of_a_later_event() -> None:
    writes = _writes()
    closing = max(i for i, w in enumerate(writes) if w.forecast is not None)
    later = wire.SeriesWrite("A", writes[closing].version + 5, 0.0,
                             dict(writes[closing].live, version=writes[closing].version + 5),
                             None, {})  # an event that closed nothing: only the live part
    snap = wire.merge_snapshot(wire.dumps(later.live), _stored(writes[closing])[1])
    assert snap is not None
    # forecasts subscribers get forecast updates only: their last is the close's version
    assert wire.snapshot_version("forecasts", snap) == writes[closing].version
    assert wire.snapshot_version("actuals", snap) == writes[closing].version + 5
    # a forecast part stored before forecast_version existed: the live version, as before
    assert wire.snapshot_version("forecasts", {"version": 4}) == 4


def test_dumps_writes_what_json_dumps_writes_for_every_stored_part() -> None:
    for w in _writes():
        for part in (w.live, w.update, w.forecast):
            assert wire.dumps(part) == json.dumps(part, separators=(",", ":"))


def test_dumps_of_a_value_json_cannot_encode_raises_json_s_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        wire.dumps({"a": object()})
    assert json.loads(wire.dumps({"q": 1e-5, "big": 2**70})) == {"q": 1e-5, "big": 2**70}


def test_published_updates_become_frames_that_parse_back_to_the_payload() -> None:
    for w in _writes():
        published = wire.dumps({**w.update, "at": 1.5})
        routed = route(wire.UPDATES_CHANNEL, published)
        channels = [r.channel for r in routed]
        assert channels == (["forecasts", "actuals"] if w.forecast is not None else ["actuals"])
        for r in routed:
            frame = json.loads(r.frame)
            assert frame["type"] == "update" and frame["series"] == w.series
            assert frame["version"] == w.version and frame["channel"] == r.channel
            if r.channel == "actuals":
                assert set(frame["data"]) <= {*wire.LIVE_FIELDS, "kind"}
                assert frame["data"]["kind"] == "live" and frame["data"]["at"] == 1.5
            else:
                assert frame["data"] == json.loads(published)


@pytest.mark.parametrize("series", ["A", 'quo"te', "back\\slash", "üñí", "tab\there"])
def test_frames_escape_series_names(series: str) -> None:
    assert json.loads(wire.update_frame("forecasts", series, 4, '{"x":1}')) == {
        "type": "update", "channel": "forecasts", "series": series, "version": 4,
        "data": {"x": 1}}
    assert json.loads(wire.alert_update_frame(series, None, "{}")) == {
        "type": "update", "channel": "alerts", "series": series, "sid": None, "data": {}}


def test_alert_rows_and_mover_rows_decode_or_are_skipped() -> None:
    assert wire.decode_alert({wire.ALERT_FIELD: "[1]"}, "1-0") is None
    assert wire.decode_alert({wire.ALERT_FIELD: "{"}, "1-0") is None
    assert wire.mover_item("A", 2.0, None) == {"series": "A", "score": 2.0}
    assert wire.mover_item("A", 2.0, '{"score": 9, "actual": 1}') == {
        "series": "A", "score": 2.0, "actual": 1}


def test_the_readme_documents_the_shapes_in_this_module() -> None:
    text = README.read_text()
    block = text.split("A forecasts `data` (an `actuals` one has the first six fields,")[1]
    keys = set(re.findall(r'"(\w+)":', block.split("```json")[1].split("```")[0]))
    assert set(wire.LIVE_FIELDS) - {"at"} <= keys and {"actuals", "forecast"} <= keys
    assert set(wire.CHANNELS) <= set(re.findall(r"`(forecasts|actuals|alerts|ops)`", text))
    for key in (wire.ALERTS_STREAM, wire.MODEL_CURRENT, wire.MODELS_CHANNEL):
        assert f"`{key}`" in text


def _readme_json(after: str) -> set[str]:
    """The top-level keys of the first JSON example after ``after`` in the README."""
    block = README.read_text().split(after)[1].split("```json")[1].split("```")[0]
    return set(json.loads(re.sub(r"\.\.\.?,?", "", block.replace("[...]", "[]"))))


def test_alerts_ops_and_forecast_parts_have_the_documented_fields() -> None:
    _, (alert,) = track(None, "A", 0, 86400, 9.0, Expected(3.0, 2.0, 4.0, 1.0, 5.0),
                        Finding("spike", "critical", 6.0), "ensemble")
    assert set(alert) == set(wire.ALERT_FIELDS)
    assert _readme_json("An alert (also on the") == set(wire.ALERT_FIELDS)
    group = group_message("closure", 0, 0, 86400, "open", 400, 3, 410.0, 2)
    assert set(group) == set(wire.GROUP_ALERT_FIELDS)
    assert _readme_json("A group alert") == set(wire.GROUP_ALERT_FIELDS) - {"partition"} | {
        "partitions"}
    ops = ops_snapshot({"g": {("t", 0): 5}}, {("t", 0): 9}, {}, [], 0, None, 10, 100.0)
    assert tuple(ops) == wire.OPS_FIELDS
    assert _readme_json("An ops snapshot:") <= set(wire.OPS_FIELDS)
    forecast_part = next(w.forecast for w in _writes() if w.forecast is not None)
    assert tuple(forecast_part) == wire.FORECAST_PART_FIELDS
