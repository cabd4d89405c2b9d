"""``salescast backtest``: score the worker's model on real data, the project's panels or the
user's own file (:mod:`models.evaluation.file_panel`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from config import load_settings
from config.paths import expand_user
from salescast.cliutil import (
    ColumnsOption,
    FileOption,
    TimeFormatOption,
    UserError,
    console,
    friendly,
    user_file,
    warn_calendar,
)

__all__ = ["backtest", "bucket_width"]

#: series-buckets above which a file's backtest says it will take a while (Online Retail II
#: by the hour, 94M, took over 5.7 GB: about 60 bytes each)
BIG = 20_000_000
DAY = 86_400


def bucket_width(text: str) -> int:
    """``--bucket``: hour, day, week, month, quarter or a number of seconds (one of theirs;
    :func:`models.evaluation.file_panel.width_of`), a :class:`UserError` otherwise."""
    from models.evaluation.file_panel import width_of

    try:
        return width_of(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@friendly
def backtest(
    panel: Annotated[str | None, typer.Argument(
        help="top500, sampled, tuning or tuning_top (SKUs); countries (the total and each "
             "country: direct, bottom-up and reconciled); pbs or retail (fpp3, monthly), "
             "tourism (fpp3, quarterly), tuning_monthly or tuning_quarterly (other fpp3 files, "
             "where those regimes' defaults are chosen) or hourly (the total and the 20 "
             "largest countries by the hour); default: top500",
        show_default=False)] = None,
    quick: Annotated[bool, typer.Option(help="the first 50 SKUs of the panel (~40 s)")] = False,
    out: Annotated[str, typer.Option(help="the directory the scoreboard is written to "
                                          "(~ expanded); with --file also the forecasts "
                                          "after the file's end")] = "build/backtest",
    peer: Annotated[bool, typer.Option(help="add statsforecast AutoETS, refit at every origin "
                                            "(slow: minutes on --quick, ~1 h on a full panel)")]
    = False,
    lstm: Annotated[bool, typer.Option(help="add the LSTM (refit every 91 days on the past "
                                            "only) and the ensemble blended with it")] = False,
    bank: Annotated[bool, typer.Option(help="only the worker's model, on the bank "
                                            "(seconds, not minutes)")] = False,
    file: FileOption = None,
    bucket: Annotated[str | None, typer.Option(
        help="with --file: the buckets, as the worker's (hour, day, week, month, quarter; "
             "default: a week, month or quarter when the rows come that far apart, else a "
             "day)", show_default=False)] = None,
    columns: ColumnsOption = None,
    time_format: TimeFormatOption = None,
    horizon: Annotated[int | None, typer.Option(
        help="with --file: buckets ahead, 1..400 (default: day 14, hour 24, week 13, month "
             "12, quarter 8)")] = None,
    warmup: Annotated[int | None, typer.Option(
        help="with --file: buckets of history before a series' first origin, a season at "
             "least (default: day 56, hour 672, week 104, month 60, quarter 32)")] = None,
) -> None:
    """Prequential backtest: the models against baselines on a panel of real series.

    Online Retail II daily per SKU (top500, sampled, tuning panels), or another regime:
    fpp3's monthly PBS and retail and quarterly tourism panels, their tuning panels, Online
    Retail II by the hour (all on the bank), or your own history with --file. Examples:
    `salescast backtest tourism --peer`, `salescast backtest --file sales.csv --bucket week`.

    The data comes from the settings' cache (SALESCAST_CACHE), fetched on first use.
    """
    if file is not None:
        if panel is not None or quick or lstm or bank:
            raise UserError("--file is scored on the bank: it takes no panel, --quick, --lstm "
                            "or --bank")
        _check_peer(peer)
        _run_file(file, bucket, columns, time_format, horizon, warmup, _out_dir(out),
                  peer)
        return
    if (bucket, columns, time_format, horizon, warmup) != (None,) * 5:
        raise UserError("--bucket, --columns, --time-format, --horizon and --warmup are for "
                        "--file")
    _run_panel("top500" if panel is None else panel, quick, out, peer, lstm, bank)


def _run_panel(panel: str, quick: bool, out: str, peer: bool, lstm: bool, bank: bool) -> None:
    from models.evaluation.backtest import run_backtest
    from models.evaluation.backtest_panels import PANELS
    from models.evaluation.regimes import REGIME_PANELS
    from sources.online_retail import fetch_dataset

    if panel not in (*PANELS, "countries", *REGIME_PANELS):  # before --out is made
        raise UserError(f"unknown panel {panel!r}; valid: {', '.join(PANELS)}, countries, "
                        f"{', '.join(REGIME_PANELS)} (or --file for your own data)")
    out_dir = _out_dir(out)  # here, not after the run: a bad --out would waste it
    if panel == "countries":
        from models.evaluation.hierarchy_eval import run_countries

        if quick or peer or lstm or bank:  # one fixed protocol: an option would be ignored
            raise UserError("countries takes no --quick, --peer, --lstm or --bank")

        rep, written = run_countries(fetch_dataset(load_settings().data_dir), out_dir)
        print(rep.to_markdown())
        console.print(f"scoreboard written to {escape(str(written))}")
        return
    _check_peer(peer)
    if panel in REGIME_PANELS:
        from models.evaluation.regimes import run_regime

        if quick or lstm:
            raise UserError(f"{panel} runs on the bank only: --quick and --lstm are for the "
                            "daily SKU panels")
        print(run_regime(load_settings().data_dir, panel, out_dir, peer).to_markdown())
        console.print(f"scoreboard written under {escape(str(out_dir))}")
        return
    if bank and lstm:
        raise UserError("--bank runs the worker's model alone: it takes no --lstm")
    console.print(f"backtest {escape(panel)}{' --quick' if quick else ''}"
                  f"{' --bank' if bank else ''}: "
                  f"{'seconds' if bank else '~40 s' if quick else '~10 min'} on one core"
                  f"{', AutoETS adds ~1 h' if peer and not quick else ''}", soft_wrap=True)
    board = run_backtest(fetch_dataset(load_settings().data_dir), panel, quick, out_dir, peer,
                         lstm, bank)
    print(board.to_markdown())
    console.print(f"scoreboard written under {escape(str(out_dir))}")


def _run_file(file: str, bucket: str | None, columns: str | None, time_format: str | None,
              horizon: int | None, warmup: int | None, out_dir: Path, peer: bool) -> None:
    from models.base import BatchForecast
    from models.calendar import use_holidays
    from models.evaluation.file_forecasts import write_forecasts
    from models.evaluation.file_panel import (
        buckets_of,
        read_panel,
        regime_for,
        score_file,
        verdict,
    )
    from models.grid import day_of, use_offset

    settings = load_settings()  # the worker's clock and calendar, as it would bucket the file
    use_offset(settings.utc_offset)
    use_holidays(settings.holidays)
    warn_calendar(settings)
    data = user_file(file, columns, time_format, settings.utc_offset)
    data.price = None  # not scored: a price it cannot read is no reason to stop
    try:
        width = bucket_width(bucket) if bucket is not None else _width_of(data)
        regime = regime_for(width, horizon, warmup)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        with console.status(f"reading {escape(str(data.path))}"):
            series, info = read_panel(data, width)
        unit = "cell" if data.wide else "row"  # (a wide file: a row per series)
        console.print(f"{info.rows:,} {unit}{'s' * (info.rows != 1)} ({info.skipped:,} "
                      f"without a value) of "
                      f"{escape(' / '.join(info.columns))}: {len(series):,} series over "
                      f"{buckets_of(info.buckets, regime)}", soft_wrap=True)
        for note in info.notes:
            console.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
        if (cells := sum(map(len, series.values()))) > BIG:
            console.print(f"[yellow]{cells:,} series-buckets to score: expect minutes and "
                          f"about {cells * 60 // 2**30 + 1} GB of memory[/]", soft_wrap=True)
        final: list[BatchForecast] = []
        board = score_file(series, data.path.name, regime, peer, progress=True,
                           last_day=day_of(info.last) if width == DAY else None, final=final)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(board.to_markdown())
    written = board.write(out_dir, f"backtest-{board.name}")
    console.print(f"[bold]{escape(verdict(board))}[/]", soft_wrap=True)
    console.print(f"scoreboard written to {escape(str(written[0]))}")
    ahead = out_dir / f"forecasts-{board.name.removesuffix('-bank')}.csv"
    write_forecasts(ahead, {k: len(v) for k, v in series.items()}, final[0], info.last, width)
    console.print(f"forecasts of the next {buckets_of(regime.horizon, regime)} after the file's "
                  f"end, {len(series):,} series with 80%/95% bands: {escape(str(ahead))}",
                  soft_wrap=True)


def _width_of(data: Any) -> int:
    """The buckets that suit the file's rows (a week, a month or a quarter when its series'
    rows come that far apart, else a day: :func:`models.grid.width_for`), said. A monthly
    file scored by the day read "0.513 of seasonal naive", every bucket but one a zero."""
    from models import grid
    from models.evaluation.file_panel import REGIMES

    with console.status(f"reading {escape(str(data.path))} for the spacing of its rows"):
        times: dict[str, list[float]] = {}
        for row in data:
            times.setdefault(row.series, []).append(row.ts)
    width = grid.width_for(times.values())
    unit = REGIMES[width].bucket
    console.print(f"buckets of a {unit}: your file's rows come a {unit} apart or so "
                  "(--bucket chooses another)", soft_wrap=True)
    return width


def _check_peer(peer: bool) -> None:
    if peer:
        try:
            import statsforecast  # noqa: F401
        except ImportError:
            raise UserError("--peer needs statsforecast: pip install 'salescast[bench]'") from None


def _out_dir(out: str) -> Path:
    """``--out`` with ``~`` expanded, created; a :class:`UserError` when it is empty (not the
    current directory: name it ``.``) or cannot be created."""
    if not out.strip():
        raise UserError("--out must name a directory, got '' (use . for this one)")
    try:
        path = expand_user(out)
        path.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:  # ~nouser
        raise UserError(f"--out {out}: {exc}") from None
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
    return path
