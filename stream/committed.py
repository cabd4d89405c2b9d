"""What the group has committed, as Kafka said: Faust's note of it, put right after a commit
that failed.

Faust's ``Consumer._commit_offsets`` notes the offsets it tried as committed whether or not the
commit went through (``_committed_offset``, faust-streaming 0.11), and the worker reads that note
as where a partition continues (:mod:`stream.continuity`, :mod:`stream.offsets`). A probe
blackholed the broker past the session timeout: the commit under way failed (``UnknownMemberId``)
after the rejoin had revoked the partitions, and the note held offsets the group never
committed. :func:`settle` puts the note back to what Kafka said last: the offsets read at the
assignment (``Consumer.seek_to_committed``, :mod:`stream.transport`) or those of the last commit
that succeeded (``consumer.confirmed``).

>>> from collections import defaultdict
>>> from types import SimpleNamespace
>>> c = SimpleNamespace(_committed_offset=defaultdict(lambda: None), confirmed={"p0": 97})
>>> c._committed_offset.update({"p0": 122, "p1": 40})  # Faust's note of a failed commit
>>> settle(c, {"p0": 122, "p1": 40}, done=False)
False
>>> dict(c._committed_offset), c.confirmed
({'p0': 97}, {'p0': 97})
>>> c._committed_offset["p0"] = 130  # a commit that went through
>>> settle(c, {"p0": 130}, done=True), c.confirmed
(True, {'p0': 130})
"""

from __future__ import annotations

from typing import Any

__all__ = ["settle"]


def settle(consumer: Any, offsets: Any, done: bool) -> bool:
    """After Faust's ``_commit_offsets(offsets)`` returned ``done``: on success, what it noted
    is what the group has committed (``consumer.confirmed``); on failure, its note of each
    partition goes back to that (or away, for a partition with none: revoked meanwhile).
    Returns ``done``."""
    noted = consumer._committed_offset
    for tp in offsets:
        if tp not in noted:  # not committable (not assigned): Faust noted nothing
            continue
        if done:
            consumer.confirmed[tp] = noted[tp]
        elif tp in consumer.confirmed:
            noted[tp] = consumer.confirmed[tp]
        else:
            del noted[tp]
    return done
