"""``salescast audit``'s reconciliation (stream.audit) on hand-built messages, and its CLI."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from salescast import cli_audit
from salescast.cli import app
from stream.audit import Reconciler, Record, reconcile
from stream.partitioning import partition_for
from stream.records import fmt_key, legacy_code, parse_key

TOPIC, N = "sales.events", 4
T = 1_300_000_000.0
# series by home partition on 4 partitions
HOME = {s: partition_for(s, N) for s in ("A", "B", "C", "D", "E")}


def other(series: str) -> int:
    return (HOME[series] + 1) % N


def ev(series: str, i: int, **extra: Any) -> dict[str, Any]:
    return {"series": series, "ts": T + i, "qty": 1, "price": 2.5, "id": f"{series}:{i}",
            **extra}


def msg(partition: int, offset: int, value: dict[str, Any] | bytes) -> Record:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Record(partition, offset, raw)


def dead(partition: int, offset: int, index: int | None, code: str, topic: str = TOPIC,
         series: str | None = None) -> Record:
    value = {"reason": "why", "code": code, "stage": "x", "topic": topic,
             "partition": partition, "offset": offset, "index": index, "series": series,
             "raw_b64": "", "raw_size": 0, "raw_sha256": "", "truncated": False}
    key = f"{topic}/{partition}/{offset}/{'-' if index is None else index}"
    return Record(0, 0, json.dumps(value).encode(), key.encode())


def scenario() -> tuple[list[Record], list[Record], dict[str, int | None]]:
    """A: 3 events, one too late; B: an envelope with a bad element; C: a bad record."""
    a, b = HOME["A"], HOME["B"]
    msgs = [
        msg(a, 0, ev("A", 0)),
        msg(a, 1, ev("A", 1)),
        msg(a, 2, ev("A", 2)),
        msg(b, 0, {"events": [ev("B", 0), {"series": "B", "qty": 1}, ev("B", 2)]}),
        msg(HOME["C"], 0, b'{"series": "C", "ts": '),
    ]
    dls = [dead(a, 1, None, "too_late", series="A"), dead(b, 0, 1, "invalid"),
           dead(HOME["C"], 0, None, "invalid")]
    return msgs, dls, {"A": 2, "B": 2}


def test_reconciled() -> None:
    msgs, dls, counts = scenario()
    r = reconcile(TOPIC, N, msgs, dls, counts)
    assert r.ok and r.differences == 0 and r.problems() == []
    assert (r.total.messages, r.total.valid, r.total.rejected, r.total.accepted) == (5, 5, 2, 4)
    assert dict(r.total.dead) == {"too_late": 1, "invalid": 2}
    assert sorted(r.partitions) == list(range(N))  # every partition, even an empty one
    a = r.partitions[HOME["A"]]
    assert (a.messages, a.valid, a.accepted, a.dead["too_late"]) == (3, 3, 2, 1)
    assert r.series == 2 and r.dead_unmatched == 0
    json.dumps(r.to_dict())  # JSON-ready


def test_a_wrong_or_missing_count_is_a_difference() -> None:
    msgs, dls, _ = scenario()
    r = reconcile(TOPIC, N, msgs, dls, {"A": 3})
    assert not r.ok
    assert r.counts == [("A", 2, 3), ("B", 2, None)]
    assert r.problems() == ["series A: redis counts 3, expected 2",
                            "series B: redis counts nothing, expected 2"]
    assert r.to_dict(limit=1)["differences"]["series"] == [
        {"series": "A", "expected": 2, "redis": 3}]
    assert r.to_dict(limit=1)["differences"]["series_total"] == 2


def test_a_fully_dead_lettered_series_expects_zero() -> None:
    msgs = [msg(HOME["D"], 0, ev("D", 0))]
    dls = [dead(HOME["D"], 0, None, "in_future")]
    assert reconcile(TOPIC, N, msgs, dls, {}).ok  # no hash: fine
    r = reconcile(TOPIC, N, msgs, dls, {"D": 1})
    assert r.counts == [("D", 0, 1)]


def test_a_lost_dead_letter_is_a_difference() -> None:
    msgs, dls, counts = scenario()
    r = reconcile(TOPIC, N, msgs, dls[:1] + dls[2:], counts)  # the envelope element's is lost
    assert not r.ok and r.counts == []
    assert [(k, why) for k, why in r.missing_dead] == [
        ((HOME["B"], 0, 1), "missing field 'ts'")]
    assert r.partitions[HOME["B"]].missing_dead == 1
    assert r.problems() == [f"no dead letter for the invalid record {HOME['B']}/0/1"]
    # a lost "too late" dead letter: the event looks counted, Redis disagrees
    r = reconcile(TOPIC, N, msgs, dls[1:], counts)
    assert r.counts == [("A", 3, 2)]


def test_repeated_dead_letters_are_deduped() -> None:
    msgs, dls, counts = scenario()
    r = reconcile(TOPIC, N, msgs, dls + dls[:2] + [dls[0]], counts)
    assert r.ok and r.dead_repeats == 3
    assert dict(r.total.dead) == {"too_late": 1, "invalid": 2}


def test_rerouted_events_count_on_their_home_partition() -> None:
    wrong, home = other("E"), HOME["E"]
    assert HOME["A"] == wrong  # the envelope below is A's home and not E's
    msgs = [
        msg(wrong, 0, ev("E", 0)),  # misplaced: re-routed, not counted here
        msg(wrong, 1, {"events": [ev("E", 1), ev("A", 1)]}),  # E re-routed, A counted
        msg(home, 0, ev("E", 0, rerouted_from=f"{wrong}/0/-")),
        msg(home, 1, ev("E", 1, rerouted_from=f"{wrong}/1/0")),
    ]
    r = reconcile(TOPIC, N, msgs, [], {"E": 2, "A": 1})
    assert r.ok, r.problems()
    assert (r.partitions[wrong].rerouted, r.partitions[wrong].accepted) == (2, 1)
    assert r.partitions[home].rerouted_in == 2 and r.partitions[home].accepted == 2
    assert r.total.rerouted == r.total.rerouted_in == 2
    # the copy of E's single event never arrived: the count is short, and the loss is named
    r = reconcile(TOPIC, N, msgs[:2] + msgs[3:], [], {"E": 2, "A": 1})
    assert r.missing_copies == [(wrong, 0, None)]
    assert r.problems() == ["series E: redis counts 2, expected 1",
                            f"re-routed event {wrong}/0/- has no copy"]


def test_misplaced_event_counted_in_place_is_a_difference() -> None:
    # an old worker counted it where it was read and re-routed nothing
    r = reconcile(TOPIC, N, [msg(other("E"), 0, ev("E", 0))], [], {"E": 1})
    assert r.counts == [("E", 0, 1)] and len(r.missing_copies) == 1


def test_duplicate_ids_are_skips() -> None:
    h = HOME["C"]
    msgs = [msg(h, 0, ev("C", 0)), msg(h, 1, ev("C", 0))]
    r = reconcile(TOPIC, N, msgs, [dead(h, 1, None, "duplicate_id")], {"C": 1})
    assert r.ok and r.total.dead["duplicate_id"] == 1 and r.total.accepted == 1


def test_other_topics_legacy_and_unreadable_dead_letters() -> None:
    h = HOME["B"]
    msgs = [msg(h, 0, {"events": [ev("B", 0), {"series": "B"}]}), msg(h, 1, ev("B", 1))]
    legacy = [  # written before code/index existed: no key either
        Record(0, 0, json.dumps({"reason": "events[1]: missing field 'ts'", "stage": "validation",
                                 "raw_b64": "", "topic": TOPIC, "partition": h,
                                 "offset": 0}).encode()),
        Record(0, 1, json.dumps({"reason": "event time 1 is in closed bucket 0 (watermark 9)",
                                 "stage": "bucketing", "raw_b64": "", "topic": TOPIC,
                                 "partition": h, "offset": 1}).encode()),
        dead(h, 0, 1, "invalid", topic="another.topic"),
        Record(0, 2, b"not json"),
        Record(0, 3, b'{"topic": "sales.events"}'),
    ]
    r = reconcile(TOPIC, N, msgs, legacy, {"B": 1})
    assert r.ok, r.problems()
    assert (r.dead_other_topic, r.dead_unreadable, r.dead_unmatched) == (1, 2, 0)
    assert dict(r.total.dead) == {"invalid": 1, "too_late": 1}


def test_unmatched_dead_letters_are_noted_not_errors() -> None:
    msgs, dls, counts = scenario()
    r = reconcile(TOPIC, N, msgs, [*dls, dead(0, 99, None, "too_late")], counts)
    assert r.ok and r.dead_unmatched == 1


def test_dead_letters_come_first() -> None:
    rec = Reconciler(TOPIC, N)
    rec.add_event(msg(HOME["A"], 0, ev("A", 0)))
    with pytest.raises(ValueError, match="dead letter"):
        rec.add_dead_letter(dead(0, 0, None, "invalid"))


def test_keys_and_legacy_codes() -> None:
    assert parse_key(fmt_key((3, 10, None))) == (3, 10, None)
    assert parse_key("3/10/null") == (3, 10, None) and parse_key("3/x/1") is None
    assert legacy_code("bucketing", "event time 9 is more than 30 s ahead of the watermark 1") \
        == "too_far_ahead"
    assert legacy_code("duplicate", "") == "duplicate_id"
    assert legacy_code("bucketing", "something new") == "unknown"


def _rendered(result: Any, max_series: int) -> str:
    """What ``salescast audit`` prints of ``result``."""
    buf = io.StringIO()
    cli_audit.out = Console(file=buf, width=300)
    try:
        cli_audit.render(result, max_series=max_series)
    finally:
        cli_audit.out = Console()
    return buf.getvalue()


def test_render_names_the_differences() -> None:
    msgs, dls, _ = scenario()
    r = reconcile(TOPIC, N, msgs, dls[1:], {"A": 2})
    text = _rendered(r, max_series=1)
    assert "audit of sales.events" in text and "total" in text and "late" in text
    assert "A" in text and "... and 1 more" in text and "NOT reconciled: 2 differences" in text


def test_unreachable_kafka_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_audit, "TIMEOUT", 2.0)  # (0.5 s failed twice on a loaded machine)
    env = {"KAFKA_BOOTSTRAP": "127.0.0.1:9", "REDIS_URL": "redis://127.0.0.1:9"}
    result = CliRunner().invoke(app, ["audit", "--json"], env=env)
    assert result.exit_code == 2, result.output
    assert "does not answer: 127.0.0.1:9: Connection refused" in result.output
    assert "Traceback" not in result.output


def test_aggregates_are_expected_to_count_what_their_skus_count() -> None:
    from stream.aggregates import Grouping, encode_report

    def ev(s: str, i: int, country: str) -> bytes:
        return (f'{{"series":"{s}","ts":1e9,"qty":1,"price":1,"id":"{i}",'
                f'"country":"{country}"}}').encode()

    msgs = [Record(0, 0, ev("A", 1, "EIRE")), Record(0, 1, ev("B", 2, "France")),
            Record(0, 2, encode_report(0, 1, 0, {0: {"country:EIRE": [1.0, 1]}})),
            Record(0, 3, ev("A", 3, "EIRE"))]
    counts = {"A": 2, "B": 1, "total": 3, "country:EIRE": 2, "country:France": 1}
    r = reconcile("t", 1, msgs, [], counts, Grouping("country"))
    assert r.ok and r.total.messages == 3
    off = reconcile("t", 1, msgs, [], {**counts, "total": 2}, Grouping("country"))
    assert off.problems() == ["series total: redis counts 2, expected 3"]
    # a bad report (the worker dead-letters it): its dead letter matches its record
    bad = [*msgs, Record(0, 4, b'{"aggregate_report":oops}')]
    r = reconcile("t", 1, bad, [dead(0, 4, None, "invalid", topic="t")], counts,
                  Grouping("country"))
    assert r.ok and r.dead_unmatched == 0 and r.total.messages == 3


def test_a_record_like_a_report_counts_as_an_event_off_totals_partition() -> None:
    """The worker takes a record starting like a report as one on total's partition only;
    elsewhere it is an event like any other, and the audit expects it counted."""
    from stream.aggregates import ROOT, Grouping

    n = 2
    other = 1 - partition_for(ROOT, n)
    series = next(f"S{i}" for i in range(100) if partition_for(f"S{i}", n) == other)
    raw = (f'{{"aggregate_report":0,"series":"{series}","ts":1e9,"qty":1,"price":1,'
           f'"country":"EIRE"}}').encode()
    counts = {series: 1, "total": 1, "country:EIRE": 1}
    r = reconcile("t", n, [Record(other, 0, raw)], [], counts, Grouping("country"))
    assert r.ok, r.problems()


def test_another_groups_reports_are_no_events_for_a_worker_without_aggregates() -> None:
    """A group without aggregates beside one with them on the same topic dead-lettered each
    of the other's reports; it skips them now, and the audit expects no dead letter."""
    from stream.aggregates import encode_report

    msgs = [Record(0, 0, b'{"series":"A","ts":1e9,"qty":1,"price":1}'),
            Record(0, 1, encode_report(1, 7, None, {}, group="daily")),
            Record(1, 0, encode_report(0, 3, None, {}))]
    r = reconcile("t", 2, msgs, [], {"A": 1}, None)
    assert r.ok and r.total.messages == 1, r.problems()


