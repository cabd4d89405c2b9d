"""Order statistics of sliding windows equal a full sort's, through ties, empty slots, rank
jumps and resets."""

from __future__ import annotations

import numpy as np
import pytest

from models.orderstat import invalidate, new_trackers, push, rows_index, select


@pytest.mark.parametrize(("window", "dtype", "ties"), [(7, np.float64, True), (100, np.float32,
                                                        False), (28, np.float64, False)])
def test_select_equals_a_full_sort(window: int, dtype: type, ties: bool) -> None:
    rng = np.random.default_rng(window)
    n, m = 50, 2
    values = np.full((n, window), np.inf, dtype=dtype)
    ptr = np.zeros(n, dtype=np.int64)
    q, lt, le = new_trackers(n, window, m)
    count = np.zeros(n, dtype=np.int64)
    for step in range(3 * window):
        idx = np.sort(rng.choice(n, size=rng.integers(1, n + 1), replace=False))
        v = rng.integers(0, 4, size=len(idx)) if ties else rng.exponential(size=len(idx))
        push(values, ptr, q, lt, le, idx, v.astype(np.float64))
        count[idx] = np.minimum(count[idx] + 1, window)
        if step == window:  # a restore: trackers reset, windows kept
            invalidate(q, lt, le, np.arange(0, n, 3))
        sel = np.sort(rng.choice(n, size=rng.integers(1, n + 1), replace=False))
        top = np.maximum(count[sel], 1)
        rank = np.stack([rng.integers(0, top), (top - 1) * 4 // 5], axis=1)
        got = select(values, q, lt, le, sel, rank)
        want = np.take_along_axis(np.sort(values[sel], axis=1), rank, axis=1)
        np.testing.assert_array_equal(got, want)


def test_rows_index_is_a_slice_only_for_a_run_of_consecutive_ids() -> None:
    assert rows_index(np.array([3, 4, 5])) == slice(3, 6)
    for idx in ([0, 2, 1, 3], [5, 4, 3], [1, 3]):
        assert isinstance(rows_index(np.array(idx)), np.ndarray)
