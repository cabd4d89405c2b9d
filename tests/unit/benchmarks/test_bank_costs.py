"""``salescast bench models``' bank figures: the bank beside the per-object stack."""

from __future__ import annotations

import io

from rich.console import Console

from benchmarks.bank_costs import TARGET_US, run_bank_bench


def test_models_bench_compares_the_bank_with_the_per_object_stack() -> None:
    out = io.StringIO()
    us = run_bank_bench(series=40, buckets=2, object_series=20,
                        console=Console(file=out, width=160))
    assert min(us["bank_us"], us["object_us"], us["hourly_us"], us["monthly_us"]) > 0
    assert us["ratio"] == us["object_us"] / us["bank_us"]
    text = out.getvalue()
    assert "per-object" in text and f"target <= {TARGET_US:g} us" in text
    assert "monthly buckets (season 12, damped trend: 7 members)" in text
