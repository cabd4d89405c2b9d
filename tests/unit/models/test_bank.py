"""The bank equals the per-object stack it replaces, step by step, on real series.

The per-object stack is what the worker runs per series: ``default_model(14, holidays=True)``
dated on its first bucket, and a :class:`~models.bank_anomaly.OneDetector` that checks each
closed value against the forecast made before it. A fixed sample of real SKUs from the first
300k invoice lines of Online Retail II (Dec 2009 - mid 2010: Christmas, Easter and May bank
holidays, cancellations, long runs of zeros) is fed to both, one day at a time, series
starting on different days (so one batch mixes rows of every age). After every day, every
forecast, band, anomaly score and alert must agree.

Tolerance: 1e-9 relative + 1e-9 absolute. Here the two are bit-for-bit equal (the bank keeps
the per-object code's operations, dtypes and order); the tolerance leaves room for a libm or
SIMD ``expm1``/``log1p`` that rounds differently from Python's ``math`` on another machine.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from models.anomaly import Expected, Finding
from models.bank import ForecasterBank
from models.bank_anomaly import KINDS, SEVERITIES, OneDetector
from models.factory import SeriesModel, default_model

RTOL = ATOL = 1e-9
DAY = 86400
EVENTS = 300_000
SAMPLE = 48


@pytest.fixture(scope="module")
def sample(retail_csv: Path) -> list[tuple[int, list[float]]]:
    """(first day, daily net quantities to the slice's last day) of a fixed sample of SKUs:
    the 24 largest by volume and 24 drawn with a fixed seed from those with >= 20 selling
    days."""
    from sources.online_retail import iter_events

    days: dict[str, dict[int, float]] = {}
    last = 0
    for e in iter_events(retail_csv, limit=EVENTS):
        d = int(e.ts // DAY)
        per = days.setdefault(e.series, {})
        per[d] = per.get(d, 0.0) + e.qty
        last = max(last, d)
    series: dict[str, tuple[int, list[float]]] = {}
    for code, per in days.items():
        selling = [d for d, q in per.items() if q > 0]
        if selling:
            first = min(selling)
            series[code] = (first, [float(per.get(d, 0.0)) for d in range(first, last + 1)])
    top = sorted(series, key=lambda c: (-sum(series[c][1]), c))[: SAMPLE // 2]
    pool = sorted(c for c, (_, ys) in series.items()
                  if c not in top and sum(y > 0 for y in ys) >= 20)
    codes = top + random.Random(0).sample(pool, SAMPLE // 2)
    return [series[c] for c in codes]


def recent_of(model: SeriesModel) -> tuple[float, float]:
    """The largest of the last 56 values the model learnt, the share above 0 (the gates)."""
    ens = model.forecaster.member  # type: ignore[attr-defined]
    vals = getattr(ens, "online", ens).members[3]._window.sorted or [0.0]
    return vals[-1], sum(v > 0 for v in vals) / len(vals)


def _per_object(first: int, lstm: bool) -> tuple[SeriesModel, OneDetector]:
    model = default_model(14, holidays=True, lstm=lstm)
    model.forecaster.set_day(first)  # type: ignore[attr-defined]
    return model, OneDetector()


def _observe(model: SeriesModel, det: OneDetector, y: float) -> Finding | None:
    """The worker's check of a closed value (``Processor._score``) and its ``learn_one``."""
    out = None
    if model.n_seen:
        f = model.forecast()
        e = Expected(f.yhat[0], f.lo[0], f.hi[0], f.lo95[0], f.hi95[0])
        out = det.observe(y, e, model.n_seen, recent_of(model))
    model.learn_one(y)
    return out


def _lstm_path(history: list[float], day: int) -> list[float]:
    """A stand-in for the LSTM's forecast (any deterministic path will do): 3 to 14 values."""
    level = sum(history[-7:]) / 7 * 0.8 + 0.5
    return [level * (1.0 + 0.05 * (k % 7)) for k in range(3 + day % 12)]


def _run(sample: list[tuple[int, list[float]]], bank: ForecasterBank, restore_at: int | None,
         lstm: bool = False) -> tuple[int, ForecasterBank]:
    """Feed both stacks day by day and compare everything; the number of comparisons. With
    ``lstm``, every third day every live series gets an LSTM path (of 3 to 14 values)."""
    start = min(first for first, _ in sample)
    end = max(first + len(ys) for first, ys in sample)
    objs: list[tuple[SeriesModel, OneDetector] | None] = [None] * len(sample)
    rows = bank.add_rows(len(sample))
    compared = 0
    for day in range(start, end):
        if day == restore_at:  # persist every row, rebuild the bank from the bytes
            fresh = ForecasterBank(lstm=lstm)
            fresh.add_rows(len(sample))
            for r in rows:
                fresh.load_row(int(r), bank.export_row(int(r)))
            bank = fresh
        live = [i for i, (first, _) in enumerate(sample) if first <= day]
        for i in live:
            if objs[i] is None:
                objs[i] = _per_object(sample[i][0], lstm)
                bank.set_day([rows[i]], [sample[i][0]])
        values = [sample[i][1][day - sample[i][0]] for i in live]
        checks = bank.close(rows[live], np.array(values))
        for j, i in enumerate(live):
            obj = objs[i]
            assert obj is not None
            s = _observe(*obj, values[j])
            if s is None:
                assert checks.kind[j] == 0, (day, i)
            else:
                assert (KINDS[checks.kind[j]], SEVERITIES[checks.severity[j]]) == (
                    s.kind, s.severity), (day, i)
                assert bool(checks.alert[j])
                assert checks.score[j] == pytest.approx(s.score, rel=RTOL, abs=ATOL)
        if lstm and day % 3 == 0:
            paths = [_lstm_path(sample[i][1][: day - sample[i][0] + 1], day) for i in live]
            bank.set_lstm_paths(rows[live], np.array(paths), f"v{day}")
            for i, path in zip(live, paths, strict=True):
                obj = objs[i]
                assert obj is not None
                obj[0].forecaster.member.set_lstm_path(path, f"v{day}")  # type: ignore[attr-defined]
        f = bank.forecast(rows[live], 14)
        for j, i in enumerate(live):
            obj = objs[i]
            assert obj is not None
            g = obj[0].forecast()
            for name in ("yhat", "lo", "hi", "lo95", "hi95"):
                np.testing.assert_allclose(getattr(f, name)[j], getattr(g, name),
                                           rtol=RTOL, atol=ATOL, err_msg=f"{name} {day} {i}")
            compared += 1
            if day % 29 == 0:
                d, m = bank.describe(int(rows[i])), g.model
                assert d["winners"] == m["winners"] and d["n_seen"] == m["n_seen"]
                np.testing.assert_allclose(d["weights_by_horizon"], m["weights_by_horizon"],
                                           rtol=RTOL, atol=ATOL)
                assert d["holiday_factor"] == m["holiday_factor"]
                assert d.get("lstm_version") == m.get("lstm_version")
                assert d["winner"] == m["winner"] and d["members"] == m["members"]
                assert d["weights"] == pytest.approx(m["weights"], rel=RTOL, abs=ATOL)
                assert d["interval"]["n"] == m["interval"]["n"]
    return compared, bank


@pytest.fixture
def no_path_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-object stack has no path cap (models.bank_members.PATH_CAP): compare without."""
    monkeypatch.setattr("models.bank_members.PATH_CAP", math.inf)


@pytest.mark.parametrize("lstm", [False, True])
def test_bank_equals_the_per_object_stack_on_real_series(
        sample: list[tuple[int, list[float]]], lstm: bool, no_path_cap: None) -> None:
    compared, _ = _run(sample, ForecasterBank(lstm=lstm), restore_at=None, lstm=lstm)
    assert compared > 5000


def test_rows_restored_from_bytes_continue_exactly(
        sample: list[tuple[int, list[float]]], no_path_cap: None) -> None:
    start = min(first for first, _ in sample)
    compared, bank = _run(sample, ForecasterBank(lstm=True), restore_at=start + 90, lstm=True)
    assert compared > 5000
    raw = bank.export_row(0)
    assert isinstance(raw, bytes) and len(raw) < 17_000


def test_exported_rows_are_bytes_of_a_fixed_size_and_checked() -> None:
    bank = ForecasterBank()
    rows = bank.add_rows(2)
    bank.learn(rows, np.array([1.0, 2.0]))
    raw = bank.export_row(1)
    assert len(raw) == len(bank.export_row(0))
    with pytest.raises(ValueError, match="raw must be a row of this bank"):
        bank.load_row(0, raw[:-1])


def test_a_row_saved_before_the_count_aware_detector_loads_with_a_fresh_detector() -> None:
    bank = ForecasterBank()
    rows = bank.add_rows(2)
    for y in [3.0, 5.0, 4.0, 6.0] * 10:
        bank.learn(rows, np.array([y, y]))
    raw = bank.export_row(0)
    det, mean = bank.detector.nbytes(), bank.means.nbytes()
    start = len(raw) - det - mean  # the detector's bytes, then the mean's, come last
    legacy = raw[:start] + b"\x00" * bank.detector.LEGACY_BYTES  # (it had no mean either)
    bank.load_row(1, legacy)
    np.testing.assert_array_equal(bank.forecast([1], 14).yhat, bank.forecast([0], 14).yhat)
    assert bank.detector.n_err[1] == 0 and bank.detector.n_err[0] > 0


def test_rows_exported_together_are_each_rows_own_state() -> None:
    rng = np.random.default_rng(3)
    bank = ForecasterBank(lstm=True)
    rows = bank.add_rows(24)
    bank.set_day(rows, np.arange(24) + 14_600)
    for day in range(40):
        bank.learn(rows, rng.poisson(rng.uniform(0.5, 20, 24)).astype(float))
        if day % 9 == 0:
            bank.set_lstm_paths(rows, rng.uniform(0, 10, (24, 14)), f"v{day}")
    order = rng.permutation(24)[:18].tolist()  # enough rows to be copied array by array
    raws = bank.export_rows(order)
    assert raws == [bank.export_row(r) for r in order]  # each copied row by row
    fresh = ForecasterBank(lstm=True)
    back = fresh.add_rows(len(order))
    for row, raw in zip(back, raws, strict=True):
        fresh.load_row(int(row), raw)
    want, got = bank.forecast(np.array(order), 14), fresh.forecast(back, 14)
    for name in ("yhat", "lo", "hi", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert bank.export_rows([]) == []


def test_bad_values_raise_and_learn_nothing() -> None:
    bank = ForecasterBank()
    rows = bank.add_rows(2)
    with pytest.raises(ValueError, match="finite"):
        bank.learn(rows, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="unique"):
        bank.learn(np.array([0, 0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="rows must be in"):
        bank.learn(np.array([2]), np.array([1.0]))
    assert bank.describe(0)["n_seen"] == 0


def test_horizon_beyond_the_calibrated_one_is_refused() -> None:
    bank = ForecasterBank(horizon=7)
    rows = bank.add_rows(1)
    with pytest.raises(ValueError, match="horizon must be <= 7"):
        bank.forecast(rows, 8)


def test_the_bank_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, models.bank; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_rows_added_later_grow_the_arrays_without_touching_earlier_rows() -> None:
    rng = np.random.default_rng(4)
    data = rng.poisson(3.0, size=(200, 40)).astype(np.float64)
    grown, whole = ForecasterBank(), ForecasterBank()
    first = grown.add_rows(30)
    rows = whole.add_rows(200)
    for t in range(20):
        grown.learn(first, data[:30, t])
        whole.learn(rows[:30], data[:30, t])
    later = grown.add_rows(170)  # past the initial capacity: every array is reallocated
    assert later.tolist() == list(range(30, 200)) and grown.n_rows == 200
    for t in range(20, 40):
        grown.learn(rows, data[:, t])
        whole.learn(rows, data[:, t])
    grown.learn(np.array([], dtype=np.int64), np.array([]))  # an empty batch is fine
    a, b = grown.forecast(rows, 14), whole.forecast(rows, 14)
    for name in ("yhat", "lo", "hi", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("lstm", [False, True])
def test_a_bank_with_room_reserved_adds_rows_without_copying_and_learns_the_same(
        lstm: bool) -> None:
    from models.bank_ops import reserve_bank

    rng = np.random.default_rng(5)
    data = rng.poisson(2.0, size=(300, 30)).astype(np.float64)
    roomy, plain = ForecasterBank(lstm=lstm), ForecasterBank(lstm=lstm)
    first = roomy.add_rows(10)
    reserve_bank(roomy, 300)  # after some rows: they are kept
    plain.add_rows(10)
    arrays = [id(a) for a in (roomy.due, roomy.bands.res, roomy.members.naive,
                              roomy.detector.var, roomy.means.res)]
    for t in range(15):
        roomy.learn(first, data[:10, t])
        plain.learn(first, data[:10, t])
    rows = np.concatenate([first, roomy.add_rows(120), roomy.add_rows(170)])
    plain.add_rows(290)
    assert arrays == [id(a) for a in (roomy.due, roomy.bands.res, roomy.members.naive,
                                      roomy.detector.var, roomy.means.res)]  # none copied
    assert roomy.capacity == 300 and roomy.n_rows == 300
    for t in range(15, 30):
        roomy.learn(rows, data[:, t])
        plain.learn(rows, data[:, t])
    a, b = roomy.forecast(rows, 14), plain.forecast(rows, 14)
    for name in ("yhat", "lo", "hi", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert roomy.export_rows(rows) == plain.export_rows(rows)


def test_unknown_rows_and_bad_parameters_are_refused() -> None:
    bank = ForecasterBank()
    bank.add_rows(2)
    for call in (lambda: bank.forecast([2], 1), lambda: bank.set_day([-1], [15_000]),
                 lambda: bank.describe(5)):
        with pytest.raises(ValueError, match=r"rows must be in \[0, 2\)"):
            call()
    with pytest.raises(ValueError, match="window must be an integer"):
        ForecasterBank(window=1)
    with pytest.raises(ValueError, match="season must be an integer >= 2"):
        ForecasterBank(season=1)


@pytest.mark.parametrize("lstm", [False, True])
def test_describe_rows_equals_describe_row_by_row(lstm: bool) -> None:
    from models.bank_ops import describe_rows

    bank = ForecasterBank(horizon=7, lstm=lstm)
    rows = bank.add_rows(6)
    bank.set_day(rows[:3], [14600, 14601, 14602])
    rng = np.random.default_rng(3)
    for step in range(40):
        live = rows[: 2 + step % 5]
        bank.learn(live, rng.poisson(4.0, len(live)).astype(float))
        if lstm and step == 20:
            bank.set_lstm_paths(rows[:2], rng.random((2, 5)), "v9")
    order = [4, 0, 5, 2, 1, 3]
    assert describe_rows(bank, order) == [bank.describe(r) for r in order]
    # what the worker publishes: the same but the per-horizon lists
    full = [bank.describe(r) for r in order]
    assert describe_rows(bank, order, per_horizon=False) == [
        {k: v for k, v in d.items() if k not in ("weights_by_horizon", "winners")} for d in full]


def test_a_series_of_net_returns_gets_bands_that_hold_its_forecast() -> None:
    """A series of -3 every day was forecast -3 with the band [0, -3]: the floor at 0 sat
    above the band's top."""
    bank = ForecasterBank(horizon=7)
    rows = bank.add_rows(2)
    rng = np.random.default_rng(3)
    for _ in range(60):
        bank.learn(rows, np.array([-3.0 + rng.normal(0, 0.5), 5.0 + rng.poisson(2)]))
    f = bank.forecast(rows, 7)
    assert (f.yhat[0] < 0).all() and (f.lo[0] < f.yhat[0]).all()
    for lo, hi in ((f.lo, f.hi), (f.lo95, f.hi95)):
        assert (lo <= f.yhat).all() and (f.yhat <= hi).all()
    assert (f.lo[1] >= 0).all()  # a series that sells still has no band below zero


def test_a_holiday_of_net_returns_does_not_turn_later_holidays_negative() -> None:
    """A return of 1,000 units on Boxing Day made the holiday factor -95 for a year."""
    bank = ForecasterBank(horizon=14)
    rows = bank.add_rows(1)
    christmas_2009 = 14_603  # epoch day of 2009-12-25
    bank.set_day(rows, np.array([christmas_2009 - 100]))
    for t in range(100):
        bank.learn(rows, np.array([10.0 + t % 3]))
    bank.learn(rows, np.array([-1000.0]))  # Christmas Day
    assert (bank.factor[rows] >= 0).all()
    assert (bank.forecast(rows, 14).yhat >= 0).all()


def test_a_row_whose_first_value_falls_on_a_holiday_learns_that_value() -> None:
    """A probe: the first value of a row dated on a bank holiday was replaced by the row's
    forecast, of which there was none: the members learnt 0, and the lead-time total's
    quantiles were off for a year (p10 17.9 of a total of 347 for Poisson(20) sales)."""
    from models.factory import default_model

    day0 = 19359  # 2023-01-02, a bank holiday in England; the next is 2023-04-07
    bank = ForecasterBank(14)
    rows = bank.add_rows(2)
    bank.set_day(rows, np.array([day0, day0 + 1]))
    obj = default_model(14, holidays=True)
    obj.forecaster.set_day(day0)  # type: ignore[attr-defined]
    for y in np.random.default_rng(0).poisson(20, 60).astype(float):
        bank.learn(rows, np.array([y, y]))
        obj.learn_one(y)
    f = bank.forecast(rows, 14)
    assert f.lead is not None and np.array_equal(f.lead[0], f.lead[1])
    assert np.array_equal(f.yhat[0], f.yhat[1]) and np.array_equal(f.lo95[0], f.lo95[1])
    assert f.lead[0][1] > 200  # the p10 of 14 days of about 20
    assert np.allclose(obj.forecast(14).yhat, f.yhat[0], atol=1e-9)  # per-object: the same


def test_a_first_lstm_path_gets_a_tenth_of_the_blend_and_earns_more() -> None:
    """A probe's promoted LSTM forecast about 0 for busy series, and at once half of every
    forecast was its path: an unscored path now starts with LSTM_PRIOR (3) times the online
    errors, a tenth of the blend at squared inverse errors, in the bank and per object."""
    rng = random.Random(4)
    values = [float(rng.randint(5, 15)) for _ in range(40)]
    bank = ForecasterBank(horizon=7, lstm=True)
    rows = bank.add_rows(1)
    obj = default_model(horizon=7, lstm=True)
    for y in values:
        bank.close(rows, np.array([y]))
        obj.learn_one(y)
    bank.set_lstm_paths(rows, np.zeros((1, 7)), "v1")
    obj.forecaster.set_lstm_path([0.0] * 7, "v1")  # type: ignore[attr-defined]
    blend = bank.describe(0)["blend"]
    assert blend["lstm"] == pytest.approx(0.1, abs=0.01), blend
    assert obj.forecast().model["blend"]["lstm"] == pytest.approx(blend["lstm"], rel=1e-9)
    assert bank.forecast(rows, 7).yhat[0, 0] > 0.8 * np.median(values[-14:])
    for _ in range(20):  # paths that come true (a new level, which the online members lag)
        bank.set_lstm_paths(rows, np.full((1, 7), 30.0), "v1")
        bank.close(rows, np.array([30.0]))
    assert bank.describe(0)["blend"]["lstm"] > 0.5
