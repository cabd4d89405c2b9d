"""``salescast model list|promote|rollback`` on a model store in a temporary home, no Redis."""

from __future__ import annotations

from collections.abc import Callable
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


def test_a_rollback_pins_and_a_promotion_of_other_buckets_is_said(store: ModelStore) -> None:
    _save(store, "v1", 0.7)
    _save(store, "v2", 0.6)
    for version in ("v1", "v2"):
        runner.invoke(app, ["model", "promote", version])
    assert runner.invoke(app, ["model", "rollback"]).exit_code == 0
    listed = runner.invoke(app, ["model", "list"])
    assert "pinned to v1 by a rollback" in " ".join(listed.output.split())
    store.save(GlobalLSTM(LSTMConfig(hidden=4)), {}, {"bucket_seconds": 3600}, version="hourly")
    promoted = runner.invoke(app, ["model", "promote", "hourly"])
    said = " ".join(promoted.output.split())
    assert promoted.exit_code == 0 and "trained on buckets of 3600 s: workers on buckets of " \
        "86400 s (these settings) refuse it" in said
    assert "pinned" not in runner.invoke(app, ["model", "list"]).output


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


def _files(store: ModelStore) -> dict[str, bytes]:
    """Every file of the store, by path, with its bytes."""
    return {str(p.relative_to(store.root)): p.read_bytes()
            for p in sorted(store.root.rglob("*")) if p.is_file()}


def _promoted_twice(store: ModelStore) -> None:
    """v1 then v2 promoted (v2 current): a rollback goes back to v1."""
    for version, mase in (("v1", 0.7), ("v2", 0.6)):
        _save(store, version, mase)
        store.promote(version)



@pytest.mark.parametrize(("command", "name", "content", "expected"), [
    ("list", "v1/meta.json", b"garbage", "not JSON"),
    ("list", "v1/meta.json", b"[]", "not a JSON object"),
    ("list", "v1/meta.json", b'{"metrics": 3}', "metrics is not a JSON object"),
    ("list", "CURRENT", b"\xff\xfe", "not UTF-8 text"),
    ("rollback", "v1/meta.json", b"garbage", "not JSON"),
    ("rollback", "v2/meta.json", b'"v2"', "not a JSON object"),
    ("rollback", "history.json", b"{bad", "not JSON"),
    ("rollback", "history.json", b'{"v1": 1, "v2": 2}', "not a JSON list of versions"),
    ("rollback", "history.json", b'["../../elsewhere", "v2"]', "not a JSON list of versions"),
    ("promote", "history.json", b"{bad", "not JSON"),
])
def test_a_corrupt_store_file_is_one_line_naming_it(
        store: ModelStore, command: str, name: str, content: bytes, expected: str,
        one_line: Callable[..., None]) -> None:
    """A traceback (JSONDecodeError, AttributeError, UnicodeDecodeError...) before."""
    _promoted_twice(store)
    (store.root / name).write_bytes(content)
    before = _files(store)
    args = ["model", command] + (["v1"] if command == "promote" else [])
    one_line(runner.invoke(app, args), f"corrupt model store file {store.root / name}", expected)
    assert _files(store) == before


def test_a_rollback_that_fails_leaves_the_store_as_it_was(
        store: ModelStore,
        one_line: Callable[..., None]) -> None:
    """The version to go back to does not load: the store was half changed before (v2 marked
    rolled back and dropped from the history, CURRENT still v2)."""
    _promoted_twice(store)
    with open(store.root / "v1" / "weights.pt", "ab") as weights:
        weights.write(b"corrupt")
    before = _files(store)
    result = runner.invoke(app, ["model", "rollback"])
    assert _files(store) == before
    one_line(result, "cannot roll back to v1", "the store is unchanged", "checksum mismatch")


def test_the_trainer_follows_the_workers_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its LSTM's weekdays are the shop's: the live workers' clock when SALESCAST_UTC_OFFSET
    was not given to it, its own with a warning when it was; the clock it went by while no
    worker is live (a restart) or what they publish cannot be read (a review's findings: it
    fell back to UTC in silence, and a malformed figure stopped it)."""
    from redis.exceptions import ConnectionError as RedisDown

    import stream.monitor
    from models import grid
    from salescast.cli_model import _follow_clock

    live: dict[str, dict[str, str]] = {"w1": {"utc_offset": "32400"}, "old": {}}
    monkeypatch.setattr(stream.monitor, "read_workers", lambda redis, now: live)
    tokyo = _follow_clock(object(), 0, False, (0, None))
    assert tokyo == (32400, None) and grid.utc_offset() == 32400
    clock, told = _follow_clock(object(), 0, True, (0, None))
    assert clock == grid.utc_offset() == 0 and told is not None
    assert told.startswith("the workers lay their buckets on UTC+09:00 but this trainer's")
    live.clear()  # the workers restart: it stays on theirs
    clock, told = _follow_clock(object(), 0, False, tokyo)
    assert clock == grid.utc_offset() == 32400 and "no live worker" in str(told)
    for bad in ("inf", "50460", "x"):  # not whole minutes, nor a number: it stays
        live["w1"] = {"utc_offset": bad}
        clock, told = _follow_clock(object(), 0, False, tokyo)
        assert clock == grid.utc_offset() == 32400 and "unknown" in str(told), bad

    def down(redis: object, now: float) -> dict[str, dict[str, str]]:
        raise RedisDown("refused")

    monkeypatch.setattr(stream.monitor, "read_workers", down)
    assert _follow_clock(object(), 0, False, tokyo)[0] == grid.utc_offset() == 32400
    assert _follow_clock(None, 3600, False, (3600, None)) == (3600, None)