def test_a_log_that_retention_truncated_is_checked_as_at_least() -> None:
    """Retention deleted the head of a partition the worker counted long ago: its series
    count more in Redis than the log still holds. A deployment older than the topic's
    retention never reconciled (a probe); now they are checked as "at least", and a count
    below what the log holds is still a difference."""
    from stream.aggregates import Grouping

    a, b = HOME["A"], HOME["B"]
    e = next(f"S{i}" for i in range(100) if partition_for(f"S{i}", N) == a)  # A's home too
    away = (a + 1) % N
    msgs = [msg(a, 5, ev("A", 5, country="EIRE")), msg(b, 0, ev("B", 0, country="EIRE")),
            msg(away, 7, ev(e, 7, country="EIRE"))]  # its copy went with A's head
    counts = {"A": 6, "B": 1, e: 3, "total": 10, "country:EIRE": 10}
    strict = reconcile(TOPIC, N, msgs, [], counts, Grouping("country"))
    assert strict.problems() == ["series A: redis counts 6, expected 1",
                                 f"series {e}: redis counts 3, expected 0",
                                 "series country:EIRE: redis counts 10, expected 2",
                                 "series total: redis counts 10, expected 2",
                                 f"re-routed event {away}/7/- has no copy"]
    rec = Reconciler(TOPIC, N, Grouping("country"), {a: 5, b: 0})
    for m in msgs:
        rec.add_event(m)
    r = rec.finish(counts)
    assert r.ok, r.problems()
    assert (r.truncated, r.unverifiable) == ({a: 5}, 4)
    assert r.to_dict()["truncated"] == {str(a): 5}
    short = Reconciler(TOPIC, N, Grouping("country"), {a: 5})
    for m in msgs:
        short.add_event(m)
    assert short.finish({**counts, "A": 0, "B": 2}).problems() == [
        "series A: redis counts 0, expected 1", "series B: redis counts 2, expected 1"]
    text = _rendered(r, max_series=5)
    assert (f"retention deleted the oldest events of partitions {a} from offset 5" in text
            and "4 count more" in text)


def test_what_a_worker_lost_to_retention_is_a_difference() -> None:
    """Retention deleted events a stopped worker group had not read: the log no longer holds
    them, so only the worker can tell (it records them in Redis); the audit says so."""
    msgs, dls, counts = scenario()
    rec = Reconciler(TOPIC, N)
    for d in dls:
        rec.add_dead_letter(d)
    for m in msgs:
        rec.add_event(m)
    r = rec.finish(counts, {"host:41": 0, "host:42": 1500})
    assert not r.ok and r.differences == 1 and r.lost == {"host:42": 1500}
    assert r.problems() == ["worker host:42: 1,500 messages deleted by retention before it "
                            "read them"]
    assert r.to_dict()["lost_by_retention"] == {"host:42": 1500}
