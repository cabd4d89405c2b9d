"""The CLI's front door: helpful --help, one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from config import Settings
from salescast.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "backtest", "bench", "token"):
        assert command in result.output
    assert runner.invoke(app, ["-h"]).output == result.output
    assert runner.invoke(app, ["model", "-h"]).exit_code == 0


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"salescast {version('salescast')}\n"


def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    """``salescast ARGV`` through the entry point: its exit status, stdout and stderr."""
    from salescast.cli import main

    monkeypatch.setattr("sys.argv", ["salescast", *argv])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize("argv", [[], ["model"]])
def test_a_command_group_alone_prints_its_help_and_no_empty_error(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``salescast`` alone printed its help and then ``salescast:  (see --help)``."""
    code, out, err = _main(argv, monkeypatch, capsys)
    assert code == 2  # click's status: no command ran
    assert "Usage: " in out and "Commands" in out  # (the program name: python -m pytest here)
    assert "salescast:" not in err and not err.strip(), err


def test_unknown_panel_is_one_line_not_a_traceback() -> None:
    result = runner.invoke(app, ["backtest", "everything"])
    assert result.exit_code == 2
    assert "unknown panel 'everything'" in result.output
    assert "Traceback" not in result.output


def test_out_of_range_option_is_a_usage_error() -> None:
    result = runner.invoke(app, ["bench", "models", "--series", "3"])
    assert result.exit_code == 2 and "Traceback" not in result.output


# -- a bad argument or an unreachable service: one line, exit status 2, checked early ---------
@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home, no services recorded; no Kafka or Redis addresses set."""
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    for name in ("KAFKA_BOOTSTRAP", "REDIS_URL", "SALESCAST_CACHE", "SALESCAST_MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def kafka_down(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka and Redis set, Kafka not answering (a metadata request fails at once)."""
    from confluent_kafka import KafkaError, KafkaException

    class NoKafka:
        def __init__(self, conf: dict[str, object]) -> None:
            pass

        def list_topics(self, *args: object, **kwargs: object) -> object:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))

    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr("confluent_kafka.admin.AdminClient", NoKafka)
    monkeypatch.setattr("confluent_kafka.Consumer", NoKafka)  # the old paths asked it



@pytest.mark.parametrize("args", [["replay", "--speed", "nan"], ["replay", "--speed", "0"],
                                  ["demo", "--speed", "-1"], ["demo", "--speed", "inf"]])
