"""The README's configuration table, generated from the fields of
:class:`~config.settings.Settings` (``python -c "import config; print(config.settings_table())"``;
``tests/unit/config/test_table.py`` checks that the README shows it)."""

from __future__ import annotations

from typing import Any

from config.settings import ENV_VARS, Settings

__all__ = ["settings_table"]


def settings_table() -> str:
    """The README's configuration table (Markdown), from the fields of :class:`Settings`.

    >>> settings_table().splitlines()[2]
    '| `SALESCAST_HOME` | `./.salescast` | state dir: services state, logs |'
    """
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        extra = f.json_schema_extra
        shown = extra.get("shown") if isinstance(extra, dict) else _shown(f.default)
        rows.append(f"| `{ENV_VARS[name]}` | {shown} | {f.description} |")
    return "\n".join(rows)


def _shown(default: Any) -> str:
    """A default as the README shows it: ``1``/``0``, a number, or a `code` string."""
    if isinstance(default, bool):
        return str(int(default))
    if isinstance(default, float):
        return f"{default:g}"
    return str(default) if isinstance(default, int) else f"`{default}`"
