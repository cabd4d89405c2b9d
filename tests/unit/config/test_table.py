"""The README's configuration table is generated from the settings' own declarations."""

from __future__ import annotations

from pathlib import Path

from config import ENV_VARS, settings_table

ROOT = Path(__file__).resolve().parents[3]


def _readme_table() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("| variable | default | meaning |")
    return text[start:text.index("\n\n", start)]


def test_the_readme_table_is_the_settings_object() -> None:
    assert _readme_table() == settings_table()


def test_the_table_has_a_row_per_variable() -> None:
    rows = settings_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == list(ENV_VARS.values())
