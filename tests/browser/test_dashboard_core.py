"""The dashboard's pure JS logic (gateway/static/core.js), unit-tested with Node's test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node")
TESTS = Path(__file__).with_name("core.test.mjs")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_core_js() -> None:
    assert NODE is not None
    run = subprocess.run([NODE, "--test", str(TESTS)], capture_output=True, text=True,
                         timeout=120, cwd=TESTS.parents[2])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
