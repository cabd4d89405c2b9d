"""``salescast trainer`` and ``salescast model list|promote|rollback``: the LSTM's life cycle."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from salescast.cliutil import (
    UserError,
    friendly,
    kafka_topics,
    load_settings,
    settings_with_services,
)

__all__ = ["model_app", "trainer"]

model_app = typer.Typer(no_args_is_help=True,
                        help="The LSTM model store: list, promote, roll back.")
console = Console(stderr=True)
out = Console()


def _redis(url: str | None) -> Any:
    if not url:
        return None
    from redis import Redis

    return Redis.from_url(url)


def _follow_clock(redis: Any, own: int, explicit: bool,
                  last: tuple[int, str | None]) -> tuple[int, str | None]:
    """Lay the trainer's grid on the live workers' clock before a training (:func:`config.
    calendar.clock_to_follow`: theirs unless SALESCAST_UTC_OFFSET was given), so the LSTM's
    weekdays are the shop's. ``last``: the clock it went by and the line it printed last (a
    line is printed once). With no live worker (a restart, Redis away) or a clock it cannot
    read, it keeps the clock it went by."""
    from redis.exceptions import RedisError

    from config.calendar import clock_to_follow, offset_text
    from models.grid import use_offset
    from stream.monitor import read_workers

    clock, told = last
    line: str | None = None
    try:
        workers = {int(float(f["utc_offset"])) for f in read_workers(redis, time.time()).values()
                   if "utc_offset" in f} if redis is not None else set()
        if workers or explicit:
            clock, line = clock_to_follow(own, explicit, workers, "this trainer",
                                          "the LSTM would learn each day as another weekday")
        elif redis is not None:
            line = f"no live worker says its clock: the trainer stays on {offset_text(clock)}"
        use_offset(clock)
    except (RedisError, OSError, ValueError, OverflowError) as exc:
        clock, line = last[0], f"the workers' clock is unknown ({exc}): the trainer stays on " \
                               f"{offset_text(last[0])}"
        use_offset(clock)
    if line is not None and line != told:
        console.print(f"[yellow]{escape(line)}[/]")
    return clock, line


@friendly
def trainer(
    every: Annotated[float, typer.Option(min=5, max=86400, help="seconds between trainings")
                     ] = 300.0,
    min_buckets: Annotated[int, typer.Option(
        min=0, help="new closed buckets needed before retraining")] = 1000,
    min_series: Annotated[int, typer.Option(min=1, help="series with enough history")] = 20,
    budget: Annotated[float, typer.Option(min=5, max=86400,
                                          help="training time budget, seconds")] = 120.0,
    epochs: Annotated[int, typer.Option(min=1, help="at most this many epochs")] = 20,
    once: Annotated[bool, typer.Option(help="train once on what is there, then exit")] = False,
) -> None:
    """Retrain the global LSTM on closed buckets (from the buckets topic), gate, store, announce.

    Every --every seconds, once --min-buckets new buckets arrived, it trains a candidate
    (early stopping, time budget). The gate promotes it only if it beats seasonal naive and
    the current model on the latest held-out window; otherwise it is kept as rejected.
    Workers hot-swap promoted versions; a crashed trainer never affects them.
    Example: `salescast trainer --once` (train on what the buckets topic holds, then exit).
    """
    settings = settings_with_services()  # a bad setting: one line before torch loads (~5 s)
    from models.grid import use_offset
    from models.neural.lstm import LSTMConfig
    from models.neural.store import ModelStore
    from models.neural.trainer import BucketHistory, min_history, reannounce, train_and_gate

    use_offset(settings.utc_offset)  # the workers' grid: months and weekdays of the shop
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = LSTMConfig(horizon=settings.horizon, epochs=epochs)
    need = min_history(cfg, settings.bucket_seconds)
    store = ModelStore(settings.models_dir)
    with _one_line():  # before any training: another trainer on it, a corrupt index file
        held = store.lock()
        for read in (store.current, store.history, store.pinned):
            read()
    redis = _redis(settings.redis)
    history = BucketHistory(settings.bucket_seconds)
    reader = _reader(settings.kafka, settings.buckets_topic)
    console.print(f"trainer: {settings.buckets_topic} -> {escape(str(settings.models_dir))} "
                  f"(every {every:g} s,"
                  f" {min_buckets} new buckets, >= {min_series} series of >= {need} buckets)")
    trained_at = -1
    clock: tuple[int, str | None] = (settings.utc_offset, None)  # its clock, its last line
    explicit = "utc_offset" in settings.model_fields_set  # else the workers' clock is followed
    try:
        while True:
            _drain(reader, history)
            clock = _follow_clock(redis, settings.utc_offset, explicit, clock)  # (the grid)
            with _one_line():
                # what Redis missed or lost: workers serve the store's
                reannounce(store, redis, settings.bucket_seconds)
            fresh = history.buckets - max(trained_at, 0)
            hist = history.histories(need)
            if len(hist) >= min_series and (trained_at < 0 or fresh >= min_buckets):
                console.print(f"training on {len(hist)} series ({history.buckets} buckets) ...")
                with _one_line():
                    outcome = train_and_gate(hist, store, redis, cfg, budget)
                m = outcome.metrics
                verdict = "[green]promoted[/]" if outcome.promoted else "[yellow]rejected[/]"
                console.print(f"{outcome.version}: {verdict}: {outcome.reason} (MASE "
                              f"{m['mase']:.3f}, naive {m['snaive_mase']:.3f}, "
                              f"{m['epochs']} epochs, {m['train_seconds']:.0f} s)")
                trained_at = history.buckets
            elif once:
                raise UserError(f"not enough history yet: {len(hist)} series with >= {need} "
                                f"buckets (need {min_series})")
            if once:
                return
            deadline = time.monotonic() + every
            while time.monotonic() < deadline:
                _drain(reader, history, seconds=1.0)
    finally:
        reader.close()
        held.close()


def _reader(bootstrap: str, topic: str) -> Any:
    """A consumer that reads the whole buckets topic from the start (no group offsets)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    meta = kafka_topics(bootstrap).get(topic)
    if meta is None or meta.error is not None:
        raise UserError(f"topic {topic} does not exist: run `salescast services up` first")
    # an offset that is gone (the topic deleted and made again, retention) reads on from the
    # earliest there is: "latest" skipped what was sent to a topic made again under it
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "salescast-trainer",
                  "enable.auto.commit": False, "fetch.queue.backoff.ms": 100, "log_level": 0,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    return c


