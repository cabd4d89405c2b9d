"""Paths from settings and arguments: ``~`` and ``~user`` expanded, or a one-line
:class:`ValueError` where :meth:`pathlib.Path.expanduser` raises a ``RuntimeError``.

>>> import os
>>> expand_user("~/x") == Path(os.path.expanduser("~")) / "x", expand_user("rel/x")
(True, PosixPath('rel/x'))
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["directory", "expand_user"]


def expand_user(path: str | Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; a :class:`ValueError` that says
    why when it cannot be (no such user, or no home directory for ``~``)."""
    path = Path(path)
    try:
        return path.expanduser()
    except RuntimeError:
        head = path.parts[0] if path.parts else str(path)
        why = "no such user" if head != "~" else "no home directory (HOME is unset)"
        raise ValueError(f"cannot expand {head}: {why}") from None


def directory(value: str | Path) -> Path:
    """``value`` with ``~`` expanded; a ValueError when it is there but not a directory."""
    if (path := expand_user(value)).exists() and not path.is_dir():
        raise ValueError("must be a directory")
    return path
