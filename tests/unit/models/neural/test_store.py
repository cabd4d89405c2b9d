"""models/neural/store.py: the store's index read with errors that name the file, and a promotion
or rollback that changes every file or none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.neural import store as store_module
from models.neural.lstm import GlobalLSTM, LSTMConfig
from models.neural.store import ArtifactError, ModelStore


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

    assert store.rollback(Redis()) == "v1"
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

    monkeypatch.setattr(store_module.os, "replace", flaky)
    with pytest.raises(ArtifactError, match="No space left on device.*it is unchanged"):
        store.rollback()
    assert _files(store.root) == before


@pytest.mark.parametrize(("name", "content"), [("CURRENT", "../x"), ("CURRENT", "\xff")])
def test_current_must_name_a_version(store: ModelStore, name: str, content: str) -> None:
    (store.root / name).write_bytes(content.encode("latin-1"))
    with pytest.raises(ArtifactError, match=f"corrupt model store file {store.root / name}"):
        store.current()


def test_a_missing_index_is_an_empty_store(tmp_path: Path) -> None:
    empty = ModelStore(tmp_path)
    assert empty.current() is None and empty.history() == []
    with pytest.raises(ArtifactError, match="model v9: no "):
        empty.meta("v9")


def test_a_promotion_whose_artifact_does_not_load_changes_nothing(store: ModelStore) -> None:
    with open(store.root / "v1" / "weights.pt", "ab") as weights:
        weights.write(b"corrupt")
    before = _files(store.root)
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        store.promote("v1")
    assert _files(store.root) == before


def test_old_versions_are_pruned_and_a_rollback_still_works(tmp_path: Path) -> None:
    """The trainer saves a version every cycle: nine in a 35-minute soak, never deleted."""
    store, model = ModelStore(tmp_path), GlobalLSTM(LSTMConfig(hidden=2))
    for i in range(30):
        v = store.save(model, {}, {}, version=f"v{i:02d}")
        if i % 3 == 0:
            store.promote(v)
        store.prune(keep=4)
    assert store.current() == "v27" and store.history() == ["v18", "v21", "v24", "v27"]
    # the last four promotions, and the four newest of the others
    assert store.versions() == ["v18", "v21", "v24", "v25", "v26", "v27", "v28", "v29"]
    assert store.rollback() == "v24" and store.load("v24").config.hidden == 2