def _drain(reader: Any, history: Any, seconds: float = 2.0) -> None:
    """Read what is there (until ``seconds`` pass with nothing new)."""
    idle_until = time.monotonic() + seconds
    while time.monotonic() < idle_until:
        msgs = reader.consume(1000, 0.2)
        for m in msgs:
            if not m.error():
                history.add_message(m.value())
        if msgs:
            idle_until = time.monotonic() + 0.5


def _store() -> Any:
    from models.neural.store import ModelStore

    return ModelStore(load_settings().models_dir)


@model_app.command("list")
@friendly
def model_list() -> None:
    """Every stored version with its status, gate metrics and data window.

    The store is SALESCAST_MODELS_DIR (default: $SALESCAST_HOME/models); `salescast trainer`
    (which `salescast demo` runs) adds versions to it.
    """
    store = _store()
    with _one_line():  # a corrupt index file: one line naming it
        current, pinned = store.current(), store.pinned()
        metas = {v: store.meta(v) for v in store.versions()}
    table = Table(title=f"models in {escape(str(store.root))}")
    for col in ("version", "status", "MASE", "naive MASE", "coverage 80", "series", "reason"):
        table.add_column(col, no_wrap=col == "version")  # whole: it is what promote takes
    for v, meta in metas.items():
        m = meta.get("metrics", {})
        table.add_row(escape(("* " if v == current else "  ") + v),
                      escape(str(meta.get("status", "?"))),
                      _figure(m.get("mase"), 3), _figure(m.get("snaive_mase"), 3),
                      _figure(m.get("coverage"), 2), str(meta.get("window", {}).get("series", "?")),
                      escape(str(meta.get("reason", ""))))
    out.print(table)
    if current is not None and current not in metas:
        out.print(f"[yellow]the current version {escape(current)} is not in the store (its "
                  "directory was deleted?): `salescast model promote` another[/]")
    if pinned is not None:
        out.print(f"pinned to {escape(pinned)} by a rollback: the trainer promotes nothing "
                  "until a version is promoted by hand")
    if not metas:
        out.print("no version yet: `salescast trainer --once` trains one (it needs closed "
                  "buckets on the buckets topic: a worker that ran on data)")


def _figure(value: Any, digits: int) -> str:
    """A metric to ``digits`` decimals; ``nan`` when there is none, ``?`` when not a number."""
    if value is None:
        return "nan"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    return f"{value:.{digits}f}"


@contextmanager
def _one_line() -> Iterator[None]:
    """The model store's errors (a corrupt file, an artifact that does not load, a failed
    write: the store is then unchanged) as one line."""
    from models.neural.store import ArtifactError

    try:
        yield
    except ArtifactError as exc:
        raise UserError(str(exc)) from None


def _announce(store: Any, version: str) -> None:
    """Tell the workers; a Redis that does not answer is one line (the store changed)."""
    from redis.exceptions import RedisError

    redis = _redis(_redis_url())
    if redis is None:
        return
    try:
        store.announce(redis, version, store.meta(version).get("promoted_at"))
    except RedisError as exc:
        raise UserError(f"{version} is current in {store.root}, but Redis does not answer "
                        f"({exc}): the workers are not notified") from None


@model_app.command("promote")
@friendly
def model_promote(version: Annotated[str, typer.Argument(help="a version from `model list`")]
                  ) -> None:
    """Make VERSION current (bypassing the gate) and announce it to the workers.

    Example: `salescast model promote v3` (names from `salescast model list`).
    """
    store = _store()
    if version not in store.versions():
        raise UserError(f"no model {version!r} in {store.root}")
    with _one_line():
        store.promote(version, None, reason="manual")
        window = store.meta(version).get("window", {})
    _announce(store, version)
    console.print(f"{version} is current")
    settings = load_settings()
    for what, theirs, own in (("buckets of", window.get("bucket_seconds"),
                               settings.bucket_seconds),
                              ("the clock of UTC offset", window.get("utc_offset"),
                               settings.utc_offset)):
        if theirs is not None and theirs != own:
            console.print(f"[yellow]it was trained on {what} {theirs} s: workers on {what} "
                          f"{own} s (these settings) refuse it and keep their model[/]")


@model_app.command("rollback")
@friendly
def model_rollback() -> None:
    """Re-promote the version that was current before this one.

    All at once: a failure leaves the store as it was. Example: `salescast model rollback`
    after a promoted version forecast worse than the one before it.
    """
    store = _store()
    with _one_line():
        version = store.rollback(None)
    _announce(store, version)
    console.print(f"rolled back to {version}")


def _redis_url() -> str | None:
    try:
        return settings_with_services(("redis",)).redis
    except Exception:  # no services: the store's files still change, workers see it later
        console.print("[yellow]no Redis: workers are not notified[/]")
        return None