def test_a_bad_speed_is_refused_before_anything_starts(
        args: list[str], env: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("salescast.demo.run_demo", _never)  # the demo starts services
    one_line(runner.invoke(app, args), "--speed must be a finite number > 0")


def test_max_and_speed_together_are_refused(env: Path, one_line: Callable[..., None]) -> None:
    """--max ignored --speed without a word."""
    one_line(runner.invoke(app, ["replay", "--max", "--speed", "5"]),
             "--max and --speed exclude each other")


@pytest.mark.parametrize("command", ["replay", "demo"])
def test_an_envelope_over_the_wire_limit_is_a_usage_error(command: str, env: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("salescast.demo.run_demo", _never)
    result = runner.invoke(app, [command, "--envelope", "10001"])
    assert result.exit_code == 2 and "--envelope" in result.output, result.output


def test_replay_keeps_librdkafka_quiet(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port: one line, not librdkafka's ~200 connection-refused lines."""
    seen: dict[str, object] = {}

    def replay(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: env / "data")
    monkeypatch.setattr("sources.online_retail.iter_events", lambda *a, **k: iter(()))
    monkeypatch.setattr("stream.replay.replay", replay)
    assert runner.invoke(app, ["replay", "--limit", "5"]).exit_code == 0
    assert seen["config"] == {"log_level": 0} and seen["speed"] == 86400.0  # a day a second
    monkeypatch.setenv("SALESCAST_BUCKET_SECONDS", "month")  # a monthly worker's replay
    assert runner.invoke(app, ["replay", "--limit", "5"]).exit_code == 0
    assert seen["speed"] == 1_314_900.0  # half a month a second, not 30 min for 5 years


def test_a_bad_loglevel_is_refused_before_kafka_is_asked(
        env: Path,
        one_line: Callable[..., None]) -> None:
    one_line(runner.invoke(app, ["worker", "--loglevel", "loud"]), "--loglevel must be one of")


@pytest.mark.parametrize("args", [["worker"], ["trainer", "--once"],
                                  ["alerts", "tail", "--idle", "0.5", "--max", "1"]])
def test_kafka_not_answering_is_one_line(args: list[str], kafka_down: None,
                                         monkeypatch: pytest.MonkeyPatch,
                                         one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("stream.agents.build_worker", _never)  # Faust would print a traceback
    one_line(runner.invoke(app, args), "kafka at 127.0.0.1:1 does not answer")


def test_a_monitor_interval_too_long_to_sleep_is_a_usage_error(env: Path) -> None:
    result = runner.invoke(app, ["monitor", "--interval", "inf"])
    assert result.exit_code == 2 and "--interval" in result.output, result.output


def test_an_unknown_real_panel_is_refused_before_the_synthetic_run(
        env: Path, monkeypatch: pytest.MonkeyPatch, one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("models.evaluation.anomaly_eval.evaluate_synthetic", _never)
    one_line(runner.invoke(app, ["alerts", "eval", "--real", "top5"]), "unknown panel 'top5'")


@pytest.mark.parametrize("out", ["a-file", "a-file/below"])
def test_an_unwritable_backtest_out_is_refused_before_the_run(
        out: str, env: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    (env / "a-file").write_text("")
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: env / "data")
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", _never)
    one_line(runner.invoke(app, ["backtest", "--bank", "--out", str(env / out)]),
              "cannot create the directory")


@pytest.mark.parametrize("out", ["", "  ", "~salescast-no-such-user/out"])
def test_an_empty_backtest_out_or_one_of_no_user_is_refused(
        out: str, env: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    """``--out ''`` wrote the scoreboard into the current directory."""
    monkeypatch.chdir(env)
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: env / "data")
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", _never)
    one_line(runner.invoke(app, ["backtest", "--bank", "--out", out]),
              "must name a directory" if not out.strip() else "no such user")


def test_backtest_out_expands_the_home(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def run_backtest(data: Path, panel: str, quick: bool, out: Path, *rest: object) -> object:
        seen.append(out)
        return type("Board", (), {"to_markdown": lambda self: "board"})()

    monkeypatch.chdir(env)
    monkeypatch.setenv("HOME", str(env / "user"))
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: env / "data")
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", run_backtest)
    result = runner.invoke(app, ["backtest", "--bank", "--out", "~/boards"])
    assert result.exit_code == 0, result.output
    assert seen == [env / "user" / "boards"] and seen[0].is_dir()
    assert not (env / "~").exists()


def test_a_path_setting_that_cannot_be_a_directory_is_one_line(
        env: Path, monkeypatch: pytest.MonkeyPatch, one_line: Callable[..., None]) -> None:
    (env / "a-file").write_text("")
    monkeypatch.setenv("SALESCAST_CACHE", str(env / "a-file" / "below"))  # nothing downloads:
    one_line(runner.invoke(app, ["data", "fetch"]), str(env / "a-file"))  # mkdir fails first


def test_an_os_error_without_a_path_is_not_hidden() -> None:
    from salescast.cliutil import friendly

    @friendly
    def broken() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(ConnectionResetError):
        broken()


def _never(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("reached: the bad argument was not refused first")


@pytest.mark.parametrize("args", [["countries", "--quick"], ["countries", "--peer"],
                                  ["countries", "--bank"], ["top500", "--bank", "--lstm"]])
def test_backtest_options_a_panel_would_ignore_are_refused(
        args: list[str], env: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: env / "data")
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", _never)
    monkeypatch.setattr("models.evaluation.hierarchy_eval.run_countries", _never)
    one_line(runner.invoke(app, ["backtest", *args, "--out", str(env / "out")]), "takes no")


@pytest.mark.parametrize("args", [["hourly", "--quick"], ["pbs", "--lstm"]])
def test_regime_panels_refuse_the_daily_panels_options(
        args: list[str], env: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("models.evaluation.regimes.run_regime", _never)
    one_line(runner.invoke(app, ["backtest", *args, "--out", str(env / "out")]),
              "are for the daily SKU panels")


def test_a_monitor_whose_every_poll_failed_is_not_a_success(
        env: Path, monkeypatch: pytest.MonkeyPatch, one_line: Callable[..., None]) -> None:
    from stream.monitor import LagMonitor

    def poll(self: LagMonitor) -> NoReturn:
        raise ConnectionError("kafka at 127.0.0.1:1 is down")

    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr("infra.kafka_client.unreachable", lambda bootstrap: None)  # it was
    monkeypatch.setattr(LagMonitor, "__init__", lambda self, *a, **k: None)  # up at start
    monkeypatch.setattr(LagMonitor, "poll", poll)
    monkeypatch.setattr(LagMonitor, "close", lambda self: None)
    one_line(runner.invoke(app, ["monitor", "--count", "2", "--interval", "0.1"]),
              "no snapshot published: every poll failed (kafka at 127.0.0.1:1 is down)")


def test_a_monitor_fails_at_once_when_kafka_is_down_at_start(
        closed_services: None, one_line: Callable[..., None]) -> None:
    """It retried for --give-up (60 s) with a log line every 10 s, where every other command
    said it in a second."""
    one_line(runner.invoke(app, ["monitor"]), "kafka at 127.0.0.1:1 does not answer",
             "salescast services up")


def test_a_worker_creates_missing_topics_with_its_own_partition_count(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to the broker, a worker's first subscription created the events topic with the
    broker's num.partitions (8) while the changelog got SALESCAST_PARTITIONS (4): the worker
    crashed at its first commit, and every restart was refused."""
    created: list[int] = []
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("SALESCAST_PARTITIONS", "4")
    monkeypatch.setattr("salescast.cli.kafka_topics", lambda bootstrap: {})
    monkeypatch.setattr("infra.services.create_topics",
                        lambda bootstrap, settings: created.append(settings.partitions))
    monkeypatch.setattr("stream.agents.build_worker", _never)
    result = runner.invoke(app, ["worker"])
    assert created == [4]
    assert isinstance(result.exception, AssertionError)  # went on to build the worker


@pytest.mark.parametrize(("dates", "width", "speed"), [
    ([f"2024-01-{d:02d}" for d in range(1, 29)], 86400, 43200.0),
    ([f"2024-{m:02d}-01" for m in range(1, 13)], 2_629_800, 1_314_900.0),
    ([f"{y} Q{q}" for y in (2022, 2023) for q in (1, 2, 3, 4)], 7_889_400, 3_944_700.0),
])
def test_demo_of_a_file_buckets_it_as_its_rows_come(
        dates: list[str], width: int, speed: float, env: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A monthly file ran in daily buckets (a day of sales, then 29 zeros) unless the user
    knew to set SALESCAST_BUCKET_SECONDS and --speed."""
    seen: dict[str, object] = {}

    def run_demo(settings: Settings, **kwargs: object) -> None:
        seen.update(kwargs, width=settings.bucket_seconds, horizon=settings.horizon)

    monkeypatch.delenv("SALESCAST_BUCKET_SECONDS", raising=False)
    monkeypatch.setattr("salescast.demo.run_demo", run_demo)
    path = tmp_path / "sales.csv"
    path.write_text("sku,date,qty\n" + "".join(f"A,{d},1\n" for d in dates))
    result = runner.invoke(app, ["demo", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert (seen["width"], seen["speed"]) == (width, speed)
    assert seen["horizon"] == {86400: 14, 2_629_800: 12, 7_889_400: 8}[width]  # the backtest's
    monkeypatch.setenv("SALESCAST_BUCKET_SECONDS", "86400")  # the user's choice stands
    assert runner.invoke(app, ["demo", "--file", str(path)]).exit_code == 0
    assert (seen["width"], seen["speed"]) == (86400, 43200.0)


def test_demo_of_weekly_series_that_each_sell_on_their_own_weekday_is_weekly(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file with a row every day, each series once a week: the width came from all the
    times together (a day apart), not series by series."""
    seen: dict[str, object] = {}
    monkeypatch.delenv("SALESCAST_BUCKET_SECONDS", raising=False)
    monkeypatch.setattr("salescast.demo.run_demo",
                        lambda settings, **kw: seen.update(width=settings.bucket_seconds))
    path = tmp_path / "weekly.csv"
    path.write_text("sku,date,qty\n" + "".join(
        f"S{d},2024-{1 + (d + 7 * k) // 31:02d}-{1 + (d + 7 * k) % 31:02d},1\n"
        for d in range(7) for k in range(4)))
    assert runner.invoke(app, ["demo", "--file", str(path)]).exit_code == 0
    assert seen["width"] == 604_800


def test_options_of_bench_alone_are_refused_before_a_subcommand(
        env: Path, monkeypatch: pytest.MonkeyPatch, one_line: Callable[..., None]) -> None:
    """`bench --events 5000 gateway` ran the gateway benchmark and dropped --events unsaid."""
    monkeypatch.setattr("benchmarks.gateway_fanout.run_gateway_bench", _never)
    one_line(runner.invoke(app, ["bench", "--events", "5000", "--rounds", "2", "gateway"]),
             "--events, --rounds are for `salescast bench` alone",
             "`salescast bench gateway --help`")
    ran: list[object] = []
    monkeypatch.setattr("benchmarks.gateway_fanout.run_gateway_bench",
                        lambda *a: ran.append(a))
    assert runner.invoke(app, ["bench", "gateway", "--seconds", "1"]).exit_code == 0
    assert ran


def test_sigterm_stops_a_command_that_started_processes_as_ctrl_c_does() -> None:
    """`timeout`, `kill` and service managers send SIGTERM: `bench gateway` left its Redis and
    gateway running, orphaned."""
    import signal
    import time

    from salescast.cliutil import stop_on_term

    before = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_term()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at once: never reached
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["token"]])
def test_output_to_a_full_disk_is_one_line_not_a_traceback(args: list[str]) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "salescast", *args], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "SALESCAST_AUTH_SECRET": "k"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "salescast: cannot write the output: No space left on device"


def test_a_misspelt_setting_is_named_before_the_command_runs(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SALESCAST_HORZION=7 was ignored without a word and the horizon stayed 14."""
    from salescast.cli import main

    monkeypatch.setenv("SALESCAST_HORZION", "7")
    monkeypatch.setattr("sys.argv", ["salescast", "--version"])
    with pytest.raises(SystemExit):
        main()
    err = capsys.readouterr().err
    assert "SALESCAST_HORZION is not a salescast setting (did you mean SALESCAST_HORIZON?)" in err


@pytest.mark.parametrize(("args", "expected"), [
    (["replay", "--file", "/nonexistent.csv"], "/nonexistent.csv: no such file"),
    (["gateway", "--host", ""], "--host must not be empty"),
])
def test_a_bad_argument_is_named_before_the_missing_services(
        args: list[str], expected: str, env: Path, one_line: Callable[..., None]) -> None:
    """With no services up, these said "no Kafka/Redis address" and hid the typo."""
    one_line(runner.invoke(app, args), expected)


@pytest.mark.parametrize("argv", [["token", "--ttl", "nan"], ["monitor", "--interval=-inf"]])
def test_a_number_that_is_not_finite_is_named_as_such(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """typer checked ``nan`` against the option's range: "should be less than or equal"."""
    code, out, err = _main(argv, monkeypatch, capsys)
    assert code == 2
    assert f"{argv[-1].rpartition('=')[2]} is not a finite number" in " ".join((out + err).split())
    assert "less than" not in out + err
