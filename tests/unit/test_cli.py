"""The CLI's front door: helpful --help, one-line errors, the model benchmark's figures."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from benchmarks.model_costs import TARGET_US, run_models_bench
from salescast.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "backtest", "bench", "token"):
        assert command in result.output


def test_unknown_panel_is_one_line_not_a_traceback() -> None:
    result = runner.invoke(app, ["backtest", "everything"])
    assert result.exit_code == 2
    assert "unknown panel 'everything'" in result.output
    assert "Traceback" not in result.output


def test_out_of_range_option_is_a_usage_error() -> None:
    result = runner.invoke(app, ["bench", "models", "--series", "3"])
    assert result.exit_code == 2 and "Traceback" not in result.output


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


def test_models_bench_compares_the_bank_with_the_per_object_stack() -> None:
    from benchmarks.bank_costs import TARGET_US as BANK_TARGET_US
    from benchmarks.bank_costs import run_bank_bench

    out = io.StringIO()
    us = run_bank_bench(series=40, buckets=2, object_series=20,
                        console=Console(file=out, width=160))
    assert us["bank_us"] > 0 and us["object_us"] > 0
    assert us["ratio"] == us["object_us"] / us["bank_us"]
    text = out.getvalue()
    assert "per-object" in text and f"target <= {BANK_TARGET_US:g} us" in text
