"""Lag that is only transaction markers: which consumer groups' partitions lag by offsets
that hold no record.

A transactional producer ends each transaction with a commit or abort marker: an offset that no
consumer reads. Faust commits the offset after the last record it processed, so a partition
whose last offset is a marker (or an aborted record) showed a lag of 1 or more in the ops
snapshot until its next record came, for ever on a quiet topic. The monitor
(:mod:`stream.monitor`) asks :class:`BareTails` which of the lagging ranges are bare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["BareTails"]

TopicPartition = tuple[str, int]


class BareTails:
    """Which groups' partitions lag only by offsets without a record (transaction markers,
    aborted records). ``reach(topic, partition, start)`` asks the broker where a
    ``read_committed`` consumer from ``start`` stops (:func:`infra.kafka_client.committed_reach`);
    it is asked once per range, when the range held still between two polls (a worker that
    is reading moves it), and a range ends bare when that consumer stops at its end or beyond
    (stopping before it: a transaction still open holds records there, which is lag).

    >>> from infra.kafka_client import Reach
    >>> asked = []
    >>> tails = BareTails(lambda t, p, o: asked.append(o) or Reach(10, False))
    >>> tails.update({"g": {("s", 0): 9}}, {("s", 0): 10})  # first seen: not asked yet
    set()
    >>> tails.update({"g": {("s", 0): 9}}, {("s", 0): 10}), asked
    ({('g', 's', 0)}, [9])
    >>> tails.update({"g": {("s", 0): 9}}, {("s", 0): 10}), asked  # known: not asked again
    ({('g', 's', 0)}, [9])
    >>> tails.update({"g": {("s", 0): 9}}, {("s", 0): 12}), asked  # new records came
    (set(), [9])
    """

    def __init__(self, reach: Callable[[str, int, int], Any]) -> None:
        self.reach = reach
        # (group, topic, partition) -> (committed, end, bare: None until asked)
        self._seen: dict[tuple[str, str, int], tuple[int, int, bool | None]] = {}

    def update(self, committed: Mapping[str, Mapping[TopicPartition, int | None]],
               ends: Mapping[TopicPartition, int]) -> set[tuple[str, str, int]]:
        seen: dict[tuple[str, str, int], tuple[int, int, bool | None]] = {}
        for group, offsets in committed.items():
            for (topic, partition), off in offsets.items():
                end = ends.get((topic, partition), 0)
                if off is None or off >= end:
                    continue
                key = (group, topic, partition)
                old = self._seen.get(key)
                if old is None or old[:2] != (off, end):
                    seen[key] = (off, end, None)
                    continue
                bare = old[2]
                if bare is None:
                    reach = self.reach(topic, partition, off)
                    bare = reach is not None and reach.offset >= end
                seen[key] = (off, end, bare)
        self._seen = seen
        return {key for key, (_, _, bare) in seen.items() if bare}
