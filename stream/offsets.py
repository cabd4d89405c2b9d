"""Faust's view of one topic's offsets, for :mod:`stream.continuity` (thin glue).

Reads the consumer's own bookkeeping (committed offsets, the gaps it saw while fetching), asks
Kafka for the log's start and end, and seeks a partition back.
"""

from __future__ import annotations

import logging
from typing import Any

from config import Settings

__all__ = ["TopicOffsets", "events_partitions"]

log = logging.getLogger("salescast.worker")


class TopicOffsets:
    """The events topic's partitions as the worker's Faust consumer sees them."""

    def __init__(self, app: Any, topic: str) -> None:
        self.app = app
        self.topic = topic
        self.reseeks = 0
        self._earliest: dict[int, int] = {}  # per assignment: retention moves it rarely

    @property
    def consumer(self) -> Any:  # Faust's consumer, with its private offset bookkeeping
        return self.app.consumer

    def tp(self, partition: int) -> Any:
        return self.consumer._new_topicpartition(self.topic, partition)

    def assigned(self) -> list[Any]:
        return [tp for tp in self.consumer.assignment() if tp.topic == self.topic]

    def known_gap(self, partition: int, start: int, end: int) -> bool:
        """Offsets start..end-1 were absent when Faust fetched (its own gap bookkeeping)."""
        tree = self.consumer._gap.get(self.tp(partition))
        return bool(tree) and all(tree.overlaps_point(o) for o in range(start, end))

    async def committed(self, partition: int) -> int:
        """The committed offset (the next to read), raised to the log's start when retention
        deleted it. Read when the partition is owned, so after Faust sought it back to its
        committed offset: Faust knows none (``None``, which it also makes of a committed 0)
        only when nothing was committed, and then reading starts at the log's start."""
        committed = self.consumer._committed_offset.get(self.tp(partition))
        return max(int(committed or 0), await self.earliest(partition))

    async def earliest(self, partition: int) -> int:
        """The log's start offset (asked once per partition and assignment)."""
        if partition not in self._earliest:
            tp = self.tp(partition)
            self._earliest[partition] = int(
                (await self.consumer.earliest_offsets(tp)).get(tp) or 0)
        return self._earliest[partition]

    def forget(self) -> None:
        """Partitions were revoked."""
        self._earliest.clear()

    async def ends(self, tps: list[Any]) -> dict[Any, int]:
        """The log-end offset (the next to be written) of each partition."""
        return dict(await self.consumer.highwaters(*tps))

    async def seek_back(self, partition: int, offset: int, why: str,
                        level: int = logging.WARNING) -> None:
        log.log(level, "partition %d: %s; seeking back to offset %d", partition, why, offset)
        self.reseeks += 1
        await self.consumer.seek(self.tp(partition), offset)


def events_partitions(settings: Settings) -> int:
    """The events topic's partition count (the settings' when the topic does not exist yet)."""
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient({"bootstrap.servers": settings.kafka, "log_level": 0}).list_topics(
            settings.events_topic, timeout=10)
        topic = meta.topics.get(settings.events_topic)
        if topic is not None and topic.error is None and topic.partitions:
            return len(topic.partitions)
    except Exception as exc:  # noqa: BLE001 - a missing topic is created with the settings
        log.warning("cannot read the partitions of %s (%r); using %d",
                    settings.events_topic, exc, settings.partitions)
    return settings.partitions

