"""The dashboard in headless Chromium, during a running pipeline on real services."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.server import Gateway
from stream.records import SaleEvent

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
SCREENSHOT = Path("build/browser/dashboard.png")


def _chromium(url: str, *extra: str) -> list[str]:
    assert CHROMIUM is not None
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-quic", "--window-size=1200,700",
            "--virtual-time-budget=8000", *extra, url]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_dashboard_shows_live_forecasts(pipeline, tmp_path: Path) -> None:
    events = [SaleEvent(f"SKU{i % 3}", T0 + k * 3600, 1 + k % 5, 2.0)
              for k in range(24 * 20) for i in range(3)]
    pipeline.produce([(e.series.encode(), e.to_json()) for e in events])
    pipeline.start_worker()
    pipeline.wait_for(lambda: all((pipeline.snapshot(f"SKU{i}") or {}).get("forecast")
                                  for i in range(3)), 90, "forecasts in Redis")

    async def scenario() -> tuple[str, int]:
        gw = Gateway(pipeline.settings.redis, "127.0.0.1", 0)
        await gw.start()
        try:
            url = f"http://127.0.0.1:{gw.port}/"
            html = ""
            for attempt in range(5):  # the DOM is dumped when virtual time runs out; retry
                profile = ["--user-data-dir=" + str(tmp_path / f"profile{attempt}")]
                dom = await asyncio.create_subprocess_exec(
                    *_chromium(url, "--dump-dom", *profile), stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL)
                out, _ = await asyncio.wait_for(dom.communicate(), 60)
                html = out.decode()
                if len(set(re.findall(r'data-series="(SKU\d)"', html))) == 3:
                    break
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shot = await asyncio.create_subprocess_exec(
                *_chromium(url, f"--screenshot={SCREENSHOT.resolve()}",
                           "--user-data-dir=" + str(tmp_path / "profile2")),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.wait_for(shot.wait(), 60)
            return html, gw.port
        finally:
            await gw.stop()

    html, _ = asyncio.run(scenario())
    assert "connected" in html
    rows = re.findall(r'<tr data-series="(SKU\d)">(.*?)</tr>', html, re.S)
    assert {series for series, _ in rows} == {"SKU0", "SKU1", "SKU2"}
    for _, cells in rows:
        values = re.findall(r"<td>(.*?)</td>", cells)
        assert values[5] != "-" and float(values[5]) >= 0  # next forecast is shown
        assert values[6].startswith("[")  # with its interval
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 5000
