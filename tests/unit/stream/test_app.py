"""The worker's Faust app and its ``Worker``."""

from __future__ import annotations

import gc
import io
import logging
from collections.abc import Iterator

import pytest
from faust.utils.terminal import SpinnerHandler

from stream import heap
from stream.app import Worker, create_app


@pytest.fixture(autouse=True)
def _gc_thresholds() -> Iterator[None]:
    """A worker made here sets the collector's thresholds: put them back."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, restored after the test (Faust's logging setup replaces it)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("loglevel, expected", [("warning", logging.WARNING),
                                                ("error", logging.ERROR)])
def test_started_worker_does_not_build_debug_records(root_logger: logging.Logger,
                                                     loglevel: str, expected: int) -> None:
    app = create_app("test-worker-logging", "127.0.0.1:1")
    worker = Worker(app, loglevel=loglevel, stdout=io.StringIO(), stderr=io.StringIO())
    worker._setup_logging()
    # what Faust does for its startup spinner (at warning and above): every debug record
    # reaches a handler
    assert root_logger.isEnabledFor(logging.DEBUG)
    assert any(isinstance(h, SpinnerHandler) for h in root_logger.handlers)

    worker._on_startup_end_spinner()

    assert root_logger.level == expected
    assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    assert not any(isinstance(h, SpinnerHandler) for h in root_logger.handlers)
    assert logging.getLogger("faust.topics").isEnabledFor(expected)


def test_a_worker_tunes_the_garbage_collector_for_long_lived_objects() -> None:
    gc.set_threshold(700, 10, 10)  # Python's default
    try:
        Worker(create_app("test-worker-gc", "127.0.0.1:1"), stdout=io.StringIO(),
               stderr=io.StringIO())
        assert gc.get_threshold() == heap.THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        heap.restore((700, 10, 10))


def test_a_stop_signal_arms_an_exit_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM while the broker was paused held the worker's stop for the whole pause (90 s
    and more in a fault probe): the first stop signal now bounds the stop."""
    import signal

    import faust

    from stream import app as app_module

    armed: list[float] = []
    monkeypatch.setattr(app_module, "exit_after", lambda seconds, why: armed.append(seconds))
    monkeypatch.setattr(faust.Worker, "_schedule_shutdown",
                        lambda self, sig: setattr(self, "_signal_stop_time", 1.0))
    worker = object.__new__(app_module.Worker)  # no start: only the signal path
    worker._signal_stop_time = None
    worker._schedule_shutdown(signal.SIGTERM)
    worker._schedule_shutdown(signal.SIGTERM)  # a second signal: no second timer
    assert armed == [app_module.STOP_GRACE_S]
