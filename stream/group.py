"""The Faust glue of :mod:`stream.membership`: a sensor that times this worker's rebalances,
and owns partitions for :class:`stream.commits.Ownership`: none from the first moment of a
rebalance (before any late ack) until its end (the tables recovered and every stream sought
back to its committed offset), so that no message fetched before is applied or committed.

Faust calls a sensor's ``on_rebalance_start`` when the group revokes partitions and
``on_rebalance_end`` once the worker has recovered its tables for the new assignment and
resumed its streams, so the time between the two is the time its partitions were not served.
"""

from __future__ import annotations

import time
from typing import Any

from faust.sensors.base import Sensor

from stream.membership import Membership

__all__ = ["RebalanceSensor"]


class RebalanceSensor(Sensor):
    """Feeds a worker's :class:`Membership` with its rebalances and its events-topic partitions."""

    def __init__(self, membership: Membership, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.membership = membership

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        ownership = getattr(app, "ownership", None)
        if ownership is not None:  # nothing may be committed until the new assignment
            ownership.revoke_all()
        self.membership.started(time.time())
        return {}

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        assignment = app.consumer.assignment()
        ownership = getattr(app, "ownership", None)
        if ownership is not None:  # tables recovered, streams sought to the committed offsets
            ownership.assign(app.consumer, assignment)
        topic = self.membership.topic
        held = [tp.partition for tp in assignment if tp.topic == topic]
        self.membership.ended(time.time(), held)
