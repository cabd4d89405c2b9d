"""Rules between settings, and variables that look like settings but are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ENV_VARS, ConfigError, load_settings
from config.rules import read_category_map, unknown_variables


@pytest.mark.parametrize(("env", "expected"), [
    ({"SALESCAST_EVENTS_TOPIC": "sales.deadletter"},
     "SALESCAST_EVENTS_TOPIC and SALESCAST_DEADLETTER_TOPIC are both 'sales.deadletter'"),
    ({"SALESCAST_ALERTS_TOPIC": "x", "SALESCAST_BUCKETS_TOPIC": "x"},
     "SALESCAST_ALERTS_TOPIC and SALESCAST_BUCKETS_TOPIC are both 'x'"),
    ({"SALESCAST_AGGREGATE_BY": "category"},
     "SALESCAST_AGGREGATE_BY=category needs SALESCAST_CATEGORY_MAP"),
])
def test_settings_that_break_a_rule_are_one_line(env: dict[str, str], expected: str) -> None:
    """A worker whose dead-letter topic was its events topic read its own rejections back;
    category aggregates without a map failed only once Kafka answered."""
    with pytest.raises(ConfigError, match="^" + expected.replace("(", r"\(")):
        load_settings(env)


def test_a_category_map_without_a_row_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "map.csv"
    empty.write_text("series,category\n,\nA\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has no series,category row"):
        load_settings({"SALESCAST_AGGREGATE_BY": "category", "SALESCAST_CATEGORY_MAP": str(empty)})
    empty.write_text("series,category\nA, toys \n B ,garden\n", encoding="utf-8")
    settings = load_settings({"SALESCAST_AGGREGATE_BY": "category",
                              "SALESCAST_CATEGORY_MAP": str(empty)})
    assert read_category_map(settings.category_map or empty) == {
        "A": "toys", " B ": "garden", "B": "garden"}


def test_a_category_map_names_each_series_once_and_as_it_is(tmp_path: Path) -> None:
    """A probe: cells were stripped and a later row took a series silently, so the SKU "A "
    lost its row to "A" and fell into another category, and a map giving "A" two categories
    was used half-read. Now a cell names its series as it is (and, stripped, the series of
    that name when no cell names it and the cells agree); two categories for one series are
    refused in one line."""
    path = tmp_path / "map.csv"
    path.write_text("sku,category\nA ,mugs\nA,bags\n B,cups\nC ,x\n C,y\n", encoding="utf-8")
    assert read_category_map(path) == {"A ": "mugs", "A": "bags", " B": "cups", "B": "cups",
                                       "C ": "x", " C": "y"}
    path.write_text("sku,category\nA,mugs\nB,cups\nA, bags\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"series 'A' has two categories, 'mugs' \(row 2\) "
                                          r"and 'bags' \(row 4\)"):
        load_settings({"SALESCAST_AGGREGATE_BY": "category", "SALESCAST_CATEGORY_MAP": str(path)})


def test_the_defaults_break_no_rule() -> None:
    load_settings({})


def test_misspelt_variables_are_named_with_the_setting_meant() -> None:
    env = {"SALESCAST_HORZION": "7", "SALESCAST_PARTITONS": "4", "SALESCAST_WHATEVER": "1",
           "SALESCAST_HORIZON": "7", "SALESCAST_TOKEN": "t", "KAFKA_BOOTSTRAP": "k:1"}
    assert unknown_variables(env, ENV_VARS.values()) == [
        "SALESCAST_HORZION is not a salescast setting (did you mean SALESCAST_HORIZON?): ignored",
        "SALESCAST_PARTITONS is not a salescast setting (did you mean SALESCAST_PARTITIONS?): "
        "ignored",
        "SALESCAST_WHATEVER is not a salescast setting: ignored"]
    assert unknown_variables({name: "1" for name in ENV_VARS.values()}, ENV_VARS.values()) == []
