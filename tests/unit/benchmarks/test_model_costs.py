"""``salescast bench models``: every model timed against the bare seasonal-naive reference."""

from __future__ import annotations

import io

from rich.console import Console

from benchmarks.model_costs import TARGET_US, run_models_bench


def test_models_bench_times_every_model_against_the_reference() -> None:
    out = io.StringIO()
    us = run_models_bench(series=12, buckets=10, console=Console(file=out, width=120))
    ref = us["seasonal naive, bare (reference)"]
    assert set(us) >= {"worker model (ensemble+holidays)", "ensemble + intervals"}
    assert all(v > 0 for v in us.values())
    assert min(us.values()) == ref  # nothing is cheaper than the bare reference
    assert us["ensemble + intervals"] > us["rolling median + intervals"]
    text = out.getvalue()
    assert f"target <= {TARGET_US:g} us" in text and "x reference" in text
