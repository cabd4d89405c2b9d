"""stream/committed.py: Faust's note of the committed offsets after a commit that failed."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from stream.committed import settle


def _consumer(noted: dict[str, int], confirmed: dict[str, int]) -> Any:
    note: defaultdict[str, int | None] = defaultdict(lambda: None)
    note.update(noted)
    return SimpleNamespace(_committed_offset=note, confirmed=dict(confirmed))


def test_a_commit_that_failed_after_a_revoke_leaves_no_note() -> None:
    """The probe's sequence: a commit under way while the broker was away; the rejoin revoked
    every partition (Faust dropped its notes, the worker its confirmed offsets); then the
    commit failed, and Faust noted its offsets all the same."""
    c = _consumer({}, {})
    offsets = {"p1": 122, "p5": 175}
    c._committed_offset.update(offsets)  # Faust's _commit_offsets, done=False
    assert settle(c, offsets, False, moved=True) is False
    assert dict(c._committed_offset) == {} and c.confirmed == {}


def test_a_commit_that_failed_puts_back_what_kafka_said_last() -> None:
    c = _consumer({"p1": 97}, {"p1": 97})
    c._committed_offset["p1"] = 122
    settle(c, {"p1": 122}, False, moved=True)
    assert c._committed_offset["p1"] == 97
    c._committed_offset["p1"] = 130  # the next one goes through
    settle(c, {"p1": 130}, True, moved=False)
    assert c._committed_offset["p1"] == c.confirmed["p1"] == 130


def test_a_partition_faust_did_not_commit_is_left_alone() -> None:
    c = _consumer({"p1": 97}, {"p1": 97, "p2": 5})
    settle(c, {"p2": 9}, False, moved=True)  # not assigned when Faust committed: nothing
    assert dict(c._committed_offset) == {"p1": 97} and c.confirmed == {"p1": 97, "p2": 5}


def test_a_commit_that_failed_with_the_assignment_unchanged_keeps_faust_s_note() -> None:
    """A review found it: Faust takes the offsets out of its acks before it commits; after a
    commit that failed for want of the changelog's acknowledgements (no rebalance), a note put
    back below them held every later commit of the partition (stream.commits.new_offset)."""
    from stream.commits import new_offset

    c = _consumer({"p1": 97}, {"p1": 97})
    c._committed_offset["p1"] = 122  # Faust's note; offsets 97..121 left its acks
    settle(c, {"p1": 122}, False, moved=False)
    assert c._committed_offset["p1"] == 122
    from intervaltree import IntervalTree

    c._acked, c._acked_index = {"p1": [122, 123]}, {"p1": {122, 123}}
    c._gap = defaultdict(IntervalTree)
    c.app = SimpleNamespace(ownership=SimpleNamespace(tps={"p1"}, start=lambda tp: 97))
    assert new_offset(c, "p1") == 124  # the next commit goes on from the note
