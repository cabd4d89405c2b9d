"""Partial sums, reports and the ledger that combines them (stream/aggregates.py)."""

from __future__ import annotations

import pytest

from stream.aggregates import (
    PATIENCE,
    PATIENCE_S,
    QUIET_S,
    ROOT,
    STOPPED_S,
    Grouping,
    Ledger,
    Partials,
    decode_report,
    encode_report,
)


def _report(src: int, offset: int, until: int, sums: dict) -> object:
    return decode_report(encode_report(src, offset, until, sums))


def test_a_bucket_closes_once_every_partition_reported_it_complete() -> None:
    led = Ledger(sources=2, width=10)
    led.apply(_report(0, 5, 10, {0: {"c:a": [3.0, 2]}, 10: {"c:a": [1.0, 1]}}))
    assert led.due() == []  # partition 1 has not reported
    led.apply(_report(1, 9, 10, {0: {"c:b": [4.0, 1]}}))
    assert led.due() == [(0, {"c:a": (3.0, 2), "c:b": (4.0, 1)})]
    assert led.closed_until == 10 and led.children == ["c:a", "c:b"]
    assert led.events(ROOT) == 4 and led.events("c:a") == 3  # 2 closed + 1 open
    assert led.open_sums() == (10, {"c:a": (1.0, 1)})


def test_a_report_read_twice_or_out_of_order_changes_nothing() -> None:
    led = Ledger(sources=1, width=10)
    new = _report(0, 9, 0, {0: {"c:a": [5.0, 2]}})
    old = _report(0, 4, 0, {0: {"c:a": [2.0, 1]}})
    assert led.apply(new) and not led.apply(new) and not led.apply(old)
    assert led.open_sums() == (0, {"c:a": (5.0, 2)})


def test_quiet_buckets_close_as_zeros_and_final_sums_sent_again_count_once() -> None:
    led = Ledger(sources=1, width=10)
    led.apply(_report(0, 1, 40, {0: {"c:a": [1.0, 1]}, 30: {"c:a": [2.0, 1]}}))
    assert [(b, per) for b, per in led.due()] == [
        (0, {"c:a": (1.0, 1)}), (10, {}), (20, {}), (30, {"c:a": (2.0, 1)})]
    # after a restart the partition reports a bucket it had declared complete: a repeat,
    # which adds nothing and is not late (it was counted as late until 2026-12-07)
    led.apply(_report(0, 2, 40, {30: {"c:a": [2.0, 1]}}))
    assert led.late == 0 and led.due() == [] and led.events(ROOT) == 2


def test_a_partition_without_a_watermark_is_waited_for_while_it_reports() -> None:
    """A partition of few series (no watermark yet: stream.clock) declares nothing complete.
    It was not waited for beyond PATIENCE buckets even while it reported: a fast replay of a
    3-SKU file closed most of total's days without its sums. It is waited for as far as its
    latest sums go, less a bucket, until it is PATIENCE_S silent (its reports' times)."""
    led = Ledger(sources=2, width=10)
    led.apply(_report(1, 1, None, {0: {"c:b": [1.0, 1]}, 10: {"c:b": [2.0, 1]}}), at=100.0)
    led.apply(_report(0, 1, 60, {b: {"c:a": [1.0, 1]} for b in range(0, 60, 10)}), at=101.0)
    assert led.due() == []  # within PATIENCE_S of the first report: nothing closes
    led.apply(_report(1, 2, None, {10: {"c:b": [5.0, 2]}, 30: {"c:b": [1.0, 1]}}), at=160.0)
    led.apply(_report(0, 2, 60, {}), at=161.0)
    assert [(b, per.get("c:b")) for b, per in led.due()] == [(0, (1.0, 1)), (10, (5.0, 2))]
    assert led.late == 0  # partition 1 is at 30: 20 may still get a late event
    led.apply(_report(0, 3, 80, {}), at=160.0 + PATIENCE_S)  # partition 1 silent since 160
    assert [b for b, _ in led.due()] == [20, 30, 40, 50, 60, 70]
    late = _report(1, 3, None, {30: {"c:b": [4.0, 2]}})  # more for a day closed without it
    led.apply(late, at=230.0)
    led.apply(_report(1, 4, None, {30: {"c:b": [4.0, 2]}}), at=231.0)  # the same sums again
    assert led.late == 1 and led.events("c:b") == 5
    led.apply(_report(0, -1, None, {}), at=500.0)  # a tick: its time only
    assert led.seen[0] == 3 and led.now == 500.0
    # without message times (a ledger of an older worker), only the buckets count
    old = Ledger(sources=2, width=10)
    old.apply(_report(1, 1, None, {0: {"c:b": [1.0, 1]}}))
    old.apply(_report(0, 1, 60, {b: {"c:a": [1.0, 1]} for b in range(0, 60, 10)}))
    assert [b for b, _ in old.due()] == [0, 10, 20, 30, 40, 50]


