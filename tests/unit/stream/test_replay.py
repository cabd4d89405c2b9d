"""Replay producer helpers: pacing math, encoding, per-partition envelopes, settings (no broker)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
from confluent_kafka import Producer

from contracts.events import SaleEvent
from stream.envelopes import encode_event, group_envelopes, pack_envelope
from stream.partitioning import PRODUCER_PARTITIONER, partition_for
from stream.replay import (
    Pacer,
    ReplayError,
    ReplaySummary,
    _messages,
    producer_config,
    replay,
    topic_partitions,
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
    single = list(_messages(EVENTS, 0, 4))
    assert [(p, k, n) for p, k, _, _, n in single] == [(None, e.series, 1) for e in EVENTS]
    assert [v for _, _, v, _, _ in single] == [e.to_json() for e in EVENTS]
    one = [SaleEvent(s, float(i), 1, 1.0) for i, s in enumerate("DBBDC")]
    home = {s: partition_for(s, 2) for s in "BCD"}
    assert home["D"] != home["B"] == home["C"]  # D alone; B and C share a partition
    packed = list(_messages(iter(one), 2, 2))
    assert [(p, k, ts, n) for p, k, _, ts, n in packed] == [
        (home["B"], "B", 2.0, 2),  # paced by the envelope's last event, keyed by its series
        (home["D"], "D", 3.0, 2),
        (home["C"], "C", 4.0, 1),  # the rest at the end
    ]
    mixed = list(_messages(one, 3, 2))
    assert [(p, k, n) for p, k, _, _, n in mixed] == [(home["B"], None, 3), (home["D"], "D", 2)]
    assert json.loads(mixed[0][2]) == {"events": [json.loads(e.to_json()) for e in
                                                  (one[1], one[2], one[4])]}


def _random_events(n: int, seed: int = 0) -> list[SaleEvent]:
    rng = random.Random(seed)
    series = [f"S{i}" for i in range(40)]
    return [SaleEvent(rng.choice(series), 1e9 + i * rng.random() * 60, 1, 1.0, id=str(i))
            for i in range(n)]


@pytest.mark.parametrize(("size", "partitions", "max_span"),
                         [(1, 1, None), (7, 3, None), (50, 4, None), (50, 4, 600.0), (10, 8, 0.0)])
def test_envelopes_stay_on_their_series_partition(size: int, partitions: int,
                                                  max_span: float | None) -> None:
    events = _random_events(2000)
    chunks = list(group_envelopes(events, size, partitions, max_span))
    assert sum(len(c) for _, c in chunks) == len(events)
    assert all(0 < len(c) <= size for _, c in chunks)
    assert all(partition_for(e.series, partitions) == p for p, c in chunks for e in c)
    got: dict[str, list[SaleEvent]] = defaultdict(list)
    for _, chunk in chunks:
        for e in chunk:
            got[e.series].append(e)
    want: dict[str, list[SaleEvent]] = defaultdict(list)
    for e in events:
        want[e.series].append(e)
    assert got == want  # every event once, in order within its series
    if max_span is None:  # full envelopes, except the last one of each partition
        assert sum(len(c) < size for _, c in chunks) <= partitions


def test_paced_envelopes_do_not_wait_on_quiet_partitions() -> None:
    events = _random_events(3000, seed=1)
    span = 300.0
    for _, chunk in group_envelopes(events, 1000, 4, max_span=span):
        assert chunk[-1].ts - chunk[0].ts <= span
    assert len(list(group_envelopes(events, 1000, 4, max_span=span))) > 12


def test_group_envelopes_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="size"):
        list(group_envelopes(EVENTS, 0, 4))


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
    assert conf["partitioner"] == PRODUCER_PARTITIONER == "murmur2_random"
    Producer(conf)  # librdkafka validates the settings (lz4 built in) without a broker


def test_replay_rejects_bad_envelope() -> None:
    with pytest.raises(ValueError, match="envelope"):
        replay(EVENTS, "127.0.0.1:9", "t", envelope=-1, progress=False)
    with pytest.raises(ValueError, match="envelope"):
        replay(EVENTS, "127.0.0.1:9", "t", envelope=10_001, progress=False)


def _meta(**topics: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(list_topics=lambda timeout: SimpleNamespace(topics=topics))


def test_topic_partitions_from_metadata() -> None:
    parts = {i: object() for i in range(6)}
    assert topic_partitions(_meta(t=SimpleNamespace(error=None, partitions=parts)), "t") == 6
    with pytest.raises(ReplayError, match="'u': does not exist"):
        topic_partitions(_meta(t=SimpleNamespace(error=None, partitions=parts)), "u", 0.3)


def test_replay_errors_clearly_without_kafka() -> None:
    with pytest.raises(ReplayError, match="kafka does not answer"):
        topic_partitions(Producer({"bootstrap.servers": "127.0.0.1:9", "log_level": 0}), "t",
                         timeout=0.5)
