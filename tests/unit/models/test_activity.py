"""Shop-wide closures and surges: one group alert, closure days not learnt, weekly days off
left alone."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.activity import ActivityMonitor
from models.evaluation.anomaly_eval import scan_panel
from models.grid import MONTH, shift, start


def test_a_shop_closure_is_one_group_alert_and_is_not_learnt() -> None:
    """Every series goes quiet for 12 days: one group alert, no series alert on reopening."""
    rng = np.random.default_rng(3)
    values = rng.poisson(12.0, (60, 140)).astype(float)
    values[:, 100:112] = 0.0
    scan = scan_panel(values.tolist())
    assert len({g["id"] for g in scan.groups}) == 1
    states = [g["state"] for g in scan.groups]
    assert states[0] == "open" and states[-1] == "resolved"
    assert scan.groups[0]["series_affected"] >= 50
    assert not [a for a in scan.opened if a["since"] >= 100]


def test_a_weekly_day_off_is_not_a_closure() -> None:
    mon = ActivityMonitor(width=1, season=7)
    for t in range(120):
        for _ in range(0 if t % 7 == 6 else 40):
            mon.count(t, new_series=True)
        assert mon.judge(t + 1) == []


def test_a_surge_is_one_group_alert_and_raises_no_series_spikes() -> None:
    rng = np.random.default_rng(5)
    values = rng.poisson(0.3, (100, 120)).astype(float)  # about 26 of them sell on a day
    values[:, 100] = rng.poisson(30.0, 100)  # the promotion: every one of them
    scan = scan_panel(values.tolist())
    assert [g["kind"] for g in scan.groups] == ["surge", "surge"]
    assert [g["state"] for g in scan.groups] == ["open", "resolved"]
    assert not [a for a in scan.opened if a["since"] == 100]


def test_a_jump_of_years_judges_only_the_buckets_a_verdict_can_use() -> None:
    """A first event 25 years back (a clock reset), then the watermark of today, hourly: the
    quiet stretch, where no bucket can get a verdict, is judged at once (before, the first
    buckets of it and the last KEEP one by one), not 220,000 hours one by one; what comes
    after is judged as usual."""
    mon = ActivityMonitor(width=3600)
    first, today = 946_684_800, 946_684_800 + 3600 * 24 * 365 * 25
    mon.count(first, new_series=True)
    judged: list[int] = []
    usual = mon.usual
    mon.usual = lambda start: judged.append(start) or usual(start)  # type: ignore[method-assign]
    assert mon.judge(today) == []
    settled = mon.seasons * mon.season + 1
    assert judged == [first]
    assert mon.next == today and len(mon.history) <= settled and not mon.active
    for h in range(3):
        mon.count(today + 3600 * h, new_series=True)
    mon.judge(today + 3600 * 3)
    assert judged[-3:] == [today, today + 3600, today + 7200]


@pytest.mark.parametrize("days", [12, 25, 60])
def test_a_long_closure_judged_at_once_is_one_alert_as_when_judged_hour_by_hour(
        days: int) -> None:
    """No event while the shop is closed, so the watermark jumps over the closure when it
    reopens: the jump gives the same group alert and the same remembered verdicts as judging
    the closure hour by hour (its messages in between aside)."""
    def run(step: bool) -> tuple[ActivityMonitor, list[dict]]:
        mon, out, h = ActivityMonitor(width=3600), [], 3600
        for t in range(10 * 24):  # ten days of 50 series an hour
            for _ in range(50):
                mon.count(t * h, new_series=True)
            out += mon.judge((t + 1) * h)
        reopen = (10 + days) * 24
        if step:
            for t in range(10 * 24, reopen):
                out += mon.judge((t + 1) * h)
        else:
            out += mon.judge(reopen * h)
        for _ in range(50):
            mon.count(reopen * h, new_series=True)
        out += mon.judge((reopen + 1) * h)
        return mon, out

    (walked, every), (jumped, at_once) = run(True), run(False)
    lifecycle = [(m["state"], m["since"]) for m in at_once if m["state"] != "updated"]
    assert lifecycle == [(m["state"], m["since"]) for m in every if m["state"] != "updated"]
    assert lifecycle[0] == ("open", 10 * 24 * 3600)  # opened where the closure began
    assert at_once[-1] == every[-1]  # the latest message: the same span and figures
    assert jumped.marks == walked.marks and jumped.history == walked.history
    assert jumped.open == walked.open and jumped.next == walked.next


class _Walk(ActivityMonitor):
    """The plain walk: every bucket judged one by one (no quiet stretch judged at once)."""

    def _idle(self) -> bool:
        return False


@pytest.mark.parametrize("seed", range(8))
def test_quiet_stretches_judged_at_once_leave_what_the_walk_leaves(seed: int) -> None:
    """Busy spells (closures, surges, alerts), sparse spells, and empty runs shorter than the
    jump's trigger, judged at irregular watermarks: the same messages, history, verdicts and
    open alert after every call as when every bucket is judged on its own."""
    rng = random.Random(seed)
    width = rng.choice([86400, 3600, MONTH])
    fast, walk = ActivityMonitor(width=width), _Walk(width=width)
    settled = fast.seasons * fast.season + 1
    t, busy, phase = start(1_300_000_000, width), True, 0
    for _ in range(3000):
        phase -= 1
        if phase <= 0:  # busy spells, then sparse ones long enough to forget them
            busy, phase = not busy, rng.randint(20, 150) if not busy else rng.randint(50, 600)
        if rng.random() < 0.3:  # an empty run, shorter than the walk's jump
            t = shift(t, rng.randrange(1, settled), width)
        n = rng.choice([0, 40, 50, 60, 200]) if busy else rng.choice([0, 1, 2, 5])
        for mon in (fast, walk):
            for _ in range(n):
                mon.count(t, new_series=True)
        t = shift(t, 1, width)
        if rng.random() < 0.4:
            until = shift(t, -rng.randrange(0, 3), width) + rng.random() * 10
            assert fast.judge(until) == walk.judge(until)
            assert (fast.history, fast.marks, fast.next, fast.open) == (
                walk.history, walk.marks, walk.next, walk.open)


def test_a_sale_every_few_thousand_minutes_is_judged_in_bounded_work() -> None:
    """A probe: live mode, minute buckets, one series selling every 5,000 minutes (less than
    the 5,761 empty buckets after which the walk jumps): each event walked ~5,000 buckets one
    by one (2,000 events in one envelope: 80 s). Now each quiet stretch is judged at once."""
    mon = ActivityMonitor(width=60)
    judged: list[int] = []
    usual = mon.usual
    mon.usual = lambda start: judged.append(start) or usual(start)  # type: ignore[method-assign]
    t0 = 946_684_800
    for i in range(200):
        mon.count(t0 + i * 5000 * 60, new_series=True)
        mon.judge(t0 + i * 5000 * 60 + 60)
    assert len(judged) == 200 and mon.next == t0 + 199 * 5000 * 60 + 60
    assert len(mon.history) <= mon.seasons * mon.season + 1
