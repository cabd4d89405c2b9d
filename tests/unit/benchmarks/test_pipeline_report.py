"""The pipeline bench's report: per-round ratios to the ceiling and the floor (rates and CPU
per event), and their medians."""

from __future__ import annotations

from rich.console import Console

from benchmarks.pipeline_report import Figure, report


def _round(ceiling: float, floor: float, worker: float,
           cpu_us: tuple[float, float] | None = None) -> list[Figure]:
    """Rates in events/s; ``cpu_us``: the floor's and the worker's CPU per event."""
    fc, wc = (None, None) if cpu_us is None else (cpu_us[0] * 1e-3, cpu_us[1] * 1e-3)
    return [Figure("ceiling", 1000, 1000 / ceiling), Figure("floor", 1000, 1000 / floor, fc),
            Figure("worker", 1000, 1000 / worker, wc)]


def test_each_round_has_its_own_ratios_and_the_median_row_summarises_them() -> None:
    console = Console(record=True, width=200)
    rounds = [_round(100_000, 10_000, 5_000, (100.0, 250.0)),
              _round(100_000, 8_000, 6_400, (110.0, 200.0)), _round(50_000, 10_000, 7_000)]
    report(console, rounds, {"latency_p50_ms": "12.5", "latency_p99_ms": "80.0",
                              "rss_bytes": str(2**30)})
    text = console.export_text()
    rows = [line for line in text.splitlines() if line.startswith("│ worker")]
    # x ceiling / x faust floor, per round: 0.05 / 0.50, 0.06 / 0.80, 0.14 / 0.70
    assert [[c.strip() for c in r.split("│")[-5:-1]] for r in rows] == [
        ["0.05", "0.50", "250.0", "0.40"], ["0.06", "0.80", "200.0", "0.55"],
        ["0.14", "0.70", "-", "-"],  # no CPU figures in that round
        ["0.06", "0.70", "", "0.48"]]  # medians (of 3; CPU of the 2 rounds that have it)
    assert "median" in rows[-1]
    assert "p99 80.0 ms" in text and "RSS 1024 MiB" in text


def test_one_round_has_no_median_row() -> None:
    console = Console(record=True, width=200)
    report(console, [_round(100_000, 10_000, 5_000)], {})
    assert "median" not in console.export_text()
