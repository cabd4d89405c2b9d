"""``salescast services status|down`` without services: a non-zero status and a line that
says so, not "stopped" or an exit status of 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from salescast.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh home: no services state file, no Kafka or Redis addresses set."""
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    for name in ("KAFKA_BOOTSTRAP", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_status_exits_non_zero_when_nothing_runs() -> None:
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[:2] == ["kafka  down", "redis  down"]
    assert lines[2] == ("salescast: kafka and redis are not running "
                        "(`salescast services up` starts them)"), lines


def test_status_stars_a_password_and_does_not_offer_to_start_an_external_redis(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe: the password of REDIS_URL was printed in clear, and an external Redis that
    did not answer was said to be started by `services up`."""
    monkeypatch.setenv("REDIS_URL", "redis://u:secretpw@127.0.0.1:1/0")
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 1 and "secretpw" not in result.output, result.output
    assert "redis://u:***@127.0.0.1:1/0" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "salescast: kafka is not running (`salescast services up` starts it), "
        "redis does not answer"), result.output


def test_status_names_a_service_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing listens on port 1
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        "salescast: kafka does not answer, redis does not answer"), result.output


def test_status_exits_zero_when_every_service_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.services.status", lambda settings: {
        "kafka": "healthy  127.0.0.1:9  (external)", "redis": "healthy  redis://h:1/0  (external)"})
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 0 and "salescast:" not in result.output, result.output


def test_down_without_services_says_nothing_was_running() -> None:
    result = runner.invoke(app, ["services", "down"])
    assert result.exit_code == 0
    assert result.output.strip() == "nothing was running", result.output
