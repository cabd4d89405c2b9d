"""The dashboard page in headless Chromium against a fake protocol-v1 gateway (no Kafka/Redis).

The fake (tests/browser/conftest.py) answers the page's subscriptions with a forecasts
snapshot, an actuals update, alerts and an ops snapshot; these tests check what the page draws
and what it sends back (auth, subscriptions, resume positions after a reconnect).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("build/browser")
FakeGateway = Any  # the fake_gateway fixture's type (tests/browser/conftest.py)

TIMEOUT_MS = 15000


def _open(page: Any, gw: FakeGateway, query: str = "") -> None:
    page.goto(gw.http_url + query)
    page.wait_for_function(
        "() => window.salescast && window.salescast.plot() !== null"
        " && window.salescast.plot().data[0].length > 0"
        " && document.querySelectorAll('#alerts li[data-id]').length === 3"
        " && document.getElementById('ops-lag') !== null",
        timeout=TIMEOUT_MS)


def test_page_draws_forecast_bands_alerts_and_ops(browser_page: Any,
                                                  fake_gateway: FakeGateway) -> None:
    page, gw = browser_page, fake_gateway
    _open(page, gw, "?token=tok-123")

    assert gw.received[0] == {"type": "auth", "token": "tok-123"}  # first frame after hello
    expected = {("forecasts", "85123A"), ("actuals", "85123A"), ("alerts", "*"), ("ops", None)}
    subs = gw.settled(lambda: {(f.get("channel"), f.get("series") or f.get("pattern"))
                               for f in gw.frames("subscribe")}, expected)
    assert subs == expected
    # the actuals update (v41) comes after the forecasts snapshot that draws the chart
    page.wait_for_function("() => window.salescast.plot().data[2].some((v) => v === 6)",
                           timeout=TIMEOUT_MS)

    chart = page.evaluate("""() => {
        const u = window.salescast.plot();
        const count = (i) => u.data[i].filter((v) => v !== null).length;
        const c = document.querySelector('#chart canvas');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let inked = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
        return {n: u.data[0].length, actual: count(1), open: u.data[2].filter((v) => v !== null),
                yhat: count(3), bands: u.bands.map((b) => b.series), data: u.data, inked};
    }""")
    assert chart["n"] == 30 + 14  # closed buckets + the forecast (the open bucket is its first)
    assert chart["actual"] == 30 and chart["yhat"] == 14
    assert chart["open"] == [6.0]  # the actuals update (v41) overrides the snapshot's open (v40)
    assert chart["bands"] == [[5, 4], [7, 6]]
    _, _, _, yhat, lo, hi, lo95, hi95 = chart["data"]
    for i in range(30, 44):
        assert lo95[i] < lo[i] < yhat[i] < hi[i] < hi95[i]
    assert chart["inked"] > 5000  # the canvas has actually been drawn on

    assert page.text_content("#model-winner") == "holt_winters"
    assert page.text_content("#model-lstm") == "lstm-20261124-0007"
    assert "holt_winters" in page.text_content("#model") and "80% / 95%" in page.text_content(
        "#model")

    alerts = page.eval_on_selector_all(
        "#alerts li", "els => els.map((e) => [e.dataset.series, e.className])")
    assert alerts == [["84879", "critical"], ["22423", "warning"], [None, "warning"]]  # newest 1st
    # a resolved alert carries the ordinary bucket that ended it: it read "spike: 11.0 vs 12.0"
    resolved = page.text_content("#alerts li[data-series='22423']") or ""
    assert " spike since " in resolved, resolved
    # the 95% band, on which alerts open and resolve (the 80% one read "back to 0.0 vs 1.0
    # [1.0, 1.0]": a value outside the band shown as back to normal)
    assert " over: back to 11.0 vs 12.0 [6.0, 18.0] · resolved" in resolved, resolved
    shop = page.text_content("#alerts li:last-child") or ""
    assert "shop-wide closure: 480 series affected (2 selling, usually 482)" in shop, shop

    assert page.text_content("#ops-lag") == "1234"
    assert "alert" in (page.get_attribute("#ops-lag", "class") or "")
    assert page.is_visible("#lag-badge")
    assert page.text_content("#ops-p99") == "85.0 ms"
    assert page.locator("#partitions tbody tr").count() == 2
    workers = page.eval_on_selector_all(
        "#workers tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.textContent))")
    assert workers == [["host:101", "0", "1250.0", "600", "1", "0.8"],
                       ["host:102", "1", "1250.5", "634", "2", "2.3"]]
    assert page.text_content("#ops-rebalance") == "2.3 s (host:102)"
    assert page.locator("#series-list li[data-series]").count() == 3
    assert page.locator("#movers li[data-series]").count() == 3
    assert "connected" in page.text_content("#status")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert page.errors == []


def test_clicking_an_alert_opens_its_series(browser_page: Any, fake_gateway: FakeGateway) -> None:
    page, gw = browser_page, fake_gateway
    _open(page, gw)
    assert gw.frames("auth") == []  # no token in the page URL: no auth frame

    page.click("#alerts li[data-series='22423']")
    page.wait_for_function("() => window.salescast.store.selected === '22423'"
                           " && document.getElementById('chart-title').textContent === '22423'",
                           timeout=TIMEOUT_MS)
    page.wait_for_function("() => window.salescast.plot().data[1].some((v) => v !== null)",
                           timeout=TIMEOUT_MS)
    both = {"forecasts", "actuals"}
    assert gw.settled(lambda: {f["channel"] for f in gw.frames("unsubscribe", series="85123A")},
                      both) == both
    assert gw.settled(lambda: {f["channel"] for f in gw.frames("subscribe", series="22423")},
                      both) == both
    assert page.get_attribute("#series-list li[data-series='22423']", "class") == "selected"

    page.fill("#search", "848")  # the search box asks the gateway for matching names
    page.wait_for_function("() => window.salescast.store.search === '848'", timeout=TIMEOUT_MS)
    assert gw.settled(lambda: gw.frames("list")[-1]["pattern"], "*848*") == "*848*"
    assert page.errors == []


def test_reconnects_and_resumes_where_it_left_off(browser_page: Any,
                                                   fake_gateway: FakeGateway) -> None:
    page, gw = browser_page, fake_gateway
    _open(page, gw, "?series=84879")
    assert gw.frames("subscribe", channel="forecasts")[0] == {
        "type": "subscribe", "channel": "forecasts", "series": "84879"}

    gw.drop_connections()
    page.wait_for_function("() => document.getElementById('status')?.textContent"
                           ".includes('reconnecting')", timeout=TIMEOUT_MS)
    page.wait_for_function("() => window.salescast.socket().readyState === 1"
                           " && document.getElementById('status')?.textContent"
                           ".includes('connected to')", timeout=TIMEOUT_MS)
    assert gw.settled(lambda: len(gw.frames("subscribe", channel="alerts")), 2) == 2
    assert gw.connections == 2
    forecasts = gw.frames("subscribe", channel="forecasts")
    assert len(forecasts) == 2 and forecasts[1]["since"] == 40  # the last versions it saw
    assert gw.frames("subscribe", channel="actuals")[1]["since"] == 41
    assert gw.frames("subscribe", channel="alerts")[1]["since"] == "1700000000000-0"
    # the replayed snapshot merged without duplicating alerts or buckets
    assert page.locator("#alerts li[data-id]").count() == 3
    assert page.evaluate("() => window.salescast.plot().data[0].length") == 44
    assert page.errors == []


def test_error_frames_show_and_odd_frames_are_ignored(browser_page: Any,
                                                      fake_gateway: FakeGateway) -> None:
    page, gw = browser_page, fake_gateway
    _open(page, gw)
    gw.push({"type": "error", "code": "rate_limited", "message": "slow down", "id": 3})
    page.wait_for_function("() => document.getElementById('status')?.textContent"
                           ".includes('rate_limited: slow down')", timeout=TIMEOUT_MS)
    assert "error" in (page.get_attribute("#status", "class") or "")

    for text in ["not json", "[1, 2]", '{"type": 5}', '{"type": "surprise", "x": 1}',
                 '{"type": "update", "channel": "forecasts", "data": null}',
                 '{"type": "update", "channel": "alerts", "data": 7}',
                 '{"type": "snapshot", "channel": "ops", "data": "odd"}',
                 '{"type": "update", "channel": "nope", "series": "x", "data": {}}',
                 '{"type": "series", "series": null}', '{"type": "movers", "items": 3}']:
        gw.push_text(text)
    gw.push({"type": "snapshot", "channel": "ops", "data": {"groups": {}, "lag_alert": False}})
    page.wait_for_function("() => document.getElementById('ops-lag')?.textContent === '0'",
                           timeout=TIMEOUT_MS)
    assert page.evaluate("() => window.salescast.store.ignored") >= 4
    assert not page.is_visible("#lag-badge")
    assert page.errors == []


def test_a_refused_token_says_why_and_asks_for_nothing_else(
        browser_page: Any, fake_gateway: FakeGateway) -> None:
    """The page sent every subscription with its auth frame: each was refused ("send an auth
    frame first") and the last refusal hid why the token was not taken."""
    page, gw = browser_page, fake_gateway
    gw.auth = "required"
    gw.refuse = {"type": "error", "code": "token_expired",
                 "message": "token expired at 1700003600"}
    page.clock.install()  # the movers timer (10 s) and the reconnect delays, run at will
    page.goto(gw.http_url + "?token=old")
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".includes('token_expired')", timeout=TIMEOUT_MS)
    # the expiry as a date-time, not epoch seconds
    assert "2023-11-14 23:13:20 UTC" in (page.text_content("#status") or "")
    page.clock.run_for(25000)  # the movers timer sent "movers": "unauthorized" replaced why
    time.sleep(0.3)
    assert [f["type"] for f in gw.received] == ["auth"]  # nothing before an "authed"
    assert "token_expired" in (page.text_content("#status") or "")
    gw.drop_connections()  # the gateway closes it (its auth deadline): the reason stays
    page.wait_for_function("() => /token_expired.*not reconnecting/.test("
                           "document.getElementById('status').textContent)", timeout=TIMEOUT_MS)
    page.clock.run_for(120000)  # the same token would be refused again: no reconnect loop
    time.sleep(0.3)
    assert gw.connections == 1
    assert page.errors == []



def test_the_dashboard_works_behind_a_proxy_that_serves_it_at_a_path(
        browser_page: Any, fake_gateway: FakeGateway) -> None:
    """Its files and its socket were absolute (/static/..., /ws): served at
    https://ops.example.com/salescast/, the page loaded no script and connected nowhere."""
    page, gw = browser_page, fake_gateway
    gw.prefix = "/salescast"
    _open(page, gw, "salescast/?series=85123A")
    assert gw.connections == 1 and gw.frames("subscribe")
