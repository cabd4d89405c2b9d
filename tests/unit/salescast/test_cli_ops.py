"""``salescast alerts eval`` and ``salescast monitor``: bad arguments and services that never
answer are one line (``salescast: ...``) and a non-zero exit, never a traceback or a hang."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner, Result

from salescast.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh home; Kafka and Redis at closed ports (nothing listens on port 1)."""
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")


def _never(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("reached: the bad argument was not refused first")


def _usage_error(result: Result, option: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and option in result.output, result.output


@pytest.mark.parametrize(("option", "value"), [
    ("--seed", "-1"), ("--seed", str(2**32)), ("--series", "10001"), ("--series", "7"),
    ("--days", "1831"), ("--days", "1" + "0" * 30),
])
def test_alerts_eval_refuses_out_of_range_sizes_and_seeds_before_numpy_sees_them(
        option: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative seed or a huge panel: a numpy ValueError or MemoryError traceback before."""
    monkeypatch.setattr("models.evaluation.anomaly_eval.make_synthetic", _never)
    _usage_error(runner.invoke(app, ["alerts", "eval", option, value, "--real", "",
                                     "--no-rate"]), option)


def test_alerts_eval_help_states_the_bounds() -> None:
    from salescast.cli_ops import MAX_DAYS, MAX_SEED, MAX_SERIES

    assert (MAX_SERIES, MAX_DAYS, MAX_SEED) == (10_000, 1_830, 2**32 - 1)
    result = runner.invoke(app, ["alerts", "eval", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for bound in (f"{MAX_SERIES:,}", f"{MAX_DAYS:,}", f"{MAX_SEED:,}"):
        assert bound in result.output, result.output


def test_alerts_eval_takes_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from salescast.cli_ops import MAX_DAYS, MAX_SEED, MAX_SERIES

    seen: list[tuple[int, int, int]] = []

    def evaluate_synthetic(series: int, days: int, seed: int) -> NoReturn:
        seen.append((series, days, seed))
        raise KeyboardInterrupt  # stop there: the table needs a real result

    monkeypatch.setattr("models.evaluation.anomaly_eval.evaluate_synthetic", evaluate_synthetic)
    args = ["--series", str(MAX_SERIES), "--days", str(MAX_DAYS), "--seed", str(MAX_SEED)]
    result = runner.invoke(app, ["alerts", "eval", *args, "--real", "", "--no-rate"])
    assert result.exit_code == 130 and seen == [(MAX_SERIES, MAX_DAYS, MAX_SEED)], result.output
