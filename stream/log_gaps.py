"""Offsets that hold no record, filed where Faust keeps the gaps of a partition's log.

A transactional producer writes a commit or abort marker after each transaction: an offset
that no consumer reads. Faust files such holes as it fetches (``Consumer._add_gap``), and
:mod:`stream.continuity` takes a hole the agent meets only when Faust filed it (else it seeks
back to the hole, as for a record dropped in fetching). Faust missed two kinds (a probe: a
worker sought back to a marker every 5 s, forever, from the second transaction on):

* it clamps a gap at the offset after its committed one, taking that for the last offset
  read; the committed offset is the next to read, so once a commit reached a marker, the gap
  after it lost the marker (:func:`add_gap` clamps at the committed offset itself);
* after a seek (the agent's, or an assignment's to the committed offset) its read offset is
  the seek's, so a first record past the seek's offset looks like the next one and no gap is
  filed (:func:`after_seek` files the offsets between).

>>> from collections import defaultdict
>>> from intervaltree import IntervalTree
>>> gaps, committed = defaultdict(IntervalTree), {"p": 139}
>>> add_gap(gaps, committed, "p", 138, 140)  # Faust's call: 140 is the record handed out
>>> [gaps["p"].overlaps_point(o) for o in (138, 139, 140)]
[False, True, False]
>>> after_seek(gaps, "q", 7, 9); sorted(gaps["q"])
[Interval(7, 9)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["add_gap", "after_seek"]


def add_gap(gaps: Mapping[Any, Any], committed: Mapping[Any, int | None], tp: Any,
            offset_from: int, offset_to: int) -> None:
    """Faust's ``_add_gap`` of offsets ``offset_from..offset_to - 1`` into ``tp``'s interval
    tree of ``gaps``, clamped at ``committed[tp]``, the next offset to read. (Faust's own
    files ``offset_to`` too, the record it is handing out: were that record dropped before the
    agent, the gap would pass it as absent, and a commit would go over it unread.)"""
    start = committed.get(tp)
    offset_from = offset_from if start is None else max(offset_from, start)
    if offset_from < offset_to:
        tree = gaps[tp]
        tree.addi(offset_from, offset_to)
        tree.merge_overlaps()


def after_seek(gaps: Mapping[Any, Any], tp: Any, sought: int, first: int) -> None:
    """The first record of ``tp`` handed out after a seek to ``sought`` is at ``first``:
    the offsets between hold no record that the consumer reads (markers, aborted records),
    since the fetch from ``sought`` returned none of them."""
    if first > sought:
        gaps[tp].addi(sought, first)
        gaps[tp].merge_overlaps()
