"""``salescast bench stall``'s pure part: its summary line (the runs need Kafka and Redis:
``salescast bench stall``)."""

from __future__ import annotations

from benchmarks.stall import TARGET_MS, summary


def test_the_summary_gives_the_median_and_the_longest_of_the_runs() -> None:
    line = summary([150.0, 4270.0, 180.0, 120.0])
    assert "median 165 ms" in line and "at most 4,270 ms" in line and "(4 runs)" in line
    assert f"target <= {TARGET_MS:.0f} ms" in line
