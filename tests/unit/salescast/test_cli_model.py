"""``salescast model list|promote|rollback`` on a model store in a temporary home, no Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import load_settings
from models.neural.lstm import GlobalLSTM, LSTMConfig
from models.neural.store import ModelStore
from salescast.cli import app

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelStore:
    """An empty store in a fresh ``SALESCAST_HOME``, with no Kafka or Redis to find."""
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    for name in ("SALESCAST_MODELS_DIR", "KAFKA_BOOTSTRAP", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return ModelStore(load_settings().models_dir)


def _save(store: ModelStore, version: str, mase: float) -> str:
    return store.save(GlobalLSTM(LSTMConfig(hidden=4)), {"mase": mase}, {"series": 3},
                      version=version)


def test_list_promote_and_roll_back(store: ModelStore) -> None:
    first, second = _save(store, "v1", 0.7), _save(store, "v2", 0.6)
    listed = runner.invoke(app, ["model", "list"])
    assert listed.exit_code == 0 and "v1" in listed.output and "v2" in listed.output
    for version in (first, second):
        promoted = runner.invoke(app, ["model", "promote", version])
        assert promoted.exit_code == 0, promoted.output
        assert f"{version} is current" in promoted.output
        assert "workers are not notified" in promoted.output  # no Redis: the files change
    assert store.current() == second
    rolled = runner.invoke(app, ["model", "rollback"])
    assert rolled.exit_code == 0 and f"rolled back to {first}" in rolled.output
    assert store.current() == first and store.meta(second)["status"] == "rolled_back"


def test_an_unknown_version_or_nothing_to_roll_back_is_one_line(store: ModelStore) -> None:
    unknown = runner.invoke(app, ["model", "promote", "v0"])
    assert unknown.exit_code == 2 and "no model 'v0'" in unknown.output
    _save(store, "v1", 0.7)
    assert runner.invoke(app, ["model", "promote", "v1"]).exit_code == 0
    nothing = runner.invoke(app, ["model", "rollback"])
    assert nothing.exit_code == 2 and "nothing to roll back to" in nothing.output
    for result in (unknown, nothing):
        assert "Traceback" not in result.output
        assert result.output.strip().splitlines()[-1].startswith("salescast: ")  # one line
