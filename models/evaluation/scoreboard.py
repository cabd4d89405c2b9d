"""The backtest's result: one row per model, a markdown table and (optionally) PNG plots.

A :class:`Row` is computed from per-series :class:`~models.evaluation.metrics.Tally` objects:
MASE and RMSSE are averaged over series (each scaled by its own seasonal-naive error over the
whole series), the rest is pooled over all points. Beside them, the way forecasting
competitions (M4, M5) scale: ``MASE is`` is the mean over series of MASE with each origin's
*in-sample* scale (the history up to that origin), and ``gm rel. sN`` the geometric mean over
series of the ratio of that MASE to seasonal naive's on the same series (a handful of series
with a tiny early scale dominate a mean of ratios, not a geometric mean). :class:`Scoreboard`
renders the rows relative to ``seasonal_naive`` and writes ``{stem}.md``; with matplotlib
installed it also writes ``{stem}-horizon.png`` (MASE by horizon) and, when it keeps examples,
``{stem}-examples.png`` (actuals, ensemble forecasts and bands).

>>> from models.evaluation.metrics import Tally
>>> t = Tally(horizon=1)
>>> t.add([2.0], [1.0], {0.8: [0.0], 0.95: [0.0]}, {0.8: [3.0], 0.95: [4.0]}, scale=0.5)
>>> naive = Tally(horizon=1); naive.add([2.0], [0.0], scale=0.5)
>>> row = Row.from_tallies("m", [(t, 2.0, 4.0)], cpu=0.5, baseline=[naive])
>>> row.mase, row.rmsse, row.coverage80, row.width95, row.mase_is, row.gmean_rel_is
(0.5, 0.5, 1.0, 4.0, 2.0, 0.5)
>>> print(Scoreboard("toy", 1, 1, [row]).to_markdown().splitlines()[4].replace(" |", "|"))
| m| 0.500| -| 2.000| 0.500| 0.500| 1.00| 1.00| -1.00| 66.7| 1.00| 3.00| 1.00| 4.00| 0.5|
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.evaluation.metrics import Tally

__all__ = ["Row", "Scoreboard"]

BASELINE = "seasonal_naive"


@dataclass
class Row:
    """One model's scores on a panel."""

    name: str
    mase: float
    rmsse: float
    mae: float
    rmse: float
    bias: float
    smape: float | None
    coverage80: float
    width80: float
    coverage95: float
    width95: float
    cpu_s: float
    n_series: int
    mase_by_horizon: list[float] = field(default_factory=list)
    mase_is: float = math.nan  # mean over series of MASE with each origin's in-sample scale
    gmean_rel_is: float = math.nan  # geometric mean over series of mase_is / seasonal naive's
    bias_share: float = math.nan  # bias over the mean actual (-0.1: 10% under)
    # coverage on the points whose actual is > 0, and per horizon, by level (0.8, 0.95)
    coverage_sale: dict[float, float] = field(default_factory=dict)
    coverage_by_horizon: dict[float, list[float]] = field(default_factory=dict)
    lead_mae: float = math.nan  # MAE of the sum over h = 1..H (the lead-time total)
    lead_low: float = math.nan  # share of lead-time totals below their p10 (target 0.1)
    lead_high: float = math.nan  # and above their p90 (target 0.1)

    @classmethod
    def from_tallies(
        cls, name: str, tallies: Sequence[tuple[Tally, float | None, float | None]], cpu: float,
        baseline: Sequence[Tally] | None = None,
    ) -> Row:
        """Scores from ``(tally, mase scale, rmsse scale)`` per series; ``baseline``: seasonal
        naive's tallies of the same series, in the same order (for ``gmean_rel_is``)."""
        scaled = [(t, s, s2) for t, s, s2 in tallies if s and s2]
        n = sum(t.n for t, _, _ in tallies) or 1
        h = tallies[0][0].horizon if tallies else 0
        by_h = [0.0] * h
        for t, s, _ in scaled:
            for k, v in enumerate(t.mae_by_horizon()):
                by_h[k] += v / (s or 1.0) / len(scaled)
        smape_n = sum(t.smape_n for t, _, _ in tallies)
        sales = sum(t.sale_n for t, _, _ in tallies)
        origins = sum(t.origins() for t, _, _ in tallies) or 1
        levels = sorted({lv for t, _, _ in tallies for lv in t.hits_by_h})
        actual = sum(t.actual for t, _, _ in tallies)
        return cls(
            name=name,
            mase=_mean([t.mae() / s for t, s, _ in scaled if s]),
            rmsse=_mean([math.sqrt(t.mse() / s2) for t, _, s2 in scaled if s2]),
            mae=sum(sum(t.abs_err) for t, _, _ in tallies) / n,
            rmse=math.sqrt(sum(t.sq_err for t, _, _ in tallies) / n),
            bias=sum(t.err for t, _, _ in tallies) / n,
            smape=sum(t.smape_sum for t, _, _ in tallies) / smape_n if smape_n else None,
            coverage80=sum(t.hits.get(0.8, 0) for t, _, _ in tallies) / n,
            width80=sum(t.widths.get(0.8, 0.0) for t, _, _ in tallies) / n,
            coverage95=sum(t.hits.get(0.95, 0) for t, _, _ in tallies) / n,
            width95=sum(t.widths.get(0.95, 0.0) for t, _, _ in tallies) / n,
            cpu_s=cpu,
            n_series=len(scaled),
            mase_by_horizon=by_h,
            mase_is=_mean([m for t, _, _ in tallies if (m := t.mase_in_sample()) is not None]),
            gmean_rel_is=_gmean_ratio([t for t, _, _ in tallies], baseline),
            bias_share=sum(t.err for t, _, _ in tallies) / actual if actual else math.nan,
            lead_mae=sum(t.lead_abs for t, _, _ in tallies) / origins,
            lead_low=_share([(t.lead_low, t.lead_n) for t, _, _ in tallies]),
            lead_high=_share([(t.lead_high, t.lead_n) for t, _, _ in tallies]),
            coverage_sale={lv: sum(t.sale_hits.get(lv, 0) for t, _, _ in tallies) / sales
                           for lv in levels if sales},
            coverage_by_horizon={lv: [sum(t.hits_by_h[lv][k] for t, _, _ in tallies
                                          if lv in t.hits_by_h) / origins for k in range(h)]
                                 for lv in levels},
        )

    def calibration(self) -> str:
        """This row's line of the calibration table (:meth:`Scoreboard.to_markdown`)."""
        cells = []
        for lv, total in ((0.8, self.coverage80), (0.95, self.coverage95)):
            by_h = self.coverage_by_horizon.get(lv)
            sale = self.coverage_sale.get(lv)
            cells += ["-", "-", "-"] if not by_h else [  # a point forecast only: no band
                f"{total:.3f}", "-" if sale is None else f"{sale:.3f}",
                f"{min(by_h):.3f}-{max(by_h):.3f}"]
        share = "-" if math.isnan(self.bias_share) else f"{100 * self.bias_share:+.1f}"
        return (f"| {self.name} | " + " | ".join(cells)
                + f" | {self.bias:.2f} | {share} | {self.lead_mae:.1f} "
                + f"| {_num(self.lead_low)} / {_num(self.lead_high)} |")


