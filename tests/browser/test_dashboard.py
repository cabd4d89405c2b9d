"""The dashboard in headless Chromium (Playwright) on the real pipeline: Kafka -> worker ->
Redis -> gateway -> page, with the ops monitor running. The chart must show the forecasts the
worker wrote to Redis, an injected anomaly must appear in the alert list, and the ops panel
must show the consumer lag."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from contracts.events import SaleEvent
from gateway.server import Gateway

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
DAYS = 20
SERIES = ("SKU0", "SKU1", "SKU2")
SCREENSHOT = Path("build/browser/dashboard-e2e.png")
TIMEOUT_MS = 30000


def history(days: int = DAYS) -> list[SaleEvent]:
    """Hourly sales of every series in ``SERIES`` over ``days`` days from ``T0``."""
    return [SaleEvent(series, T0 + k * 3600, 1 + k % 5, 2.0)
            for k in range(24 * days) for series in SERIES]


def inject_anomaly(pipeline: Any, series: str, day: int, qty: int) -> list[SaleEvent]:
    """Publish a sale of ``qty`` units of ``series`` on bucket ``day`` (days after ``T0``),
    then one ordinary sale the next day so that the anomalous bucket closes."""
    events = [SaleEvent(series, T0 + day * DAY + 12 * 3600, qty, 2.0),
              SaleEvent(series, T0 + (day + 1) * DAY + 3600, 1, 2.0)]
    pipeline.produce([(e.series.encode(), e.to_json()) for e in events])
    return events


@contextmanager
def running_gateway(redis_url: str) -> Iterator[str]:
    """A real gateway on a free 127.0.0.1 port, in its own event loop thread; yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Gateway:
        gw = Gateway(redis_url, "127.0.0.1", 0)
        await gw.start()
        return gw

    gw = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield f"http://127.0.0.1:{gw.port}/"
    finally:
        asyncio.run_coroutine_threadsafe(gw.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def chart_forecast(page: Any) -> dict:
    """The selected series' forecast as drawn: yhat and the 80% band (non-null points)."""
    return page.evaluate("""() => {
        const u = window.salescast.plot(), pick = (i) => u.data[i].filter((v) => v !== null);
        return {title: document.getElementById('chart-title').textContent,
                version: window.salescast.store.view().version,
                actual: pick(1), yhat: pick(3), lo: pick(4), hi: pick(5)};
    }""")


def wait_chart(page: Any, series: str, version: int) -> None:
    page.wait_for_function(
        "([s, v]) => window.salescast && window.salescast.plot() !== null"
        " && window.salescast.store.selected === s"
        " && window.salescast.store.view().version >= v"
        " && window.salescast.plot().data[3].some((y) => y !== null)",
        arg=[series, version], timeout=TIMEOUT_MS)


def test_dashboard_shows_live_forecasts_alerts_and_lag(pipeline: Any,
                                                      browser_page: Any) -> None:
    events = history()
    pipeline.produce([(e.series.encode(), e.to_json()) for e in events])
    pipeline.start_worker()
    pipeline.start_monitor()
    per_series = len(events) // len(SERIES)
    pipeline.wait_for(lambda: all((pipeline.snapshot(s) or {}).get("events") == per_series
                                  and (pipeline.snapshot(s) or {}).get("forecast")
                                  for s in SERIES), 90, "every event processed, forecasts in Redis")
    page = browser_page
    with running_gateway(pipeline.settings.redis) as url:
        page.goto(url + "?series=SKU0")
        for series in SERIES:
            if series != "SKU0":
                page.click(f"#series-list li[data-series='{series}']")
            snap = pipeline.snapshot(series)
            wait_chart(page, series, snap["version"])
            drawn = chart_forecast(page)
            assert drawn["title"] == series
            assert drawn["yhat"] == pytest.approx(snap["forecast"]["yhat"])
            assert drawn["lo"] == pytest.approx(snap["forecast"]["lo"])
            assert drawn["hi"] == pytest.approx(snap["forecast"]["hi"])
            assert len(drawn["actual"]) == len(snap["actuals"]) >= DAYS - 2
            assert page.text_content("#model-winner") == snap["forecast"]["model"]["winner"]
            # the lead-time total: the sum of the mean forecast, rounded as the page shows it
            lead = float(page.text_content("#model-lead") or "nan")
            assert lead == pytest.approx(sum(snap["forecast"]["mean"]), abs=0.5)
        # ops: the monitor's snapshot reaches the panel (the worker has caught up: lag 0)
        page.wait_for_function(
            "() => document.getElementById('ops-lag')?.textContent === '0'", timeout=TIMEOUT_MS)
        # an anomaly on SKU1 while the page is open: the alert arrives live
        inject_anomaly(pipeline, "SKU1", DAYS, 500)
        page.wait_for_selector("#alerts li[data-series='SKU1']", timeout=TIMEOUT_MS)
        text = page.text_content("#alerts li[data-series='SKU1']") or ""
        assert "spike" in text and "500" in text
        assert page.get_attribute("#alerts li[data-series='SKU1']", "class") == "critical"
        page.click("#alerts li[data-series='SKU1']")  # opens the series
        page.wait_for_function("() => window.salescast.store.selected === 'SKU1'",
                               timeout=TIMEOUT_MS)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        names = page.eval_on_selector_all("#series-list li[data-series]",
                                          "els => els.map((e) => e.dataset.series)")
        assert sorted(names) == sorted([*SERIES, "total", "country:(none)"])  # + aggregates
        assert "connected" in (page.text_content("#status") or "")
    assert page.errors == []


COUNTRY = {"SKU0": "United Kingdom", "SKU1": "EIRE", "SKU2": "United Kingdom"}
TOTAL_SHOT = Path("build/browser/dashboard-total.png")


def test_dashboard_opens_on_the_total_and_drills_down(pipeline: Any, browser_page: Any) -> None:
    """No series asked for: the page opens on ``total``; its breakdown lists the countries,
    whose forecasts sum to the total's; a country, then a SKU, open from there."""
    events = [SaleEvent(e.series, e.ts, e.qty, e.price, None, COUNTRY[e.series])
              for e in history()]
    pipeline.produce([(e.series.encode(), e.to_json()) for e in events])
    pipeline.start_worker()
    pipeline.wait_for(lambda: (pipeline.snapshot("total") or {}).get("forecast")
                      and (pipeline.snapshot("total") or {}).get("events") == len(events),
                      120, "the total's forecast in Redis")
    page = browser_page
    with running_gateway(pipeline.settings.redis) as url:
        page.goto(url)
        page.wait_for_function("() => window.salescast && window.salescast.store.selected"
                               " === 'total'", timeout=TIMEOUT_MS)
        page.wait_for_selector("#breakdown tbody tr[data-series='country:EIRE']",
                               timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('#breakdown tbody tr').length === 2",
            timeout=TIMEOUT_MS)
        rows = page.eval_on_selector_all(
            "#breakdown tbody tr", "els => els.map((e) => [...e.children].map((c) => "
            "c.textContent))")
        assert [r[0] for r in rows] == ["country:United Kingdom", "country:EIRE"]
        uk, eire = (float(r[1].rstrip("%")) for r in rows)
        assert uk + eire == pytest.approx(100.0, abs=0.2) and uk > eire
        coherent = page.evaluate("""() => {
            const s = window.salescast.store, t = s.series.get('total').forecast;
            const kids = t.model.hierarchy.children.map((c) => s.series.get(c).forecast);
            return t.yhat.map((y, i) => [y, kids.reduce((a, k) => a + k.yhat[i], 0)]);
        }""")
        for total, summed in coherent:
            assert summed == pytest.approx(total, rel=1e-6)
        TOTAL_SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(TOTAL_SHOT), full_page=True)
        page.click("#breakdown tbody tr[data-series='country:EIRE']")  # drill down
        wait_chart(page, "country:EIRE", 0)
        assert page.is_visible("#to-total")
        page.wait_for_selector("#movers li[data-series^='SKU']", timeout=TIMEOUT_MS)
        sku = page.get_attribute("#movers li[data-series^='SKU']", "data-series")
        page.click(f"#movers li[data-series='{sku}']")  # the SKUs that explain a gap
        wait_chart(page, str(sku), 0)
        page.click("#to-total")
        page.wait_for_function("() => window.salescast.store.selected === 'total'",
                               timeout=TIMEOUT_MS)
    assert page.errors == []
