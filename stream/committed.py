"""What the group has committed, as Kafka said: Faust's note of it, put right after a commit
that failed.

Faust's ``Consumer._commit_offsets`` notes the offsets it tried as committed whether or not the
commit went through (``_committed_offset``, faust-streaming 0.11), and the worker reads that note
as where a partition continues (:mod:`stream.continuity`, :mod:`stream.offsets`). A probe
blackholed the broker past the session timeout: the commit under way failed (``UnknownMemberId``)
after the rejoin had revoked the partitions, and the note held offsets the group never
committed. :func:`settle` puts the note back to what Kafka said last when the assignment moved
while the commit was under way: the offsets read at the assignment
(``Consumer.seek_to_committed``, :mod:`stream.transport`) or those of the last commit that
succeeded (``consumer.confirmed``). A commit that failed with the assignment unchanged (its
changelog writes not acknowledged in time) keeps Faust's note: Faust took the offsets out of
its acks before it committed, and a note put back below them would hold every later commit.

>>> from collections import defaultdict
>>> from types import SimpleNamespace
>>> c = SimpleNamespace(_committed_offset=defaultdict(lambda: None), confirmed={"p0": 97})
>>> c._committed_offset.update({"p0": 122, "p1": 40})  # Faust's note of a failed commit
>>> settle(c, {"p0": 122, "p1": 40}, done=False, moved=True)
False
>>> dict(c._committed_offset), c.confirmed
({'p0': 97}, {'p0': 97})
>>> c._committed_offset["p0"] = 130  # a commit that went through
>>> settle(c, {"p0": 130}, done=True, moved=False), c.confirmed
(True, {'p0': 130})
"""

from __future__ import annotations

from typing import Any

__all__ = ["settle", "seek_to_committed"]


def settle(consumer: Any, offsets: Any, done: bool, moved: bool) -> bool:
    """After Faust's ``_commit_offsets(offsets)`` returned ``done``: on success, what it noted
    is what the group has committed (``consumer.confirmed``); on a failure while the
    assignment ``moved``, its note of each partition goes back to that (or away, for a
    partition with none: revoked meanwhile). Returns ``done``."""
    noted = consumer._committed_offset
    for tp in offsets:
        if tp not in noted or not (done or moved):  # nothing noted; or a note to keep
            continue
        if done:
            consumer.confirmed[tp] = noted[tp]
        elif tp in consumer.confirmed:
            noted[tp] = consumer.confirmed[tp]
        else:
            del noted[tp]
    return done


async def seek_to_committed(kafka: Any, fence: Any,
                            numbers: dict[Any, int] | None = None) -> dict[Any, int | None]:
    """aiokafka's ``seek_to_committed`` of the aiokafka consumer ``kafka``, in its thread, but
    every committed offset is read before any seek (aiokafka awaits each partition's between
    its seeks, and records refetched for a partition already sought were drained meanwhile),
    and each seek is fenced (:class:`stream.fence.SeekFence`) with no await before its fence is
    done: records fetched before it are dropped, none after. Returns the committed offsets;
    ``numbers`` gets each seek's fence number.

    >>> import asyncio
    >>> from stream.fence import SeekFence
    >>> class Kafka:
    ...     sought = []
    ...     def assignment(self): return {"p0", "p1"}
    ...     async def committed(self, tp): return {"p0": 97, "p1": None}[tp]
    ...     def seek(self, tp, offset): self.sought.append((tp, offset))
    >>> fence, early = SeekFence(), {}
    >>> sorted(asyncio.run(seek_to_committed(Kafka(), fence)).items(), key=str)
    [('p0', 97), ('p1', None)]
    >>> Kafka.sought, fence.stale("p0", early), fence.stale("p1", early)
    ([('p0', 97)], True, False)
    """
    committed = {tp: await kafka.committed(tp) for tp in kafka.assignment()}
    for tp, offset in committed.items():  # no await from here on
        if offset and offset > 0:  # as aiokafka: none (or 0) is not sought
            number = fence.ask(tp)
            kafka.seek(tp, offset)
            fence.done(tp, number)
            if numbers is not None:
                numbers[tp] = number
    return committed
