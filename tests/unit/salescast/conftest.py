"""What the CLI's tests share: Kafka and Redis at closed ports, and the check that a command
failed with one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result


@pytest.fixture
def closed_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh home; Kafka and Redis at closed ports (nothing listens on port 1)."""
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def one_line() -> Callable[..., None]:
    """``one_line(result, *expected)``: the command exited 2, printed no traceback, and its
    last line is salescast's one-line error holding each of ``expected``."""

    def check(result: Result, *expected: str) -> None:
        assert result.exit_code == 2, (result.output, result.exception)
        assert "Traceback" not in result.output
        lines = result.output.strip().splitlines()
        assert lines and lines[-1].startswith("salescast: "), result.output
        for text in expected:
            assert text in lines[-1], result.output

    return check