def test_a_partition_that_never_reports_is_not_waited_for_forever() -> None:
    led = Ledger(sources=2, width=10)
    led.apply(_report(0, 1, 10, {0: {"c:a": [1.0, 1]}}))
    assert led.due() == []
    led.apply(_report(0, 2, PATIENCE * 10, {}))
    assert [b for b, _ in led.due()] == list(range(0, PATIENCE * 10, 10))
    # it reports at last: its sums of the closed buckets still count, once each
    led.apply(_report(1, 5, None, {0: {"c:b": [4.0, 2]}, 10: {"c:b": [1.0, 1]}}))
    led.apply(_report(1, 8, 10, {0: {"c:b": [6.0, 3]}, 10: {"c:b": [2.0, 2]}}))
    led.apply(_report(1, 9, 20, {10: {"c:b": [3.0, 3]}}))
    assert led.events("c:b") == 6 and led.events(ROOT) == 7 and led.unfinished == {}
    led.apply(_report(1, 12, 20, {10: {"c:b": [3.0, 3]}}))  # final already: a repeat
    assert led.events(ROOT) == 7 and led.children == ["c:a", "c:b"]


def test_a_partition_whose_series_all_stopped_does_not_hold_the_totals_for_good() -> None:
    """A probe's hourly file: one series alone on its partition stopped selling, so that
    partition's watermark stopped with it, and ``total`` and every child stayed at its last
    sale for good (minutes after the replay ended). A partition that stopped PATIENCE buckets
    behind the furthest one and has been silent STOPPED_S (longer than a failover takes) is
    no longer waited for; ticks keep the ledger's clock running while it waits, and what it
    sends later still counts."""
    led = Ledger(sources=2, width=10)
    led.apply(_report(0, 1, 40, {b: {"c:a": [1.0, 1]} for b in range(0, 50, 10)}), at=100.0)
    for at in (150.0, 200.0):  # partition 1 goes on reporting
        led.apply(_report(1, -1, None, {}), at=at)
    led.apply(_report(1, 1, 100, {b: {"c:b": [2.0, 1]} for b in range(0, 110, 10)}), at=250.0)
    assert [b for b, _ in led.due()] == [0, 10, 20, 30]  # partition 0 silent for 150 s only
    assert led.wants_tick(275.0) and not led.wants_tick(255.0)  # past 2 PATIENCE_S: still
    led.apply(_report(0, -1, None, {}), at=100.0 + STOPPED_S)  # a tick
    assert [b for b, _ in led.due()] == list(range(40, 100, 10))
    assert not led.wants_tick(600.0)  # nothing left to wait for: no more ticks
    led.apply(_report(0, 2, 120, {50: {"c:a": [3.0, 3]}, 110: {"c:a": [1.0, 1]}}), at=500.0)
    assert led.late == 1 and led.events("c:a") == 9  # sums for a closed bucket: late, counted
    led.apply(_report(1, 2, 130, {}), at=501.0)
    assert led.due() == [(100, {"c:b": (2.0, 1)}), (110, {"c:a": (1.0, 1)})]


