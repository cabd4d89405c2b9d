"""The ensemble's compiled row loops (models/kernels.py) against plain numpy statements of
what they compute: equal to the bit, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from models import kernels, pending


def _weighted_median_reference(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Members sorted by value (ties by member order), the first whose cumulative weight
    reaches 1/2."""
    out = np.empty((v.shape[0], v.shape[2]))
    for r in range(v.shape[0]):
        for k in range(v.shape[2]):
            order = sorted(range(v.shape[1]), key=lambda i: (v[r, i, k], i))
            cum = np.cumsum(w[r, order, k])
            out[r, k] = v[r, order[int((cum < 0.5 - 1e-12).sum())], k]
    return out


@pytest.mark.parametrize("members", [6, 8, 3])
def test_the_weighted_median_takes_ties_in_member_order_and_equals_the_reference(
        members: int) -> None:
    rng = np.random.default_rng(1)
    v = rng.integers(0, 4, (200, members, 14)).astype(np.float64)  # many ties
    v[::2] += rng.random((100, members, 14))  # and rows without
    w = rng.random((200, members, 14))
    w[:, 2] = 0.0  # a dropped member
    w /= w.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(kernels.weighted_median(w, v),
                                  _weighted_median_reference(w, v))
    # two members of weight 1/2 at different values: the lower value reaches 1/2 first
    assert kernels.weighted_median(np.full((1, 2, 1), 0.5),
                                   np.array([[[5.0], [1.0]]])).tolist() == [[1.0]]


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5])
def test_normalised_weights_equal_the_numpy_statement(power: float) -> None:
    rng = np.random.default_rng(3)
    e = rng.gamma(1.0, 3.0, (40, 6, 7))
    share = np.array([1.0, 1.0, 0.65, 0.65, 0.65, 0.65])
    x = e + 1e-6
    inv = (1.0 / x if power == 1.0 else 1.0 / (x * x) if power == 2.0 else x ** -power)
    inv = inv * share[None, :, None] * (e <= 2.5 * e.min(axis=1, keepdims=True))
    total = inv[:, 0].copy()
    for i in range(1, 6):
        total += inv[:, i]
    np.testing.assert_array_equal(kernels.normalised_weights(e, 1e-6, power, share, 2.5),
                                  inv / total[:, None, :])
    w = kernels.normalised_weights(e, 1e-6, power, None, None)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert (w > 0).all()


def test_scored_errors_equal_the_numpy_statements() -> None:
    rng = np.random.default_rng(4)
    e = rng.random((10, 3, 4))
    due = rng.random((40, pending.cells(4), 3)).astype(np.float32)
    rows, t = rng.permutation(40)[:10], rng.integers(0, 1000, 10)
    x = rng.random(10) * 3
    err = np.abs(x.astype(np.float32)[:, None, None] - pending.read(due, rows, t))
    expected = e * 0.9 + (np.float32(0.1) * err)
    np.testing.assert_array_equal(kernels.scored_errors(e, due, rows, t, x, 0.9), expected)
    out = e.copy()
    kernels.scored_errors(out, due, rows, t, x, 0.9, out=out)  # in place
    np.testing.assert_array_equal(out, expected)


def test_the_path_cap_is_the_factor_times_the_largest_known_value_or_none() -> None:
    values = np.array([[1.0, np.inf, 4.0, -2.0], [np.inf, np.inf, np.inf, np.inf],
                       [-1.0, 0.0, np.nan, -np.inf], [2.5, np.nan, np.inf, 0.5]])
    rows = np.array([3, 0, 1, 2], dtype=np.int64)
    out = np.empty(len(rows))
    kernels.path_cap(values, rows, 3.0, out)
    assert out.tolist() == [7.5, 12.0, np.inf, np.inf]  # empty or nothing above 0: no cap
