"""The dashboard's answers to a probe's findings, in headless Chromium against the fake gateway
(tests/browser/conftest.py): a breakdown that stays right after a drill-down and is live, the
total's crumb from a series' own URL, a series without data, stale ops figures, a token scoped
to some series, a refused token, a narrow screen and the top movers' names."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

FakeGateway = Any  # the fake_gateway fixture's type (tests/browser/conftest.py)
TIMEOUT_MS = 15000
DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
KIDS = ("country:EIRE", "country:United Kingdom")


def _payload(series: str, version: int, closed: list[list[float]], open_t: int,
             qty: float = 1.0, children: tuple[str, ...] | None = None) -> dict:
    model: dict[str, Any] = {"name": "ensemble", "winner": "holt_winters", "weights": {}}
    if children:
        model["hierarchy"] = {"children": list(children)}
    return {"series": series, "version": version, "events": 10, "event_ts": open_t,
            "bucket_seconds": DAY, "open": {"t": open_t, "qty": qty, "events": 1},
            "actuals": closed,
            "forecast": {"t": [open_t], "yhat": [5.0], "lo": [4.0], "hi": [6.0], "model": model}}


def _with_total(gw: FakeGateway) -> None:
    """The fake knows ``total`` (children: two countries) besides its SKUs."""
    gw.series = ("85123A", "total", "22423")
    plain = gw._replies

    def replies(f: dict) -> list[dict]:
        channel = f.get("channel", "forecasts")
        if f.get("type") != "subscribe" or channel not in ("forecasts", "actuals"):
            return plain(f)
        target = {k: f[k] for k in ("series", "pattern") if k in f}
        out: list[dict] = [{"type": "subscribed", "channel": channel, **target}]
        if f.get("series") == "total":
            data = _payload("total", 50, [[T0, 100.0]], T0 + DAY, children=KIDS)
            out.append({"type": "snapshot", "channel": channel, "series": "total",
                        "version": 50, "data": data})
        elif f.get("pattern") == "country:*":
            for name, last, so_far in ((KIDS[0], 20.0, 3.0), (KIDS[1], 80.0, 9.0)):
                data = _payload(name, 50, [[T0, last]], T0 + DAY, qty=so_far)
                out.append({"type": "snapshot", "channel": channel, "series": name,
                            "version": 50, "data": data})
        else:
            return plain(f)
        return out

    gw._replies = replies


def _rows(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#breakdown tbody tr", "els => els.map((e) => [...e.children].map((c) => c.textContent))")


def test_opened_on_a_sku_the_total_crumb_and_a_live_breakdown_show(
        browser_page: Any, fake_gateway: FakeGateway) -> None:
    """``/?series=85123A`` hid the crumb and the breakdown (no way back to the total); the
    crumb's link dropped the token; the children were followed on ``forecasts`` only (so far
    not live); after a drill-down the total was unsubscribed and the shares, of its stale
    bucket, added up to 115%."""
    page, gw = browser_page, fake_gateway
    _with_total(gw)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(gw.http_url + "?series=85123A&token=tok")
    page.wait_for_selector("#breakdown tbody tr[data-series='country:EIRE']", timeout=TIMEOUT_MS)
    assert page.evaluate("() => window.salescast.store.selected") == "85123A"
    assert page.is_visible("#to-total")
    href = page.get_attribute("#to-total", "href") or ""
    assert "token=tok" in href and "series=total" in href, href
    assert gw.settled(lambda: {f["channel"] for f in gw.frames("subscribe", pattern="country:*")},
                      {"forecasts", "actuals"}) == {"forecasts", "actuals"}
    # so far: the children's actuals (the forecasts snapshots say 3 and 9 as well; live next)
    gw.push({"type": "update", "channel": "actuals", "series": KIDS[0], "version": 60,
             "data": {"series": KIDS[0], "version": 60, "open": {"t": T0 + DAY, "qty": 7.0,
                                                                 "events": 4}}})
    page.wait_for_function("() => document.querySelector(\"#breakdown tr[data-series="
                           "'country:EIRE']\").children[4].textContent === '7'",
                           timeout=TIMEOUT_MS)

    page.click("#breakdown tbody tr[data-series='country:EIRE']")  # drill down
    page.wait_for_function("() => window.salescast.store.selected === 'country:EIRE'",
                           timeout=TIMEOUT_MS)
    assert "series=country%3AEIRE" in page.url and "token=tok" in page.url  # a reload keeps it
    time.sleep(0.3)
    assert gw.frames("unsubscribe", series="total") == []  # the breakdown still follows it
    # the next bucket closes for the children first: no share of the total's older bucket
    for name, last in ((KIDS[0], 35.0), (KIDS[1], 80.0)):
        gw.push({"type": "update", "channel": "forecasts", "series": name, "version": 70,
                 "data": _payload(name, 70, [[T0 + DAY, last]], T0 + 2 * DAY)})
    page.wait_for_function("() => document.querySelector(\"#breakdown tr[data-series="
                           "'country:EIRE']\").children[2].textContent === '35'",
                           timeout=TIMEOUT_MS)
    assert [r[1] for r in _rows(page)] == ["-", "-"]
    gw.push({"type": "update", "channel": "forecasts", "series": "total", "version": 70,
             "data": _payload("total", 70, [[T0 + DAY, 115.0]], T0 + 2 * DAY, children=KIDS)})
    page.wait_for_function("() => !document.querySelector('#breakdown tbody')"
                           ".textContent.includes('-%') && document.querySelector("
                           "'#breakdown tbody td:nth-child(2)').textContent !== '-'",
                           timeout=TIMEOUT_MS)
    shares = [float(r[1].rstrip("%")) for r in _rows(page)]
    assert sum(shares) == pytest.approx(100.0, abs=0.2), shares

    # a phone: the breakdown scrolls inside its card, the page does not scroll sideways
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(200)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths

    page.click("#to-total")
    page.wait_for_function("() => window.salescast.store.selected === 'total'",
                           timeout=TIMEOUT_MS)
    assert "series=total" in page.url and "token=tok" in page.url
    assert failed == []  # no /favicon.ico 404 either
    assert page.errors == []


def test_a_series_without_data_is_named_and_waits(browser_page: Any,
                                                  fake_gateway: FakeGateway) -> None:
    """``/?series=DOES-NOT-EXIST`` said "no series selected"."""
    page, gw = browser_page, fake_gateway
    plain = gw._replies

    def replies(f: dict) -> list[dict]:
        if f.get("type") == "subscribe" and f.get("series") == "DOES-NOT-EXIST":
            return [{"type": "subscribed", "channel": f.get("channel", "forecasts"),
                     "series": "DOES-NOT-EXIST"}]  # the gateway's answer: no snapshot yet
        return plain(f)

    gw._replies = replies
    page.goto(gw.http_url + "?series=DOES-NOT-EXIST")
    page.wait_for_function("() => document.querySelectorAll('#alerts li[data-id]').length === 3",
                           timeout=TIMEOUT_MS)
    assert page.text_content("#chart-title") == "DOES-NOT-EXIST"
    assert "waiting for data" in (page.text_content("#chart-meta") or "")
    assert page.errors == []


def test_stale_ops_say_so_and_show_no_latency(browser_page: Any,
                                              fake_gateway: FakeGateway) -> None:
    """With the worker stopped the page stayed green with "latency p50 0.0 ms"."""
    page, gw = browser_page, fake_gateway
    page.goto(gw.http_url)
    page.wait_for_selector("#ops-lag", timeout=TIMEOUT_MS)
    now = time.time()
    live = {"t": now, "groups": {}, "events_per_s": 12.0, "latency_ms": {"p50": 4.0, "p99": 9.0},
            "workers": [{"name": "h:1", "partitions": [0]}]}
    gw.push({"type": "update", "channel": "ops", "data": live})
    page.wait_for_function("() => document.getElementById('ops-p50').textContent === '4.0 ms'",
                           timeout=TIMEOUT_MS)
    assert not page.is_visible("#stale")
    gw.push({"type": "update", "channel": "ops", "data": {
        **live, "events_per_s": 0.0, "latency_ms": {"p50": 0.0, "p99": 0.0}, "workers": []}})
    page.wait_for_function("() => document.getElementById('ops-p50').textContent === '-'",
                           timeout=TIMEOUT_MS)
    assert page.text_content("#ops-p99") == "-"
    assert page.is_visible("#stale")
    assert "no worker reporting" in (page.text_content("#stale") or "")
    gw.push({"type": "update", "channel": "ops", "data": {**live, "t": now - 120}})
    page.wait_for_function("() => document.getElementById('stale').textContent"
                           ".startsWith('no data for 2m')", timeout=TIMEOUT_MS)
    assert page.errors == []


def test_a_scoped_token_gets_the_alerts_it_grants(browser_page: Any,
                                                  fake_gateway: FakeGateway) -> None:
    """A token for ``851*`` subscribed alerts with "*": forbidden, no alerts, a red status."""
    page, gw = browser_page, fake_gateway
    gw.auth = "required"
    plain = gw._replies

    def replies(f: dict) -> list[dict]:
        if f.get("type") == "auth":
            return [{"type": "authed", "channels": ["forecasts", "actuals", "alerts", "ops"],
                     "patterns": ["851*"], "expires": 1700003600}]
        if f.get("type") == "subscribe" and f.get("channel") == "alerts" \
                and f.get("pattern") != "851*":
            return [{"type": "error", "code": "forbidden",
                     "message": f"the token does not grant pattern {f.get('pattern')!r}"}]
        return plain(f)

    gw._replies = replies
    page.goto(gw.http_url + "?token=scoped")
    page.wait_for_function("() => document.querySelectorAll('#alerts li[data-id]').length === 3",
                           timeout=TIMEOUT_MS)
    assert [f.get("pattern") for f in gw.frames("subscribe", channel="alerts")] == ["851*"]
    status = page.text_content("#status") or ""
    assert "authenticated" in status and "2023-11-14 23:13:20 UTC" in status, status
    assert "error" not in (page.get_attribute("#status", "class") or "")
    assert page.errors == []


def test_top_mover_names_are_not_cut(browser_page: Any, fake_gateway: FakeGateway) -> None:
    """At 1280 px a mover's name read "170…" next to its figures. (And every page load had
    a failed request: /favicon.ico, 404.)"""
    page, gw = browser_page, fake_gateway
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(gw.http_url)
    page.wait_for_selector("#movers li[data-series]", timeout=TIMEOUT_MS)
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    assert failed == []
    # headless Chromium asks for no favicon at all: a browser with a tab bar asked for
    # /favicon.ico unless the page names one; the page's own needs no request
    icon = page.eval_on_selector("link[rel=icon]", "e => e.getAttribute('href')")
    assert icon.startswith("data:"), icon
    gw.push({"type": "movers", "id": "movers", "items": [
        {"series": "17003C", "score": 123.4, "actual": 12345.6, "expected": 23.4},
        {"series": "POST", "score": 45.6, "actual": 1234.5, "expected": 234.5}]})
    page.wait_for_selector("#movers li[data-series='17003C']", timeout=TIMEOUT_MS)
    cut = page.eval_on_selector_all(
        "#movers li .name", "els => els.filter((e) => e.scrollWidth > e.clientWidth)"
        ".map((e) => e.textContent)")
    assert cut == []
    assert page.errors == []
