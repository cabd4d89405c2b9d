"""Rows of the five-member layout (before the seasonal median) load into today's bank."""

from __future__ import annotations

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.bank_upgrade import upgrade

DAYS = 60


def _old_rows(lstm: bool, days: int = DAYS) -> tuple[ForecasterBank, np.ndarray]:
    """Six dated rows of the five-member layout after ``days`` days of lumpy sales (Christmas
    and New Year inside, so the holiday factor has learnt)."""
    rng = np.random.default_rng(7)
    old = ForecasterBank(cycles=0, lstm=lstm)
    rows = old.add_rows(6)
    old.set_day(rows, 14_580 + np.arange(6))  # from 2009-12-02 on
    for day in range(days):
        y = rng.poisson(4.0, 6) * (rng.random(6) < 0.6) * (1 + (day % 7 == 3))
        old.learn(rows, y.astype(np.float64))
        if lstm and day == days // 2:
            old.set_lstm_paths(rows, rng.random((6, 14)) * 5, "v1")
    return old, rows


@pytest.mark.parametrize("lstm", [False, True])
def test_an_older_row_loads_with_every_part_carried_over(lstm: bool) -> None:
    old, rows = _old_rows(lstm)
    new = ForecasterBank(lstm=lstm)
    at = new.add_rows(len(rows))
    for r, a in zip(rows.tolist(), at.tolist(), strict=True):
        new.load_row(a, old.export_row(r))
    was, now = old.forecast(rows, 14), new.forecast(at, 14)
    for name in ("yhat", "lo", "hi", "lo95", "hi95", "mean", "lead"):
        np.testing.assert_array_equal(getattr(now, name), getattr(was, name), err_msg=name)
    np.testing.assert_array_equal(new.detector.n_err[at], old.detector.n_err[rows])
    np.testing.assert_array_equal(new.factor[at], old.factor[rows])
    assert new.member_names == [*old.member_names, "seasonal_median"]
    # the seasonal median starts from the last season: seasonal naive's path, and its record
    paths = new.members.paths(at, new.n[at])
    np.testing.assert_array_equal(paths[:, -1], paths[:, 0])
    np.testing.assert_array_equal(new.errors[at, -1], new.errors[at, 0])
    np.testing.assert_array_equal(new.errors[at, :-1], old.errors[rows])


def test_an_upgraded_row_keeps_learning_and_its_seasonal_median_fills() -> None:
    old, rows = _old_rows(False)
    new = ForecasterBank()
    at = new.add_rows(len(rows))
    for r, a in zip(rows.tolist(), at.tolist(), strict=True):
        new.load_row(a, old.export_row(r))
    assert (np.isfinite(new.members.smed[at]).sum(axis=2) == 1).all()  # one cycle so far
    for _ in range(3 * 7):
        new.learn(at, np.full(len(at), 5.0))
    assert (np.isfinite(new.members.smed[at]).sum(axis=2) == 4).all()
    f = new.forecast(at, 14)
    assert np.isfinite(f.yhat).all() and (f.lo <= f.yhat).all() and (f.yhat <= f.hi).all()
    # three of the four values of every slot are 5 now: the seasonal median says 5
    np.testing.assert_array_equal(new.members.paths(at, new.n[at])[:, -1], 5.0)


def test_a_young_row_seeds_only_the_slots_it_has_seen() -> None:
    """Before a whole season, the upgraded seasonal median is the one a row of today's
    layout would have learnt from the same three values."""
    old, rows = _old_rows(False, days=3)
    new = ForecasterBank()
    a, fresh = new.add_rows(2)
    new.load_row(a, old.export_row(int(rows[0])))
    new.set_day([fresh], [14_580])
    rng = np.random.default_rng(7)  # the same draws as _old_rows: row 0's three values
    for day in range(3):
        y = rng.poisson(4.0, 6) * (rng.random(6) < 0.6) * (1 + (day % 7 == 3))
        new.learn([fresh], y[:1].astype(np.float64))
    assert np.isfinite(new.members.smed[a]).sum() == 3
    np.testing.assert_array_equal(new.members.smed[a], new.members.smed[fresh])
    paths = new.members.paths(np.array([a, fresh]), new.n[[a, fresh]])
    np.testing.assert_array_equal(paths[0], paths[1])


def test_bytes_of_no_layout_are_refused_with_the_size_expected() -> None:
    new = ForecasterBank()
    (a,) = new.add_rows(1)
    size = len(new.export_row(a))
    with pytest.raises(ValueError, match=f"raw must be a row of this bank \\({size} bytes\\)"):
        new.load_row(a, b"\x00" * 100)
    legacy = ForecasterBank(cycles=0)  # the older layout knows of no older one
    legacy.add_rows(1)
    with pytest.raises(ValueError, match="raw must be a row of this bank"):
        legacy.load_row(0, new.export_row(a))
    with pytest.raises(ValueError, match="raw must be a row of this bank"):
        upgrade(new, new.export_row(a)[:-8])
