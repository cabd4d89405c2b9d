"""A worker's membership in its group: partitions held, rebalances timed and published once,
and the monitor's group view built from the figures every worker writes."""

from __future__ import annotations

import json

from stream.membership import MAX_PENDING, Membership, default_worker_name
from stream.monitor import ops_snapshot


def test_a_rebalance_lasts_from_its_first_start_to_its_end() -> None:
    m = Membership("h:1", "g", "t")
    assert m.figures()["last_rebalance_s"] == -1.0 and m.figures()["partitions"] == "[]"
    m.started(10.0)
    m.started(11.0)  # a second join of the same rebalance does not restart the clock
    assert m.figures()["rebalancing"] == 1
    m.ended(14.0, [5, 2, 2])
    f = m.figures()
    assert (f["partitions"], f["rebalancing"], f["rebalances"], f["last_rebalance_s"]) == (
        "[2,5]", 0, 1, 4.0)
    m.ended(20.0, [])  # an end without a start (the first assignment seen) lasts 0 s
    assert m.last is not None and m.last.duration_s == 0.0 and m.partitions == ()


def test_rebalances_are_published_once_and_kept_while_redis_is_away() -> None:
    m = Membership("h:1")
    for i in range(3):
        m.started(float(i))
        m.ended(i + 0.5, [i])
    pending = m.pending()
    assert [json.loads(r.as_json())["partitions"] for r in pending] == [[0], [1], [2]]
    m.started(9.0)
    m.ended(9.5, [7])  # ends while the first three are being written
    m.published(len(pending))
    assert [r.partitions for r in m.pending()] == [(7,)]
    for i in range(2 * MAX_PENDING):  # Redis away for long: only the newest are kept
        m.ended(100.0 + i, [i])
    assert len(m.pending()) == MAX_PENDING and m.pending()[-1].partitions == (2 * MAX_PENDING - 1,)


def test_the_default_name_is_host_and_pid() -> None:
    assert default_worker_name(42).endswith(":42")
    assert default_worker_name() != default_worker_name(42)


def _figures(name: str, partitions: list[int], eps: float, p99: float, at: float) -> dict:
    m = Membership(name, "g", "t")
    m.ended(at - 1, partitions)
    return {**{k: str(v) for k, v in m.figures().items()}, "events_per_s": str(eps),
            "events": "100", "alerts": "1", "latency_p50_ms": "5", "latency_p99_ms": str(p99),
            "updated_at": str(at)}


def test_the_snapshot_shows_each_worker_with_the_lag_of_its_own_partitions() -> None:
    committed = {"g": {("t", 0): 10, ("t", 1): 20, ("t", 2): None}}
    ends = {("t", 0): 15, ("t", 1): 20, ("t", 2): 4}
    workers = {"h:2": _figures("h:2", [2], 30.0, 80.0, 99.0),
               "h:1": _figures("h:1", [0, 1], 20.5, 40.0, 97.0)}
    rebalances = [{"worker": "h:2", "at": 98.0, "duration_s": 0.0, "partitions": [2]}]
    snap = ops_snapshot(committed, ends, workers, rebalances, 0, None, 100, now=100.0)
    view = {w["name"]: w for w in snap["workers"]}
    assert [w["name"] for w in snap["workers"]] == ["h:1", "h:2"]
    assert (view["h:1"]["partitions"], view["h:1"]["lag"]) == ([0, 1], 5)
    assert (view["h:2"]["partitions"], view["h:2"]["lag"]) == ([2], 4)
    assert view["h:1"]["seen_s"] == 3.0 and view["h:1"]["last_rebalance_s"] == 0.0
    assert snap["groups"]["g"]["lag"] == 9 == sum(w["lag"] for w in snap["workers"])
    assert (snap["events_per_s"], snap["events"], snap["alerts"]) == (50.5, 200, 2)
    assert snap["latency_ms"] == {"p50": 5.0, "p99": 80.0}  # the worst worker's
    assert snap["worker_seen_s"] == 1.0 and snap["rebalances"] == rebalances
    assert snap["aggregate_late"] is None and view["h:1"]["aggregate_late"] is None
    workers["h:2"]["aggregate_late"] = "7"  # the worker that holds total's partition
    snap = ops_snapshot(committed, ends, workers, rebalances, 0, None, 100, now=100.0)
    assert snap["aggregate_late"] == 7


def test_no_worker_and_odd_figures_do_not_break_the_snapshot() -> None:
    snap = ops_snapshot({}, {}, {}, [], 0, None, 10, now=5.0)
    assert (snap["workers"], snap["events_per_s"], snap["worker_seen_s"]) == ([], 0.0, 0.0)
    odd = ops_snapshot({}, {}, {"x": {"partitions": "not json", "events_per_s": "?"}}, [], 0,
                       None, 10, now=5.0)
    assert odd["workers"][0]["partitions"] == [] and odd["workers"][0]["events_per_s"] == 0.0
    assert odd["workers"][0]["last_rebalance_s"] is None
