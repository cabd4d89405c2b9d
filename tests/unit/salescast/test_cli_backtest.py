"""The user's own file: ``salescast backtest --file`` scores it, ``replay --file`` and
``demo --file`` stream it; bad input is one line, before any service is asked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from salescast.cli import app
from salescast.cli_backtest import bucket_width
from salescast.cliutil import UserError

runner = CliRunner()


def _never(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("reached: the bad argument was not refused first")


def _weekly_file(tmp_path: Path) -> Path:
    rows = ["sku,date,qty"]
    for week in range(70):
        for sku in ("A", "B"):
            day = 19_000 + 7 * week  # a Thursday: the worker's weeks start on one
            qty = (week % 4) + (week % 7 == 3) * 2 + (sku == "B") * 3  # no 52-week repeat
            rows.append(f"{sku},{day * 86400 + 3600},{qty}")
    path = tmp_path / "my sales.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_without_bucket_a_file_is_scored_in_the_buckets_its_rows_suit(tmp_path: Path) -> None:
    """It was scored by the day whatever its rows' spacing: a monthly file read "0.513 of
    seasonal naive", with every bucket but one a zero (a probe)."""
    result = runner.invoke(app, ["backtest", "--file", str(_weekly_file(tmp_path)),
                                 "--horizon", "4", "--warmup", "52", "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "buckets of a week: your file's rows come a week apart or so (--bucket chooses " \
           "another)" in said
    assert "2 series over 70 buckets of a week" in said


def test_a_wide_file_is_scored_as_its_long_form(tmp_path: Path) -> None:
    """A spreadsheet's row per series and column per week scores what the same sales, a row
    per sale, score."""
    long = _weekly_file(tmp_path)
    cells: dict[str, dict[str, str]] = {}
    for line in long.read_text().splitlines()[1:]:
        sku, ts, qty = line.split(",")
        day = time.strftime("%Y-%m-%d", time.gmtime(int(ts)))
        cells.setdefault(sku, {})[day] = qty
    days = list(cells["A"])
    wide = tmp_path / "wide.csv"
    wide.write_text("sku," + ",".join(days) + "\n" + "".join(
        f"{sku}," + ",".join(row[d] for d in days) + "\n" for sku, row in cells.items()))
    report = tmp_path / "report.csv"  # as exported: a title above, a row of totals below
    report.write_text("Weekly sales" + "," * len(days) + "\n" + wide.read_text() + "Total," +
                      ",".join("1" for _ in days) + "\n")
    said = []
    for path in (long, wide, report):
        result = runner.invoke(app, ["backtest", "--file", str(path), "--bucket", "week",
                                     "--horizon", "4", "--warmup", "52", "--out",
                                     str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        said.append(" ".join(result.output.split()))
    assert "140 cells (0 without a value) of sku / 70 columns " in said[1]
    verdict = [s[s.index("the worker's model: "):].split(" (lower")[0] for s in said]
    assert verdict[0] == verdict[1] == verdict[2] and "of seasonal naive's error" in verdict[0]
    assert "skipped 1 line(s) above the header ('Weekly sales" in said[2]
    assert "left out 1 rows of totals" in said[2]


def test_the_forecasts_after_the_file_s_end_are_written(tmp_path: Path) -> None:
    """What the model forecasts after the file's last week, a row per series and step, in
    bands that hold the forecast, dated the weeks after the file's last."""
    import csv

    result = runner.invoke(app, ["backtest", "--file", str(_weekly_file(tmp_path)), "--bucket",
                                 "week", "--horizon", "4", "--warmup", "52", "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "forecasts of the next 4 buckets of a week after the file's end, 2 series" in " ".join(
        result.output.split())
    with (tmp_path / "out" / "forecasts-my_sales_csv-week.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["series"], r["step"]) for r in rows] == [(s, str(k)) for s in ("A", "B")
                                                         for k in range(1, 5)]
    last = time.strftime("%Y-%m-%d", time.gmtime((19_000 + 7 * 69 - 3) * 86400))  # a Monday
    assert rows[0]["start"] > last and len({r["start"] for r in rows}) == 4
    for r in rows:
        lo95, lo, y, hi, hi95 = (float(r[k]) for k in ("lo95", "lo80", "forecast", "hi80", "hi95"))
        assert lo95 <= lo <= y <= hi <= hi95 and float(r["mean"]) >= 0 and r["history"] == "70"
    assert {float(r["forecast"]) for r in rows if r["series"] == "B"} != {
        float(r["forecast"]) for r in rows if r["series"] == "A"}


def test_a_file_is_scored_and_its_scoreboard_written(tmp_path: Path) -> None:
    path = _weekly_file(tmp_path)
    result = runner.invoke(app, ["backtest", "--file", str(path), "--bucket", "week",
                                 "--horizon", "4", "--warmup", "52", "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "140 rows (0 without a value) of sku / date / qty: 2 series over 70 buckets of a " \
           "week" in result.output
    assert "### my_sales_csv-week-bank: 2 series" in result.output and "h = 1..4" in result.output
    said = " ".join(result.output.split())
    assert "the worker's model: " in said and "of seasonal naive's error" in said
    board = (tmp_path / "out" / "backtest-my_sales_csv-week-bank.md").read_text()
    assert "| ensemble+holidays |" in board and "series scored: 2 of 2" in board


@pytest.mark.parametrize(("args", "expected"), [
    (["--bucket", "fortnight"], "--bucket must be hour, day, week, month or quarter"),
    (["--columns", "a,b"], "three names"),
    (["--horizon", "0"], "1..400"),
    (["--warmup", "3"], "at least a season"),
    (["--time-format", "%d.%m.%Y"], "does not match --time-format"),
    (["--bucket", "week"], "no series is long enough"),
    (["top500"], "takes no panel"),
    (["--quick"], "takes no panel, --quick"),
])
def test_bad_file_options_are_one_line(tmp_path: Path, args: list[str], expected: str,
                                       one_line: Callable[..., None]) -> None:
    path = tmp_path / "s.csv"
    path.write_text("sku,date,qty\nA,2024-01-01,1\n")
    one_line(runner.invoke(app, ["backtest", "--file", str(path), *args,
                                 "--out", str(tmp_path / "out")]), expected)


def test_a_missing_file_is_one_line(tmp_path: Path, one_line: Callable[..., None]) -> None:
    one_line(runner.invoke(app, ["backtest", "--file", str(tmp_path / "none.csv"), "--out",
                                 str(tmp_path / "out")]), "none.csv: no such file")


@pytest.mark.parametrize("option", [["--bucket", "week"], ["--columns", "a,b,c"],
                                    ["--horizon", "3"], ["--time-format", "%Y"]])
def test_file_options_without_a_file_are_refused(
        option: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", _never)
    one_line(runner.invoke(app, ["backtest", *option, "--out", str(tmp_path / "out")]),
             "are for --file")


def test_bucket_names_and_seconds() -> None:
    assert [bucket_width(b) for b in ("Hour", "day", "2629800", " quarter ")] == [
        3600, 86400, 2629800, 7889400]
    with pytest.raises(UserError):
        bucket_width("7200")


@pytest.mark.parametrize(("argv", "expected"), [
    (["replay", "--columns", "a,b,c"], "are for --file"),
    (["replay", "--file", "{f}", "--by-country"], "--by-country is for Online Retail II"),
    (["replay", "--file", "{f}", "--columns", "sku,date,nope"], "no column 'nope'"),
    (["replay", "--file", "{f}", "--max", "--speed", "5"], "exclude each other"),
    (["replay", "--file", "{bad}"], "kafka at 127.0.0.1:1"),  # before the rows are read
    (["demo", "--file", "{missing}"], "no such file"),
    (["demo", "--time-format", "%Y"], "are for --file"),
])
def test_replay_and_demo_check_the_file_before_any_service(
        argv: list[str], expected: str, tmp_path: Path, closed_services: None,
        one_line: Callable[..., None]) -> None:
    """The file's header is read (and refused) before Kafka is asked, its rows after: the
    services are closed here."""
    good, bad = tmp_path / "s.csv", tmp_path / "bad.csv"
    good.write_text("sku,date,qty\nA,2024-01-01,1\n")
    bad.write_text("sku,date,qty\nA,2024-01-01,1\nA,2024-01-02,x\n")
    names = {"{f}": str(good), "{bad}": str(bad), "{missing}": str(tmp_path / "no.csv")}
    one_line(runner.invoke(app, [names.get(a, a) for a in argv]), expected)


def test_replay_says_which_rows_the_worker_will_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file is not held to the event contract until it is streamed: the replay says first
    what will be dead letters (fpp3's retail file: 25,089 months before 2000, 11,547 keys of
    state and industry over 64 characters)."""
    path = tmp_path / "s.csv"
    path.write_text(f"sku,date,qty\nA,1990-01-01,1\nA,2024-01-01,2\n{'X' * 70},2024-01-02,3\n")
    from salescast.cli import _events

    events = _events(str(path), None, None, None)  # what replay and demo send
    assert events is not None and len(events) == 3
    out = " ".join(capsys.readouterr().err.split())
    assert "2 of 3 events break the event contract and will be dead letters" in out
    assert "1: ts must be seconds since the epoch between 2000-01-01" in out
    assert "1: series must be at most 64 chars" in out and "a shorter key with --columns" in out


@pytest.mark.parametrize(("args", "expected"), [
    ([""], "unknown panel ''"),
    (["--bucket", "day"], "--bucket, --columns, --time-format, --horizon and --warmup are for "
                          "--file"),
    (["--file", ""], "--file needs a path, got ''"),
    (["--file", "x.csv", "--time-format", ""], "--time-format needs a format"),
])
def test_arguments_that_started_the_full_panel_are_refused(
        args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        one_line: Callable[..., None]) -> None:
    """An empty panel name and a --bucket without --file each ran top500 (~10 min) silently."""
    monkeypatch.setattr("models.evaluation.backtest.run_backtest", _never)
    one_line(runner.invoke(app, ["backtest", *args, "--out", str(tmp_path / "out")]), expected)


def test_a_panel_run_says_what_it_does_and_how_long_it_takes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a terminal the progress bar is not drawn: a full panel ran ~10 min in silence."""
    from models.evaluation.scoreboard import Scoreboard

    monkeypatch.setattr("models.evaluation.backtest.run_backtest",
                        lambda *a, **k: Scoreboard("top500", 0, 0, []))
    monkeypatch.setattr("sources.online_retail.fetch_dataset", lambda *a, **k: tmp_path)
    result = runner.invoke(app, ["backtest", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "backtest top500: ~10 min on one core" in result.output


def test_a_daily_file_is_scored_on_the_calendar_the_worker_would_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SALESCAST_HOLIDAYS`` dates a daily file's backtest as it dates the worker's rows: a
    shop shut on US holidays scores better on their calendar than on England's."""
    from models.calendar import DEFAULT_HOLIDAYS, is_holiday_day, use_holidays

    use_holidays("US")
    rows = ["sku,date,qty"] + [f"A,{d * 86400 + 3600},{0 if is_holiday_day(d) else 9}"
                               for d in range(19_300, 20_000)]
    use_holidays(DEFAULT_HOLIDAYS)
    path = tmp_path / "us.csv"
    path.write_text("\n".join(rows) + "\n")
    maes = {}
    try:
        for code in ("US", "GB-ENG"):
            monkeypatch.setenv("SALESCAST_HOLIDAYS", code)
            result = runner.invoke(app, ["backtest", "--file", str(path), "--bucket", "day",
                                         "--out", str(tmp_path / code)])
            assert result.exit_code == 0, result.output
            lines = (tmp_path / code / "backtest-us_csv-day-bank.md").read_text().splitlines()
            head = [c.strip() for c in next(x for x in lines if x.startswith("| model |"))
                    .split("|")]
            row = [c.strip() for c in next(x for x in lines if "| ensemble+holidays |" in x)
                   .split("|")]
            maes[code] = float(row[head.index("MAE")])
    finally:
        use_holidays(DEFAULT_HOLIDAYS)
    assert maes["US"] < 0.5 * maes["GB-ENG"], maes


def test_a_shop_off_utc_on_england_s_holidays_is_told(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe: a New York shop that set only its clock scored 0.766 of seasonal naive's
    error on England's holidays, 0.657 on its own, and nothing said why."""
    path = tmp_path / "ny.csv"
    path.write_text("sku,date,qty\n" + "".join(f"A,{d * 86400 + 3600},{d % 7}\n"
                                               for d in range(19_300, 19_400)))
    monkeypatch.setenv("SALESCAST_UTC_OFFSET", "-05:00")
    result = runner.invoke(app, ["backtest", "--file", str(path), "--bucket", "day",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert ("the shop's clock is UTC-05:00 but its holidays are England's (the default): set "
            "SALESCAST_HOLIDAYS") in " ".join(result.output.split())
    monkeypatch.setenv("SALESCAST_HOLIDAYS", "US")
    told = runner.invoke(app, ["backtest", "--file", str(path), "--bucket", "day",
                               "--out", str(tmp_path / "out")])
    assert told.exit_code == 0 and "England's" not in told.output
