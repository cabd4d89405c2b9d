"""Rows loaded many at a time equal rows loaded one at a time, every array of every part."""

from __future__ import annotations

import numpy as np
import pytest

from models.bank import ForecasterBank
from models.bank_load import load_rows, row_nbytes


def _arrays(bank: ForecasterBank) -> dict[str, np.ndarray]:
    out = {f"bank.{k}": v for k, v in vars(bank).items() if isinstance(v, np.ndarray)}
    for name in ("members", "bands", "detector", "blend", "means"):
        part = getattr(bank, name)
        if part is not None:
            out.update({f"{name}.{k}": v for k, v in vars(part).items()
                        if isinstance(v, np.ndarray)})
    return out


def _source(lstm: bool) -> tuple[ForecasterBank, np.ndarray]:
    rng = np.random.default_rng(11)
    bank = ForecasterBank(lstm=lstm)
    rows = bank.add_rows(60)
    lengths = rng.integers(0, 45, size=60)  # rows that learnt nothing, a few values, many
    for t in range(int(lengths.max())):
        active = rows[lengths > t]
        bank.learn(active, rng.poisson(3.0, size=len(active)).astype(np.float64))
        if lstm and t % 9 == 8:
            some = active[: len(active) // 2]
            bank.set_lstm_paths(some, rng.gamma(2.0, 2.0, size=(len(some), 14)), f"v{t}")
    return bank, rows


@pytest.mark.parametrize("lstm", [False, True])
def test_loading_many_rows_at_once_equals_loading_them_one_by_one(lstm: bool) -> None:
    source, rows = _source(lstm)
    raws = source.export_rows(rows)
    assert {len(raw) for raw in raws} == {row_nbytes(source)}
    one, many = ForecasterBank(lstm=lstm), ForecasterBank(lstm=lstm)
    one.add_rows(70)
    many.add_rows(70)
    order = np.random.default_rng(2).permutation(60)
    targets = (order + 5).tolist()  # other row ids than the source's, in another order
    for target, i in zip(targets, order.tolist(), strict=True):
        one.load_row(target, raws[i])
    load_rows(many, targets, [raws[i] for i in order.tolist()])
    a, b = _arrays(one), _arrays(many)
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    # and they go on alike
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.poisson(3.0, size=60).astype(np.float64)
        one.learn(np.array(targets), y)
        many.learn(np.array(targets), y)
    fa, fb = one.forecast(np.array(targets), 14), many.forecast(np.array(targets), 14)
    for name in ("yhat", "lo", "hi", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name))


def test_rows_of_another_layout_or_repeated_rows_are_refused() -> None:
    bank = ForecasterBank()
    bank.add_rows(3)
    raw = bank.export_rows([0])[0]
    with pytest.raises(ValueError, match="own layout"):
        load_rows(bank, [0], [raw[:-8]])
    with pytest.raises(ValueError, match="distinct"):
        load_rows(bank, [1, 1], [raw, raw])
    with pytest.raises(ValueError, match="2 rows but 1"):
        load_rows(bank, [0, 1], [raw])
