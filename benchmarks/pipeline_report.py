"""The table ``salescast bench`` prints: each path's rate and CPU cost, as ratios to the
references measured in the same round, and their medians over the rounds.

Two ratios per path and round, both "x the reference" (1.0: as fast or as cheap as it):

* **x ceiling, x faust floor**: events/s over the reference's events/s (wall clock);
* **CPU x floor**: the floor's CPU time per event over the path's (``process_time`` of the
  process over the measured span, all its threads). Other work on a shared machine moves the
  wall-clock rates by a third from run to run and the CPU costs far less, so this column is
  the steadier view of how much the worker adds to Faust's own per-message cost.

>>> Figure("worker", 1000, 0.5, cpu_seconds=0.25).cpu_us
250.0
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from rich.console import Console
from rich.table import Table

__all__ = ["Figure", "report", "LATENCY_RATE", "LATENCY_SECONDS", "LATENCY_WARMUP"]

LATENCY_RATE = 2_000.0
LATENCY_SECONDS = 10.0
#: seconds at the steady rate before the measured ones: a freshly started broker's JIT compiles
#: the paths of small requests for ~15 s (its C2 compiler threads took up to 60% of a core
#: here, docs/benchmarks.md), and that warm-up is not the steady load the figure is about
LATENCY_WARMUP = 20.0


@dataclass
class Figure:
    name: str
    events: int
    seconds: float
    cpu_seconds: float | None = None  # the process's CPU time over the same span

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float | None:
        """CPU microseconds per event (None: not measured)."""
        if self.cpu_seconds is None or self.events <= 0:
            return None
        return 1e6 * self.cpu_seconds / self.events


def _cpu_ratio(floor: Figure, f: Figure) -> float | None:
    a, b = floor.cpu_us, f.cpu_us
    return a / b if a is not None and b else None


def _cell(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def report(console: Console, per_round: list[list[Figure]], ops: dict[str, str],
           rate: float = LATENCY_RATE) -> None:
    """Print the table of ``per_round`` (each round: the ceiling, the floor, then the worker's
    paths) and the latency run's figures from the worker's ``ops``."""
    table = Table(title="salescast bench", min_width=100)
    for col in ("path", "round", "events", "seconds", "events/s", "x ceiling", "x faust floor",
                "CPU us/event", "CPU x floor"):
        table.add_column(col, justify="right" if col != "path" else "left")
    ratios: dict[str, list[tuple[float, float, float | None]]] = {}
    for k, figures in enumerate(per_round, start=1):
        ceiling, floor = figures[0].rate, figures[1].rate
        for f in figures:
            ratio = ((f.rate / ceiling, f.rate / floor, _cpu_ratio(figures[1], f))
                     if ceiling and floor else (0.0, 0.0, None))
            ratios.setdefault(f.name, []).append(ratio)
            table.add_row(f.name, str(k), f"{f.events:,}", f"{f.seconds:.2f}", f"{f.rate:,.0f}",
                          f"{ratio[0]:.2f}", f"{ratio[1]:.2f}", _cell(f.cpu_us, "{:.1f}"),
                          _cell(ratio[2]))
    if len(per_round) > 1:
        for name, rs in ratios.items():
            cpu = [c for _, _, c in rs if c is not None]
            table.add_row(name, "median", "", "", "", f"{median([c for c, _, _ in rs]):.2f}",
                          f"{median([f for _, f, _ in rs]):.2f}", "",
                          _cell(median(cpu) if cpu else None))
    console.print(table)
    console.print(
        f"event-to-Redis latency at {rate:,.0f} events/s (the last {LATENCY_SECONDS:.0f} s "
        f"of {LATENCY_WARMUP + LATENCY_SECONDS:.0f} at that rate): "
        f"p50 {ops.get('latency_p50_ms')} ms, p99 {ops.get('latency_p99_ms')} ms; "
        f"worker RSS {int(ops.get('rss_bytes', 0)) / 2**20:.0f} MiB", soft_wrap=True,
    )
    console.print("targets: single-event messages at least 0.8x the Faust floor, "
                  "envelopes at least 0.5x the ceiling; p99 at most 100 ms at 2,000 events/s",
                  soft_wrap=True)
