"""``salescast alerts eval`` and ``salescast monitor``: bad arguments and services that never
answer are one line (``salescast: ...``) and a non-zero exit, never a traceback or a hang."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import pytest
from typer.testing import CliRunner, Result

from salescast.cli import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("closed_services")


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


class _Clock:
    """``time`` for the monitor's loop: sleeping and each poll advance it, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _monitor(monkeypatch: pytest.MonkeyPatch, outcomes: list[bool] | None = None,
             poll_seconds: float = 10.0) -> tuple[_Clock, list[float]]:
    """A monitor whose polls fail (a Kafka that does not answer takes ``poll_seconds``), or
    succeed where ``outcomes`` says True; the times of its polls. It stops (Ctrl-C) after 20
    polls (200 s of failing ones): a monitor that never gives up."""
    from stream.monitor import LagMonitor

    clock, polls = _Clock(), []

    def poll(self: LagMonitor) -> dict[str, object]:
        polls.append(clock.now)
        if len(polls) > 20:
            raise KeyboardInterrupt
        clock.now += poll_seconds
        if outcomes and outcomes[(len(polls) - 1) % len(outcomes)]:
            return {}
        raise ConnectionError("kafka at 127.0.0.1:1 is down")

    monkeypatch.setattr("stream.monitor.time", clock)
    monkeypatch.setattr("infra.kafka_client.unreachable", lambda bootstrap: None)  # up at start
    monkeypatch.setattr(LagMonitor, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(LagMonitor, "poll", poll)
    monkeypatch.setattr(LagMonitor, "publish", lambda self, snap: None)
    monkeypatch.setattr(LagMonitor, "close", lambda self: None)
    return clock, polls



def test_a_monitor_that_never_reaches_kafka_gives_up_after_a_minute_by_default(
        monkeypatch: pytest.MonkeyPatch, one_line: Callable[..., None]) -> None:
    """It retried forever at closed ports before."""
    clock, polls = _monitor(monkeypatch)
    one_line(runner.invoke(app, ["monitor"]),
              "no snapshot published for 60 s, giving up (--give-up): kafka at 127.0.0.1:1")
    assert 60 <= clock.now <= 70 and len(polls) == 6


def test_the_monitor_give_up_time_is_an_option(
        monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    clock, polls = _monitor(monkeypatch, poll_seconds=0.0)
    one_line(runner.invoke(app, ["monitor", "--give-up", "5", "--interval", "0.5"]),
              "no snapshot published for 5 s")
    assert clock.now == pytest.approx(5.0) and len(polls) == 11
    help_ = runner.invoke(app, ["monitor", "--help"], env={"COLUMNS": "200"}).output
    assert "--give-up" in help_ and "0: retry forever" in help_ and "60" in help_


def test_a_monitor_that_publishes_now_and_then_keeps_going(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures between published snapshots, each run shorter than --give-up: no exit."""
    clock, polls = _monitor(monkeypatch, outcomes=[False] * 5 + [True])
    result = runner.invoke(app, ["monitor", "--count", "18"])
    assert result.exit_code == 0, result.output
    assert len(polls) == 18 and clock.now == pytest.approx(180.0)


def test_give_up_zero_retries_until_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, polls = _monitor(monkeypatch)
    result = runner.invoke(app, ["monitor", "--give-up", "0"])
    assert result.exit_code == 130 and len(polls) == 21, result.output


def test_an_alert_line_shows_a_series_with_markup_in_its_name_as_it_is() -> None:
    """Series ids come from producers; '[/]' in one made rich raise in `alerts tail`."""
    from io import StringIO

    from rich.console import Console

    from salescast.cli_ops import alert_line

    alert = {"severity": "warning", "state": "open", "kind": "spike", "series": "A[/]b",
             "bucket": 86400, "actual": 9.0, "expected": 1.0, "lo95": 0.0, "hi95": 2.0,
             "score": 4.5, "id": "x"}
    out = StringIO()
    Console(file=out, width=200).print(alert_line(alert))
    assert "A[/]b" in out.getvalue()


@pytest.mark.parametrize("groups", [[""], [" ", "salescast-worker"]])
def test_an_empty_monitor_group_is_refused_before_kafka_sees_it(
        groups: list[str], one_line: Callable[..., None]) -> None:
    """confluent-kafka's consumer aborted the process (an assertion in its C code) on ''."""
    argv = ["monitor"] + [arg for g in groups for arg in ("--group", g)]
    one_line(runner.invoke(app, argv), "--group must name a consumer group")
