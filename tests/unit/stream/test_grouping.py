"""The aggregates' grouping from settings (stream/grouping.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings
from contracts.events import SaleEvent
from stream.grouping import ROOT, Grouping, grouping_of


def test_grouping_from_settings(tmp_path: Path) -> None:
    assert grouping_of(load_settings({"SALESCAST_AGGREGATE_BY": "none"})) is None
    assert grouping_of(load_settings({})) == Grouping("country", group="salescast-worker")
    hourly = grouping_of(load_settings({"SALESCAST_WORKER_ID": "hourly"}))
    assert hourly is not None and hourly.group == "hourly"
    with pytest.raises(ConfigError, match="needs SALESCAST_CATEGORY_MAP"):
        grouping_of(load_settings({"SALESCAST_AGGREGATE_BY": "category"}))
    path = tmp_path / "cats.csv"
    path.write_text("series,category\n85123A,candles\n22423,cake stands\n")
    g = grouping_of(load_settings({"SALESCAST_AGGREGATE_BY": "category",
                                   "SALESCAST_CATEGORY_MAP": str(path)}))
    assert g is not None and g.categories == {"85123A": "candles", "22423": "cake stands"}
    assert g.group == "salescast-worker"
    assert g.child_of(SaleEvent("22423", 0.0, 1.0, 1.0)) == "category:cake stands"
    assert g.reserved("category:x") and g.reserved(ROOT) and not g.reserved("85123A")
    with pytest.raises(ConfigError, match="SALESCAST_CATEGORY_MAP"):
        load_settings({"SALESCAST_CATEGORY_MAP": str(tmp_path / "missing.csv")})
