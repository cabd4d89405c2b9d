"""The figures of ``salescast bench scale`` (:mod:`benchmarks.scale`) and their tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

__all__ = ["REBALANCE_PARTITIONS", "Rebalance", "Throughput", "report"]

REBALANCE_PARTITIONS = 4


@dataclass
class Throughput:
    workers: int
    events: int
    seconds: float
    cpu: dict[str, float]  # share of the machine's busy CPU time

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Rebalance:
    series: int
    standby: int
    join_s: float  # the joining worker: from its join to serving its partitions
    existing_s: float  # the worker that gave partitions up: its own rebalance
    failover_s: float  # from the SIGKILL of the joined worker to all partitions served
    failover_rebalance_s: float  # of which the survivor's rebalance itself
    rss_mb: float  # the survivor's RSS, holding every series
    restart_s: float  # survivor stopped (SIGTERM), a new worker started: start to serving all
    stall_ms: float = float("nan")  # the first worker's longest loop stall, day close included


def report(console: Console, runs: list[Throughput], rebalances: list[Rebalance],
            logs: Path) -> None:
    table = _table("salescast bench scale: throughput (8 partitions)", "workers", "events",
                   "seconds", "events/s", "x 1 worker", "CPU: workers", "broker", "redis",
                   "other")
    one = runs[0].rate or 1.0
    for t in runs:
        table.add_row(str(t.workers), f"{t.events:,}", f"{t.seconds:.2f}", f"{t.rate:,.0f}",
                      f"{t.rate / one:.2f}", *(f"{100 * t.cpu.get(k, 0):.0f}%"
                                               for k in ("workers", "broker", "redis", "other")))
    console.print(table)
    table = _table(f"rebalance and failover ({REBALANCE_PARTITIONS} partitions)", "series",
                   "per partition", "standby", "join: serving after s", "existing worker s",
                   "failover s", "of which rebalance s", "RSS MiB", "restart s",
                   "longest stall ms")
    for b in rebalances:
        table.add_row(f"{b.series:,}", f"{b.series // REBALANCE_PARTITIONS:,}", str(b.standby),
                      f"{b.join_s:.2f}", f"{b.existing_s:.2f}", f"{b.failover_s:.2f}",
                      f"{b.failover_rebalance_s:.2f}", f"{b.rss_mb:,.0f}",
                      f"{b.restart_s:.2f}", f"{b.stall_ms:,.0f}")
    console.print(table)
    console.print("target: a partition with 25k series serving again within 10 s of the "
                  "rebalance; failover includes the broker's session timeout "
                  "(SALESCAST worker: 10 s). Workers with the LSTM off (no torch). RSS: the "
                  "survivor's, holding every series; "
                  "restart: the survivor stopped (SIGTERM) and a new worker started, from its "
                  "start (interpreter and imports included) to serving every partition. "
                  "Longest stall: the first worker's event loop, held up at a time while it "
                  "took the events and closed every series' first days (target 50 ms). "
                  f"Worker logs: {logs}", soft_wrap=True)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, min_width=100)
    for col in columns:
        table.add_column(col, justify="right")
    return table
