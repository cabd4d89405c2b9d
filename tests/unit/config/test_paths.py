"""config/paths.py: ``~user`` of no user is a one-line ValueError, not a RuntimeError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.paths import expand_user

NO_USER = "~salescast-no-such-user"


def test_home_and_relative_paths_are_expanded_as_pathlib_does() -> None:
    assert expand_user("~/x") == Path(os.path.expanduser("~/x"))
    assert expand_user(Path("a/b")) == Path("a/b")


def test_the_home_of_no_user_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=f"^cannot expand {NO_USER}: no such user$"):
        expand_user(f"{NO_USER}/models")


def test_a_home_that_cannot_be_found_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home(self: Path) -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "expanduser", no_home)
    with pytest.raises(ValueError, match="^cannot expand ~: no home directory"):
        expand_user("~/x")
