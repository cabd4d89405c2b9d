"""salescast/model_files.py: the model store's index read with one-line errors, and a rollback
that changes every file or none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.neural.lstm import GlobalLSTM, LSTMConfig
from models.neural.store import ModelStore
from salescast import model_files
from salescast.cliutil import UserError


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    """v1 then v2 promoted: v2 is current, a rollback goes back to v1."""
    store = ModelStore(tmp_path / "models")
    for version in ("v1", "v2"):
        store.save(GlobalLSTM(LSTMConfig(hidden=4)), {"mase": 0.5}, {"series": 3},
                   version=version)
        store.promote(version)
    return store


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_rollback_changes_the_four_files_and_announces(store: ModelStore) -> None:
    announced: list[tuple[str, float | None]] = []

    class Redis:
        def hset(self, key: str, mapping: dict[str, object]) -> None:
            announced.append((str(mapping["version"]), float(str(mapping["promoted_at"]))))

        def publish(self, channel: str, body: str) -> None:
            pass

    assert model_files.rollback(store, Redis) == "v1"
    assert store.current() == "v1" and store.history() == ["v1"]
    assert store.meta("v2")["status"] == "rolled_back"
    meta = store.meta("v1")
    assert (meta["status"], meta["reason"]) == ("promoted", "rollback")
    assert announced == [("v1", meta["promoted_at"])]
    assert not [p for p in store.root.rglob(".*.new")]  # no temporary file is left


@pytest.mark.parametrize("fail_at", [0, 1, 2, 3])
def test_a_failed_rename_puts_back_what_was_replaced(
        store: ModelStore, fail_at: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk error after some of the four files were renamed: the store is as it was."""
    before = _files(store.root)
    calls: list[str] = []
    replace = os.replace

    def flaky(src: Path, dst: Path) -> None:
        calls.append(str(dst))
        if len(calls) == fail_at + 1:
            raise OSError(28, "No space left on device", str(dst))
        replace(src, dst)

    monkeypatch.setattr(model_files.os, "replace", flaky)
    with pytest.raises(UserError, match="No space left on device.*it is unchanged"):
        model_files.rollback(store)
    assert _files(store.root) == before


def test_a_redis_that_does_not_answer_is_one_line_after_the_rollback(store: ModelStore) -> None:
    from redis import Redis

    with pytest.raises(UserError, match="v1 is current in .*Redis does not answer"):
        model_files.rollback(store, lambda: Redis.from_url("redis://127.0.0.1:1/0"))
    assert store.current() == "v1"  # the store changed: only the workers were not told


@pytest.mark.parametrize(("name", "content"), [("CURRENT", "../x"), ("CURRENT", "\xff")])
def test_current_must_name_a_version(store: ModelStore, name: str, content: str) -> None:
    (store.root / name).write_bytes(content.encode("latin-1"))
    with pytest.raises(UserError, match=f"corrupt model store file {store.root / name}"):
        model_files.read_current(store.root)


def test_a_missing_index_is_an_empty_store(tmp_path: Path) -> None:
    assert model_files.read_current(tmp_path) is None
    assert model_files.read_history(tmp_path) == []
    with pytest.raises(UserError, match="model v9: no "):
        model_files.read_meta(tmp_path, "v9")
