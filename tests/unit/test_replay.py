"""Replay producer helpers: pacing math, encoding, envelope packing, settings (no broker)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from confluent_kafka import Producer

from stream.records import SaleEvent
from stream.replay import (
    Pacer,
    ReplaySummary,
    _messages,
    encode_event,
    pack_envelope,
    producer_config,
    replay,
)

EVENTS = [
    SaleEvent("85123A", 1259653500.0, 6, 2.55, "489434:0", "United Kingdom"),
    SaleEvent("85123A", 1259653560.0, -2, 2.55, "C489435:0"),
    SaleEvent("22041", 1259653620.0, 1.5, 0.0, None, "Côte d'Ivoire"),
    SaleEvent("POST", 1259657220.0, 1, 18.0),
]


def test_pacer_maps_event_time_to_wall_time() -> None:
    p = Pacer(speed=60.0)
    assert p.due(1000.0, now=10.0) == 10.0  # the first event anchors
    assert p.due(1060.0, now=10.2) == pytest.approx(11.0)  # a minute of events: a second
    assert p.due(1030.0, now=12.0) == pytest.approx(10.5)  # late event: already due
    assert p.due(4600.0, now=12.0) == pytest.approx(70.0)


def test_pacer_cuts_long_idle_gaps() -> None:
    p = Pacer(speed=3600.0, max_idle=2.0)
    assert p.due(0.0, now=100.0) == 100.0
    assert p.due(3600.0, now=100.0) == pytest.approx(101.0)  # 1 s: kept
    assert p.due(3600.0 + 86400, now=100.0) == pytest.approx(103.0)  # 24 s: cut to 2 s
    assert p.due(3600.0 + 86400 + 1800, now=100.0) == pytest.approx(103.5)


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_pacer_rejects_bad_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed)


def test_encode_event_matches_to_json() -> None:
    odd = [
        SaleEvent('a"b\\c|Ü', 1e-7, 10**6, 1e6, "id\n\x00", "中国"),
        SaleEvent("int ts", 10, 1, 2.0),  # falls back to json
        SaleEvent("nan", 1.0, float("nan"), 2.0),
        SaleEvent("numpy", np.float64(1.5), 2, np.float64(0.1)),
        SaleEvent("bool", 1.0, True, 2.0),
    ]
    for e in EVENTS + odd:
        assert encode_event(e) == e.to_json()


def test_envelope_packing() -> None:
    key, value = pack_envelope(EVENTS)
    assert key is None
    assert json.loads(value) == {"events": [json.loads(e.to_json()) for e in EVENTS]}
    assert pack_envelope(EVENTS[:2])[0] == "85123A"


def test_messages_single_and_enveloped() -> None:
    single = list(_messages(EVENTS, 0))
    assert [(k, n) for k, _, _, n in single] == [(e.series, 1) for e in EVENTS]
    assert [v for _, v, _, _ in single] == [e.to_json() for e in EVENTS]
    packed = list(_messages(iter(EVENTS), 3))
    assert [(k, ts, n) for k, _, ts, n in packed] == [
        (None, EVENTS[2].ts, 3),  # paced by the envelope's last event
        ("POST", EVENTS[3].ts, 1),
    ]


def test_summary() -> None:
    s = ReplaySummary(sent=1000, failed=10, messages=100, seconds=0.5)
    assert s.delivered == 990 and s.rate == 2000.0
    assert str(s) == ("replay done: 1,000 events in 100 messages, 10 failed, 0.5 s, 2,000 events/s")
    assert ReplaySummary(0, 0, 0, 0.0, interrupted=True).rate == 0.0
    assert str(ReplaySummary(0, 0, 0, 0.0, interrupted=True)).startswith("replay interrupted")


def test_producer_config_is_accepted() -> None:
    conf = producer_config("127.0.0.1:9", **{"linger.ms": 5})
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["linger.ms"] == 5 and conf["compression.type"] == "lz4"
    Producer(conf)  # librdkafka validates the settings (lz4 built in) without a broker


def test_replay_rejects_bad_envelope() -> None:
    with pytest.raises(ValueError, match="envelope"):
        replay(EVENTS, "127.0.0.1:9", "t", envelope=-1, progress=False)
    with pytest.raises(ValueError, match="envelope"):
        replay(EVENTS, "127.0.0.1:9", "t", envelope=10_001, progress=False)
