"""A partition's rows: each belongs to exactly one state object, which keeps no copy of it
(pickling the state, or the row leaving it, gives the state the row's bytes), and they live in
bank segments that a growth never copies whole."""

from __future__ import annotations

import gc
import pickle
import weakref
from pathlib import Path

import numpy as np

from stream.bucketing import SeriesBuckets
from stream.processor import Processor
from stream.resident import SEGMENT, Resident
from stream.series_state import SeriesState

DAY = 86400


def _learnt(res: Resident, series: str, values: list[float]) -> SeriesState:
    st = SeriesState(series, SeriesBuckets(DAY))
    res.reserve([st])
    bank, row = res.locate(res.row(st))
    for v in values:
        bank.close(np.array([row]), np.array([v]))
    return st


def _forecast(res: Resident, st: SeriesState) -> list[float]:
    st.forecast = None
    res.forecasts([st], 14)
    assert st.forecast is not None
    return list(st.forecast.yhat)


def test_a_held_state_keeps_no_copy_of_its_row_and_pickles_the_bank_s() -> None:
    res = Resident(horizon=14, lstm=False)
    st = _learnt(res, "A", [3.0, 0.0, 5.0, 2.0, 7.0, 1.0, 4.0, 6.0])
    assert st.row == b"" and st.modelled() and st.holder is res
    bank, row = res.locate(res.row(st))
    assert st.model_bytes() == bank.export_row(row)
    copy = pickle.loads(pickle.dumps(st))
    assert copy.holder is None and copy.row == st.model_bytes() and copy.modelled()
    # the copy, loaded into another bank, forecasts what the held row does
    other = Resident(horizon=14, lstm=False)
    assert _forecast(other, copy) == _forecast(res, st)
    # a state with no row yet has no model
    fresh = SeriesState("B", SeriesBuckets(DAY))
    assert not fresh.modelled() and fresh.model_bytes() == b""


def test_a_row_taken_by_another_object_leaves_its_bytes_with_the_old_owner() -> None:
    res = Resident(horizon=14, lstm=False)
    old = _learnt(res, "A", [3.0, 0.0, 5.0, 2.0, 7.0])
    before, expected = old.model_bytes(), _forecast(res, old)
    # another object of the series (read back from an older changelog record) takes the row
    older = pickle.loads(pickle.dumps(SeriesState("A", SeriesBuckets(DAY))))
    res.reserve([older])
    res.row(older)
    assert res.holds(older) and not res.holds(old)
    assert old.row == before and old.model_bytes() == before  # not the new owner's row
    assert _forecast(Resident(horizon=14, lstm=False), old) == expected


def test_forget_gives_the_states_still_to_flush_their_rows() -> None:
    proc = Processor("t", DAY)
    res = proc.resident(0)
    kept, dropped = _learnt(res, "A", [1.0, 2.0, 3.0]), _learnt(res, "B", [4.0, 5.0])
    raw, kept.origin = kept.model_bytes(), 10 * DAY
    proc.forget([kept])
    assert proc.banks == {} and kept.row == raw and kept.holder is None
    assert dropped.row == b"" and dropped.holder is None  # its bytes are in the table already
    assert proc.forecast_of(kept) is not None  # from its bytes, in a one-row bank
    # no cycle keeps the dropped resident (and its banks) alive: reference counting frees it
    gone = weakref.ref(res)
    gc.disable()
    try:
        del res
        assert gone() is None
    finally:
        gc.enable()


def test_rows_fill_one_bank_then_the_next_and_each_keeps_its_own() -> None:
    res = Resident(horizon=14, lstm=False)
    first = _learnt(res, "A", [1.0, 2.0, 3.0])
    res.add_rows(SEGMENT - 1)  # the first bank is full now
    second = _learnt(res, "B", [9.0, 8.0, 7.0, 6.0])
    assert len(res.banks) == 2 and res.row(second) == SEGMENT
    assert res.locate(res.row(second)) == (res.banks[1], 0)
    # each forecasts what a bank of its own would
    for st, values in ((first, [1.0, 2.0, 3.0]), (second, [9.0, 8.0, 7.0, 6.0])):
        alone = Resident(horizon=14, lstm=False)
        copy = _learnt(alone, st.series, values)
        assert _forecast(res, st) == _forecast(alone, copy)
        assert st.model_bytes() == copy.model_bytes()
    # one call for both: results in the order asked, whatever the bank
    both = [second, first]
    res.forecasts(both, 14)
    assert [list(st.forecast.yhat) for st in both if st.forecast] == [
        _forecast(res, second), _forecast(res, first)]
    res.release(both)
    assert first.row and second.row and not res.owner


