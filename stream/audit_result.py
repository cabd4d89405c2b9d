"""What ``salescast audit`` found: per-partition tallies, their total, the differences, and
what could not be checked (a log that retention truncated) or was never read (lost to
retention). Built by :class:`stream.audit.Reconciler`; printed by ``salescast.cli_audit``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stream.records import Key, fmt_key

__all__ = ["CODES", "AuditResult", "PartitionTally"]

CODES = ("invalid", "too_late", "too_far_ahead", "in_future", "duplicate_id", "reserved")


@dataclass
class PartitionTally:
    """Figures of one partition of the events topic (or of all: the total)."""

    messages: int = 0  #: messages read
    valid: int = 0  #: valid events in them (any placement)
    rejected: int = 0  #: validation rejections found by re-validating
    accepted: int = 0  #: valid events at home not dead-lettered: counted by the worker
    rerouted: int = 0  #: valid events not at home (the worker re-routes them)
    rerouted_in: int = 0  #: re-routed copies read here
    dead: Counter[str] = field(default_factory=Counter)  #: distinct dead letters by code
    missing_dead: int = 0  #: rejections without an invalid dead letter

    def add(self, other: PartitionTally) -> None:
        for name in ("messages", "valid", "rejected", "accepted", "rerouted", "rerouted_in",
                     "missing_dead"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dead.update(other.dead)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "valid": self.valid, "rejected": self.rejected,
                "accepted": self.accepted, "rerouted": self.rerouted,
                "rerouted_in": self.rerouted_in, "missing_dead_letters": self.missing_dead,
                "dead_letters": {c: self.dead.get(c, 0) for c in sorted({*CODES, *self.dead})}}


@dataclass(frozen=True)
class AuditResult:
    """The reconciliation: per-partition tallies, their total, the differences, and notes."""

    topic: str
    partitions: dict[int, PartitionTally]
    total: PartitionTally
    counts: list[tuple[str, int, int | None]]  #: (series, expected, redis or None): differ
    missing_dead: list[tuple[Key, str]]  #: (key, reason) of rejections without dead letter
    missing_copies: list[Key]  #: re-routed events whose copy was not read
    series: int  #: series checked against Redis
    dead_repeats: int = 0  #: dead letters seen again (same key): at-least-once, not an error
    dead_other_topic: int = 0
    dead_unmatched: int = 0  #: dead letters matching no record read (e.g. past the end)
    dead_unreadable: int = 0
    truncated: dict[int, int] = field(default_factory=dict)  #: partition -> first offset left
    unverifiable: int = 0  #: series counting more than a truncated log holds (see above)
    lost: dict[str, int] = field(default_factory=dict)  #: worker -> messages it never read

    @property
    def differences(self) -> int:
        return (len(self.counts) + len(self.missing_dead) + len(self.missing_copies)
                + len(self.lost))

    @property
    def ok(self) -> bool:
        return not self.differences

    def problems(self, limit: int | None = None) -> list[str]:
        """One line per difference (at most ``limit`` of each kind)."""
        out = [f"series {s}: redis counts {'nothing' if got is None else got}, expected {want}"
               for s, want, got in self.counts[:limit]]
        out += [f"no dead letter for the invalid record {fmt_key(k)}"
                for k, _ in self.missing_dead[:limit]]
        out += [f"re-routed event {fmt_key(k)} has no copy" for k in self.missing_copies[:limit]]
        out += [f"worker {w}: {n:,} messages deleted by retention before it read them"
                for w, n in sorted(self.lost.items())[:limit]]
        return out

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        return {
            "topic": self.topic, "reconciled": self.ok, "series_checked": self.series,
            "partitions": {str(p): t.to_dict() for p, t in sorted(self.partitions.items())},
            "total": self.total.to_dict(),
            "differences": {
                "series": [{"series": s, "expected": want, "redis": got}
                           for s, want, got in self.counts[:limit]],
                "series_total": len(self.counts),
                "missing_dead_letters": [{"key": fmt_key(k), "reason": why}
                                         for k, why in self.missing_dead[:limit]],
                "missing_dead_letters_total": len(self.missing_dead),
                "missing_copies": [fmt_key(k) for k in self.missing_copies[:limit]],
                "missing_copies_total": len(self.missing_copies),
            },
            "truncated": {str(p): start for p, start in sorted(self.truncated.items())},
            "unverifiable_series": self.unverifiable,
            "lost_by_retention": dict(sorted(self.lost.items())),
            "info": {"dead_letter_repeats": self.dead_repeats,
                     "dead_letters_other_topic": self.dead_other_topic,
                     "dead_letters_unmatched": self.dead_unmatched,
                     "dead_letters_unreadable": self.dead_unreadable},
        }
