"""The worker's garbage collector policy: survivors of a full collection are frozen out of the
collector's walks; reference counting still frees them, but not their cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from stream import heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def tuned() -> Iterator[None]:
    before = gc.get_threshold()
    heap.tune()
    try:
        yield
    finally:
        heap.restore(before)


@pytest.mark.usefixtures("tuned")
def test_what_survives_a_full_collection_is_frozen() -> None:
    assert gc.get_threshold() == heap.THRESHOLDS
    kept = [Node() for _ in range(1000)]
    frozen = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= frozen + len(kept)
    # a young collection walks none of them: what it finds is only what is young
    assert all(gc.is_tracked(n) for n in kept)


@pytest.mark.usefixtures("tuned")
def test_a_cycle_of_frozen_objects_is_not_collected_what_the_policy_gives_up() -> None:
    a = Node()
    a.other = Node()
    a.other.other = a
    live = weakref.ref(a)
    gc.collect()  # the cycle survives (``a`` refers to it): frozen
    del a
    gc.collect()
    assert live() is not None  # garbage now, but frozen: no collection walks it
    gc.unfreeze()
    gc.collect()
    assert live() is None


@pytest.mark.usefixtures("tuned")
def test_frozen_objects_without_cycles_are_freed_by_reference_counting() -> None:
    kept = [Node() for _ in range(100)]
    gone = weakref.ref(kept[0])
    gc.collect()  # frozen
    frozen = gc.get_freeze_count()
    del kept
    assert gone() is None and gc.get_freeze_count() <= frozen - 100


def test_restore_undoes_tune() -> None:
    before = gc.get_threshold()
    heap.tune()
    heap.restore(before)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    n = gc.get_count()[0]
    gc.collect()
    assert gc.get_freeze_count() == 0 and gc.get_count()[0] <= n