def _gmean_ratio(tallies: Sequence[Tally], baseline: Sequence[Tally] | None) -> float:
    """Geometric mean over series of in-sample MASE over the baseline's (series where either
    is undefined or zero are left out)."""
    if baseline is None:
        return math.nan
    if len(baseline) != len(tallies):
        raise ValueError(f"baseline must have a tally per series ({len(tallies)}), "
                         f"got {len(baseline)}")
    logs = [math.log(m / b) for t, base in zip(tallies, baseline, strict=True)
            if (m := t.mase_in_sample()) and (b := base.mase_in_sample())]
    return math.exp(sum(logs) / len(logs)) if logs else math.nan


def _share(counts: Sequence[tuple[int, int]]) -> float:
    """Sum of hits over sum of trials (nan without trials)."""
    n = sum(k for _, k in counts)
    return sum(h for h, _ in counts) / n if n else math.nan


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


@dataclass
class Scoreboard:
    """All models' rows on one panel, plus what is needed to draw a few examples."""

    name: str
    n_series: int
    n_origins: int
    rows: list[Row]
    examples: dict[str, list[Any]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    bucket: str = "day"  # the width of a horizon step, for the plots' axis

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def relative_mase(self, name: str) -> float:
        """``name``'s MASE over seasonal naive's (nan without a baseline row, or when seasonal
        naive makes no error: a product that sold early and then never again)."""
        base = [r for r in self.rows if r.name == BASELINE]
        return self.row(name).mase / base[0].mase if base and base[0].mase else math.nan

    def to_markdown(self) -> str:
        head = (
            "| model | MASE | rel. sN | MASE is | gm rel. sN | RMSSE | MAE | RMSE | bias "
            "| sMAPE % | cov 80 | width 80 | cov 95 | width 95 | CPU s |"
        )
        h = max((len(r.mase_by_horizon) for r in self.rows), default=0)
        lines = [
            f"### {self.name}: {self.n_series} series, {self.n_origins} origins, h = 1..{h}",
            "",
            head,
            "|" + "---|" * 15,
        ]
        for r in self.rows:
            rel = self.relative_mase(r.name)
            smape = "-" if r.smape is None else f"{r.smape:.1f}"
            lines.append(
                f"| {r.name} | {r.mase:.3f} | {_num(rel)} | {_num(r.mase_is)} "
                f"| {_num(r.gmean_rel_is)} | {r.rmsse:.3f} | {r.mae:.2f} | {r.rmse:.2f} "
                f"| {r.bias:.2f} | {smape} "
                f"| {r.coverage80:.2f} | {r.width80:.2f} | {r.coverage95:.2f} | {r.width95:.2f} "
                f"| {r.cpu_s:.1f} |"
            )
        lines += ["", "MASE and rel. sN: each series scaled by its seasonal-naive MAE over the "
                  "whole series, rel. sN = mean MASE over seasonal naive's; MASE is: each origin "
                  "scaled by the seasonal-naive MAE of its history (M4/M5), mean over series; "
                  "gm rel. sN: geometric mean over series of MASE is over seasonal naive's."]
        if any(r.coverage_by_horizon for r in self.rows):
            lines += ["", "Calibration and bias: coverage of the 80% and 95% bands on all points, "
                      "on sale days (actual > 0) and the lowest-highest over horizons; bias "
                      "(forecast - actual, units) and as % of mean demand; MAE of the lead-time "
                      "total (the sum over h = 1..H), and the share of actual totals below its "
                      "p10 / above its p90 (0.100 / 0.100 when calibrated):", "",
                      "| model | cov 80 | on sale days | by horizon | cov 95 | on sale days "
                      "| by horizon | bias | bias % | lead-time MAE | < p10 / > p90 |",
                      "|" + "---|" * 11,
                      *[r.calibration() for r in self.rows]]
        if self.meta:
            lines += ["", ", ".join(f"{k}: {v}" for k, v in self.meta.items())]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path, stem: str) -> list[Path]:
        """Write ``{stem}.md`` and, if matplotlib is installed, the PNG plots; return paths."""
        md = Path(out_dir) / f"{stem}.md"
        text = self.to_markdown().encode("utf-8", "surrogateescape")  # a file name's bytes
        md.write_text(text.decode("utf-8", "backslashreplace"), encoding="utf-8")  # as \xff
        return [md, *self._plots(Path(out_dir), stem)]

    def _plots(self, out_dir: Path, stem: str) -> list[Path]:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plots (pip install matplotlib)")
            return []
        paths = [out_dir / f"{stem}-horizon.png", out_dir / f"{stem}-examples.png"]
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in self.rows:
            ax.plot(range(1, len(r.mase_by_horizon) + 1), r.mase_by_horizon, label=r.name)
        ax.set(xlabel=f"horizon ({self.bucket}s)", ylabel="MASE",
               title=f"{self.name}: error by horizon")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(paths[0], dpi=100)
        plt.close(fig)
        codes = list(self.examples)[:3]
        if not codes:  # the bank's runs keep no examples
            return paths[:1]
        fig, axes = plt.subplots(len(codes) or 1, 1, figsize=(9, 2.6 * max(len(codes), 1)))
        for ax, code in zip(axes if len(codes) > 1 else [axes], codes, strict=False):
            for st in self.examples[code][-6:]:
                f, ts = st.forecasts["ensemble"], range(st.origin, st.origin + len(st.y))
                ax.fill_between(ts, f.lo95, f.hi95, color="C0", alpha=0.15, lw=0)
                ax.fill_between(ts, f.lo, f.hi, color="C0", alpha=0.3, lw=0)
                ax.plot(ts, f.yhat, color="C0", lw=1)
                ax.plot(ts, st.y, color="k", lw=0.8, marker=".", ms=3)
            ax.set_title(f"{code}: actual (black), ensemble with 80%/95% bands", fontsize=9)
        fig.tight_layout()
        fig.savefig(paths[1], dpi=100)
        plt.close(fig)
        return paths