def test_rows_loaded_together_are_the_states_and_equal_rows_loaded_one_at_a_time() -> None:
    source = Resident(horizon=14, lstm=False)
    states = [_learnt(source, f"S{i}", [float(i % 5), 2.0, float(i % 3)] * (1 + i % 4))
              for i in range(12)]
    copies = [pickle.loads(pickle.dumps(st)) for st in states]  # as read from the table
    together, alone = Resident(horizon=14, lstm=False), Resident(horizon=14, lstm=False)
    together.load(copies)
    assert all(together.holds(st) and st.row == b"" for st in copies)  # no second copy
    for st, copy in zip(states, copies, strict=True):
        other = pickle.loads(pickle.dumps(st))
        assert copy.model_bytes() == st.model_bytes()
        assert _forecast(together, copy) == _forecast(alone, other) == _forecast(source, st)


def test_rows_saved_with_square_rings_load_together_as_today_s_rows() -> None:
    """A worker upgraded past models.pending finds rows of the square layout in its table:
    they load in one call per bank, as their own layout's rows, to the same forecasts."""
    data = np.load(Path(__file__).parents[1] / "models" / "data" / "rows_full_rings.npz")
    raws = [bytes(r) for r in data["daily/raw"]]
    res, alone = Resident(horizon=14, lstm=False), Resident(horizon=14, lstm=False)
    assert all(len(raw) > res.row_size for raw in raws)
    states = [SeriesState(f"S{i}", SeriesBuckets(DAY), row=raw) for i, raw in enumerate(raws)]
    copies = [SeriesState(f"S{i}", SeriesBuckets(DAY), row=raw) for i, raw in enumerate(raws)]
    res.load(states)
    assert all(res.holds(st) and st.row == b"" for st in states)
    for st, copy in zip(states, copies, strict=True):
        st.origin = copy.origin = 0
        assert _forecast(res, st) == _forecast(alone, copy)  # alone: load_row, one at a time
    np.testing.assert_array_equal([_forecast(res, st) for st in states],
                                  data["daily/before/yhat"])


def test_a_row_another_resident_holds_comes_with_its_bytes() -> None:
    first, second = Resident(horizon=14, lstm=False), Resident(horizon=14, lstm=False)
    st = _learnt(first, "A", [4.0, 1.0, 6.0, 2.0])
    expected = _forecast(first, st)
    second.load([st])  # st.row is empty: the first resident hands its bytes over first
    assert not first.holds(st) and second.holds(st) and st.row == b""
    assert _forecast(second, st) == expected


def test_forecasts_of_many_states_equal_each_alone_wherever_their_rows_are() -> None:
    """A republish's chunk: states held by a partition, states in bytes only (after a
    restart) and states the scratch resident still holds from an earlier chunk get the
    forecasts they get one at a time, and every state that leaves a row gets its bytes."""
    proc = Processor("t", DAY)
    res = proc.resident(0)
    rng = np.random.default_rng(3)
    states = [_learnt(res, f"S{i}", rng.poisson(4.0, 12 + i).astype(float).tolist())
              for i in range(9)]
    for st in states:
        st.origin = 20 * DAY
    expected = {st.series: _forecast(Resident(14, False), pickle.loads(pickle.dumps(st)))
                for st in states}
    loose = [pickle.loads(pickle.dumps(st)) for st in states[3:]]  # bytes only, as restored
    for st in states + loose:
        st.forecast = None
    proc.forecasts_of(loose[:2])  # an earlier chunk: the scratch holds these two now
    assert all(st.holder is proc._scratch for st in loose[:2])
    for st in loose[:2]:
        st.forecast = None
    chunk = states[:3] + loose  # three held, two in the scratch, four in bytes only
    proc.forecasts_of(chunk)
    assert {st.series: list(st.forecast.yhat) for st in chunk if st.forecast} == expected
    assert len({id(st) for st in chunk if st.forecast is not None}) == len(chunk)
    assert all(res.holds(st) for st in states[:3])  # held rows stay where they are
    # the next chunk borrows the scratch's rows: each state that leaves it has its bytes back
    proc.forecasts_of([pickle.loads(pickle.dumps(states[0]))])
    assert not any(proc._scratch.holds(st) for st in loose)
    assert [st.row for st in loose] == [st.model_bytes() for st in states[3:]]


def test_rows_that_cannot_be_loaded_are_named_five_times_then_counted(caplog) -> None:
    """A probe's change of horizon printed one warning a series, 3,879 lines."""
    import types

    holder = types.SimpleNamespace(unloadable=0)
    with caplog.at_level("WARNING", logger="stream.resident"):
        for i in range(120):
            Resident._unloadable(holder, f"S{i}", ValueError("raw must be a row"))  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 7 and all(f"series S{i}:" in lines[i] for i in range(5))
    assert lines[5].startswith("10 series so far") and lines[6].startswith("100 series so far")
