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


@pytest.mark.parametrize("fail_at", [0, 1, 2, 3, 4])
def test_a_failed_rename_puts_back_what_was_replaced(
        store: ModelStore, fail_at: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk error after some of the five files were renamed: the store is as it was."""
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

    def name(i: int) -> str:  # as the trainer names them (the time)
        return f"v20261207-1200{i:02d}-000"

    store.save(model, {}, {}, version="golden")  # a copy named by hand: never pruned
    for i in range(30):
        v = store.save(model, {}, {}, version=name(i))
        if i % 3 == 0:
            store.promote(v)
        store.prune(keep=4)
    assert store.current() == name(27)
    assert store.history() == [name(18), name(21), name(24), name(27)]
    # the last four promotions, and the four newest of the others
    assert store.versions() == ["golden", *map(name, (18, 21, 24, 25, 26, 27, 28, 29))]
    assert store.rollback() == name(24) and store.load(name(24)).config.hidden == 2
    assert store.prune(keep=4) == [name(25)]  # the one rolled back is one of the others
    half = store.root / name(31)  # a trainer killed in its save: no meta.json
    half.mkdir()
    (half / "weights.pt").write_bytes(b"partial")
    assert store.prune(keep=4) == []  # (it may still be writing)
    os.utime(half, (0, 0))
    assert store.prune(keep=4) == [name(31)] and not half.exists()


def test_a_rollback_pins_the_store_until_a_version_is_promoted_by_hand(
        store: ModelStore) -> None:
    """A trainer restarted after a rollback promoted the very model rolled back (a probe)."""
    assert store.pinned() is None
    store.rollback()
    assert store.pinned() == "v1"
    store.promote("v2")
    assert store.pinned() is None and store.current() == "v2"


def test_a_second_trainer_on_the_store_is_refused(store: ModelStore) -> None:
    """Two trainers at once wrote each other's files and lost a promotion (a probe)."""
    held = store.lock()
    try:
        with pytest.raises(ArtifactError, match=rf"another trainer \(pid {os.getpid()}\)"):
            ModelStore(store.root).lock()
    finally:
        held.close()
    ModelStore(store.root).lock().close()  # free again


def test_a_name_too_long_for_the_workers_is_not_promoted(store: ModelStore) -> None:
    """A worker keeps its model's name in every row (64 bytes): a longer one stopped it at
    its next batch, and at every restart (a probe)."""
    long = "v-" + "descriptive-name-" * 4
    store.save(GlobalLSTM(LSTMConfig(hidden=4)), {}, {}, version=long)
    with pytest.raises(ArtifactError, match="at most 64 bytes"):
        store.promote(long)
    assert store.current() == "v2"


def test_a_rollback_from_a_version_deleted_by_hand(store: ModelStore) -> None:
    import shutil

    shutil.rmtree(store.root / "v2")
    assert store.rollback() == "v1" and store.current() == "v1"
