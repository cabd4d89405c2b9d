"""The CLI's front door: helpful --help, one-line errors."""

from __future__ import annotations

from typer.testing import CliRunner

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
