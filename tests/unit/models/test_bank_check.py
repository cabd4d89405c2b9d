"""models/bank_check.py: rows saved with other settings are refused, not loaded as nonsense."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.bank_check import check_rows, fits, row_nbytes
from models.bank_load import load_rows

# the banks a worker makes for these bucket widths (stream.resident), by (season, season2, trend)
KINDS = {"daily": (7, 0, False), "hourly": (24, 168, False), "monthly": (12, 0, True),
         "quarterly": (4, 0, True), "weekly": (52, 0, True)}


def _bank(kind: str, horizon: int, lstm: bool) -> ForecasterBank:
    season, season2, trend = KINDS[kind]
    return ForecasterBank(horizon, season, lstm=lstm, season2=season2, trend=trend)


def _same_length_pairs() -> list[tuple[tuple[str, int, bool], tuple[str, int, bool]]]:
    """Pairs of different settings whose rows have the same length (found, not listed: a
    layout change moves them)."""
    by_size: dict[int, list[tuple[str, int, bool]]] = {}
    for kind, h, lstm in itertools.product(KINDS, range(1, 41), (False, True)):
        by_size.setdefault(row_nbytes(_bank(kind, h, lstm)), []).append((kind, h, lstm))
    return [(a, b) for group in by_size.values() for a, b in itertools.permutations(group, 2)]


def _learnt(kind: str, h: int, lstm: bool) -> bytes:
    bank = _bank(kind, h, lstm)
    rows = bank.add_rows(1)
    for y in np.random.default_rng(0).poisson(20, 120):
        bank.learn(rows, np.array([float(y)]))
    return bank.export_row(0)


def test_a_row_of_other_settings_and_the_same_length_is_refused() -> None:
    pairs = _same_length_pairs()
    assert len(pairs) >= 10  # the situation exists for the worker's own settings
    for saved, target in pairs[:: max(len(pairs) // 12, 1)]:
        raw = _learnt(*saved)
        bank = _bank(*target)
        rows = bank.add_rows(2)
        assert not fits(bank, [raw])[0], (saved, target)
        with pytest.raises(ValueError, match="not rows of this bank's settings"):
            bank.load_row(int(rows[0]), raw)
        with pytest.raises(ValueError, match="not rows of this bank's settings"):
            load_rows(bank, [int(rows[1])], [raw])


def _legacy_length_pairs() -> list[tuple[tuple[str, int, bool], tuple[str, int, bool]]]:
    """Pairs whose saved row has the length of an *older* layout of the target's settings
    (no mean part, or the 48-byte detector): load_row reads those as legacy rows."""
    from models.bank_anomaly import DetectorBank

    full: dict[int, list[tuple[str, int, bool]]] = {}
    legacy: dict[int, list[tuple[str, int, bool]]] = {}
    for s in itertools.product(KINDS, range(1, 41), (False, True)):
        bank = _bank(*s)
        size, det, mean = row_nbytes(bank), bank.detector.nbytes(), bank.means.nbytes()
        full.setdefault(size, []).append(s)
        for d, m in ((det, 0), (DetectorBank.LEGACY_BYTES, mean), (DetectorBank.LEGACY_BYTES, 0)):
            legacy.setdefault(size - det - mean + d + m, []).append(s)
    return [(a, b) for size, group in full.items() for a in group
            for b in legacy.get(size, []) if a != b]


def test_a_row_of_other_settings_with_an_older_layouts_length_is_refused() -> None:
    """A monthly row (h = 12) read by a daily bank (h = 14) had the length of a daily row
    of an older layout (before the triangles of models.pending): it loaded unchecked, and the
    next close crashed the process."""
    pairs = _legacy_length_pairs()
    assert len(pairs) >= 10  # the situation exists for the worker's own settings
    for saved, target in pairs[:: max(len(pairs) // 12, 1)] + [pairs[0]]:
        bank = _bank(*target)
        rows = bank.add_rows(1)
        with pytest.raises(ValueError, match="not rows of this bank's settings"):
            bank.load_row(int(rows[0]), _learnt(*saved))


def test_rows_of_the_banks_own_settings_fit_at_every_age() -> None:
    for kind, lstm in itertools.product(KINDS, (False, True)):
        bank = _bank(kind, 14, lstm)
        rows = bank.add_rows(3)
        raws = [bank.export_row(0)]  # a fresh row
        for t, y in enumerate(np.random.default_rng(1).poisson(5, 400)):
            bank.learn(rows, np.array([float(y), 0.0, 1e6 * (t % 9 == 0)]))
            if t in (0, 1, 13, 14, 15, 60, 399):
                raws += bank.export_rows(rows)
        assert fits(bank, raws).all(), kind
        check_rows(bank, raws)


@pytest.mark.parametrize(("field", "value"), [
    ("n", -1), ("day", -2), ("holidays_seen", 5), ("bands.ptr", 100), ("bands.count", 101),
    ("bands.count", 4), ("bands.alphas", 1.5), ("means.ptr", 122), ("means.count", -1),
    ("members.med0_ptr", 14), ("blend.plen", 15)])
def test_each_counter_and_pointer_out_of_range_is_refused(field: str, value: float) -> None:
    bank = ForecasterBank(horizon=14, lstm=True)
    rows = bank.add_rows(1)
    for y in [3.0, 0.0, 2.0]:
        bank.learn(rows, np.array([y]))
    assert fits(bank, [bank.export_row(0)])[0]
    part, _, name = field.rpartition(".")
    owner = getattr(bank, part) if part else bank
    array = getattr(owner, name)
    array[0] = value  # n is 3: a count of 4 residuals, or 5 holidays, cannot be
    assert not fits(bank, [bank.export_row(0)])[0]
