"""The backtest's fixed panels: the same SKUs on every run, the tuning panels apart."""

from __future__ import annotations

import pytest

from models.evaluation.backtest_panels import select_panel


def test_select_panel() -> None:
    series = {f"s{i}": [float(i)] * (50 + 10 * i) for i in range(20)}
    assert select_panel(series, "top500")[:2] == ["s19", "s18"]
    sampled = select_panel(series, "sampled")
    assert sampled == select_panel(series, "sampled") and all(int(c[1:]) >= 5 for c in sampled)
    with pytest.raises(ValueError, match="'top500', 'sampled', 'tuning' or 'tuning_top'"):
        select_panel(series, "all")


def test_the_tuning_panels_share_no_sku_with_the_scored_ones() -> None:
    series = {f"s{i:03}": [float(i % 9 > 0)] * (60 + i) for i in range(1300)}
    scored = set(select_panel(series, "top500")) | set(select_panel(series, "sampled"))
    for panel in ("tuning", "tuning_top"):
        codes = select_panel(series, panel)
        assert len(codes) == 100 and not scored & set(codes)
        assert select_panel(series, panel, quick=True) == codes[:50]