def test_after_every_worker_was_away_the_first_partitions_back_do_not_close_without_the_rest(
        ) -> None:
    """A probe stopped all three workers for minutes while events arrived: when they came
    back, every partition had been silent STOPPED_S, so the first partitions back closed days
    of ``total`` without the others' sales (20-32% short; the audit's counts still agreed).
    Silence now counts from the ledger's last QUIET_S without any report."""
    led = Ledger(sources=2, width=10)
    led.apply(_report(0, 1, 40, {b: {"c:a": [1.0, 1]} for b in range(0, 40, 10)}), at=100.0)
    led.apply(_report(1, 1, 40, {b: {"c:b": [2.0, 1]} for b in range(0, 40, 10)}), at=100.0)
    assert [b for b, _ in led.due()] == [0, 10, 20, 30]
    back = 100.0 + 3 * STOPPED_S  # every worker away; partition 1 back first
    led.apply(_report(1, 2, 100, {b: {"c:b": [2.0, 1]} for b in range(40, 100, 10)}), at=back)
    for at in range(int(back) + 10, int(back + STOPPED_S) - 10, 10):  # ticks
        led.apply(_report(1, -1, None, {}), at=float(at))
        assert led.due() == [], at  # partition 0 is waited for: still recovering
    led.apply(_report(0, 2, 100, {b: {"c:a": [1.0, 1]} for b in range(40, 100, 10)}),
              at=back + STOPPED_S - 5)
    assert led.due() == [(b, {"c:a": (1.0, 1), "c:b": (2.0, 1)}) for b in range(40, 100, 10)]
    assert led.late == 0
    # a partition that stops while the others go on is still let go after STOPPED_S
    last = back + STOPPED_S - 5
    led.apply(_report(1, 3, 130, {b: {"c:b": [2.0, 1]} for b in range(100, 130, 10)}),
              at=last + QUIET_S / 2)
    at = last + QUIET_S / 2
    while at < last + STOPPED_S:
        assert led.due() == []
        at += 10.0
        led.apply(_report(1, -1, None, {}), at=at)
    assert [b for b, _ in led.due()] == [100, 110, 120]


def test_partials_forget_what_they_reported_complete() -> None:
    p = Partials(width=10)
    p.add(0, "c:a", 2.0)
    p.add(10, "c:a", 1.0)
    r = decode_report(p.report(1, 3, final_until=10))
    assert r.sums == {0: {"c:a": [2.0, 1]}, 10: {"c:a": [1.0, 1]}}
    assert list(p.open) == [10] and not p.changed
    r = decode_report(p.report(1, 4, final_until=None))  # no watermark yet: nothing complete
    assert r.final_until is None and list(p.open) == [10]


@pytest.mark.parametrize("raw", [b'{"aggregate_report":{}}', b'{"aggregate_report":', b"[]"])
def test_a_broken_report_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not an aggregate report"):
        decode_report(raw)


def test_a_report_that_declares_decades_complete_closes_its_sums_and_max_fill_zeros() -> None:
    """Every bucket with sums closes, and of the empty ones only the last MAX_FILL in all (as
    a series' close), so one report cannot make the ledger close millions of buckets."""
    from stream.bucketing import MAX_FILL

    led = Ledger(sources=1, width=10)
    led.apply(_report(0, 1, 10 * 3_000_000, {0: {"c:a": [2.0, 1]}, 50: {"c:a": [1.0, 1]}}))
    due = led.due()
    assert [b for b, _ in due[:2]] == [0, 50]  # the newest empty buckets only, in all
    assert len(due) == 2 + MAX_FILL and due[-1][0] == 10 * 3_000_000 - 10
    assert led.closed_until == 10 * 3_000_000 and led.closed_events == {"c:a": 2}


def test_a_report_of_the_first_buckets_of_the_time_range_is_taken() -> None:
    """Weekly buckets start on Mondays: an event of 2000-01-01 (a Saturday) is in the
    bucket of 1999-12-27, and a watermark there less the lateness further back still."""
    from contracts.events import MIN_TS
    from models.grid import start
    from stream.aggregate_report import Report, check_report

    week = 7 * 86400
    first = start(MIN_TS, week)
    assert first < MIN_TS
    check_report(Report(0, 1, start(MIN_TS - 86400, week), {first: {"country:X": [1.0, 1]}}),
                 sources=1, width=week, lateness=86400, children="country:")


@pytest.mark.parametrize("sums", [[1e31, 1], [2e6, 1], [1.0, -1], [1.0, 2**53 + 1],
                                  [1e300, 10**400]])
def test_a_report_whose_sum_no_events_could_make_is_a_dead_letter(sums: list[float]) -> None:
    """A probe: any producer can write a report to the events topic; a finite sum of 1e31 (above
    the model bank's bound) failed the batch in bank.close, and the worker on every restart.
    A sum is now at most its count of events times the events' bound."""
    from stream.aggregate_report import encode_report
    from stream.processor import Message, Processor

    day = 86400
    b = 1_300_000_000 - 1_300_000_000 % day
    proc = Processor("t", partitions=1, aggregates=Grouping("country"))
    out = proc.process(0, [Message(0, b, encode_report(0, 0, b + day,
                                                       {b: {"country:A": sums}}))], {}.get)
    assert len(out.dead) == 1 and "is no sum of" in out.dead[0].reason
