"""Offset continuity: never apply a message of a partition while an earlier one is missing.

Faust can drop a fetched message before it reaches the agent without acking it (its stream
skips messages while it believes a rebalance is under way; measured here on a restart right
after recovery: 3 of 960 messages of one partition, or all of them). Offsets are committed only
up to the first hole (see ``stream.app``), but the per-series positions of
:class:`~stream.processor.Processor` would still count a message applied after a hole as proof
that everything before it was applied, so a hole must stop the partition at once:

* :meth:`OffsetContinuity.admit` returns how many of a batch's messages (in offset order) follow
  on from the last applied offset; the agent applies only those and seeks the partition back to
  the first missing offset, once per hole (messages fetched before the seek are dropped without
  another seek), so the rest comes again;
* a hole that Faust itself saw in the log while fetching (offsets that do not exist:
  transaction markers, compaction; ``known_gap``) is accepted.

>>> c = OffsetContinuity()
>>> c.admit(0, [5, 6, 7], committed=5)  # follows on from the committed offset
Admission(take=3, seek_to=None)
>>> c.admit(0, [8, 10, 11], committed=None)  # offset 9 was fetched but never arrived
Admission(take=1, seek_to=9)
>>> c.admit(0, [9, 10, 11], committed=None)  # after the seek
Admission(take=3, seek_to=None)
>>> c.admit(0, [14], committed=None, known_gap=lambda start, end: (start, end) == (12, 14))
Admission(take=1, seek_to=None)
>>> c.expected(0)
15
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = ["Admission", "OffsetContinuity"]


class Admission(NamedTuple):
    """How many leading messages may be applied (the rest come again after a seek back), and
    where to seek: ``None`` when nothing is missing or a seek to that hole is under way."""

    take: int
    seek_to: int | None


class OffsetContinuity:
    """Per partition: the next offset the agent must apply."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._sought: dict[int, int] = {}  # partition -> the hole a seek back is pending for

    def expected(self, partition: int) -> int | None:
        """The next offset to apply, or ``None`` before the first batch of the assignment."""
        return self._next.get(partition)

    def admit(self, partition: int, offsets: Sequence[int], committed: int | None,
              known_gap: Callable[[int, int], bool] = lambda start, end: False) -> Admission:
        """Check a batch's offsets (ascending) against the last applied one.

        ``committed`` (the group's committed offset, the next one to read, never below the log's
        start) is where the partition continues at the latest; ``None`` while it is not known
        (nothing committed yet, or Faust has not read it back after an assignment).
        ``known_gap(start, end)`` says whether offsets ``start..end-1`` are absent from the log.
        Offsets below the expected one are replays (the processor skips what it applied).
        """
        expected = self._next.get(partition)
        if committed is not None and (expected is None or committed > expected):
            expected = committed  # applied before (this or an earlier assignment)
        take = 0
        for offset in offsets:
            if expected is not None and offset > expected and not known_gap(expected, offset):
                break
            take += 1
            expected = offset + 1 if expected is None else max(expected, offset + 1)
        if expected is not None:
            self._next[partition] = expected
        if expected is None or take == len(offsets):
            return Admission(take, None)
        if self._sought.get(partition) == expected:  # messages fetched before the seek
            return Admission(take, None)
        self._sought[partition] = expected  # expected < the offsets left: a new hole
        return Admission(take, expected)

    def forget(self) -> None:
        """Partitions were revoked: the next assignment starts from the committed offsets."""
        self._next.clear()
        self._sought.clear()
