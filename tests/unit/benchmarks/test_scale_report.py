"""The scale bench's report: its tables (the runs need Kafka and Redis: ``salescast bench
scale``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from benchmarks.scale_report import Rebalance, Throughput, report


def test_the_report_shows_the_ratio_to_one_worker_and_the_cpu_split() -> None:
    console = Console(record=True, width=160)
    runs = [Throughput(1, 1000, 2.0, {"workers": 0.5, "broker": 0.3, "redis": 0.1}),
            Throughput(2, 1000, 1.6, {"workers": 0.6, "broker": 0.25, "redis": 0.1})]
    report(console, runs, [Rebalance(10_000, 0, 1.25, 0.5, 12.0, 1.75, 1234.4, 21.5, 4321.0)],
            Path("/tmp"))
    text = console.export_text()
    assert "1.25" in text and "60%" in text and "2,500" in text and "12.00" in text
    assert "1,234" in text and "21.50" in text  # the RSS (MiB) and the restart
    assert "4,321" in text and "longest stall ms" in text
