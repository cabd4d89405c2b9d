// Unit tests of gateway/static/core.js (no DOM): `node --test tests/browser/core.test.mjs`.
import assert from "node:assert/strict";
import test from "node:test";

import {
  Store, backoff, breakdown, chartData, childPattern, emptySeries, errorText, fmtAge, fmtBucket,
  fmtOffset, fmtPct, fmtUtc, mergeAlerts, mergeClosed, mergeSeries, modelSummary, opsNotice,
  opsSummary, pageQuery, parseFrame, searchPattern, shopTime,
} from "../../gateway/static/core.js";

const DAY = 86400;
const forecasts = (version, n = 3, extra = {}) => ({
  series: "A", version, open: { t: n * DAY, qty: 1, events: 1 }, bucket_seconds: DAY,
  actuals: Array.from({ length: n }, (_, i) => [i * DAY, i + 1]),
  forecast: { t: [n * DAY, (n + 1) * DAY], yhat: [5, 6], lo: [4, 5], hi: [6, 7],
              model: { name: "ens", winner: "hw", weights: { hw: 0.7, tsb: 0.3 },
                       interval: { coverage: 0.8, levels: [0.8, 0.95], lo95: [3, 4],
                                   hi95: [7, 8] } } },
  ...extra,
});

test("parseFrame never throws and keeps only typed objects", () => {
  assert.deepEqual(parseFrame('{"type":"pong"}'), { type: "pong" });
  for (const bad of ["", "nope", "[]", "null", "3", '{"type":1}', '{"x":"y"}']) {
    assert.equal(parseFrame(bad), null, bad);
  }
});

test("backoff grows exponentially, is capped and jittered", () => {
  assert.equal(backoff(0, () => 0), 250);
  assert.equal(backoff(0, () => 1), 500);
  assert.equal(backoff(3, () => 1), 4000);
  assert.equal(backoff(50, () => 1), 15000);
  assert.ok(backoff(50, () => 0) >= 7500);
});

test("searchPattern: globs as typed, text as substring", () => {
  assert.equal(searchPattern(""), "*");
  assert.equal(searchPattern(" 8512 "), "*8512*");
  assert.equal(searchPattern("85*A"), "85*A");
});

test("mergeClosed sorts, dedupes by bucket (new wins) and caps", () => {
  const merged = mergeClosed([[2, 1], [1, 1]], [[2, 5], [3, 3], ["x", 1]], 10);
  assert.deepEqual(merged, [[1, 1], [2, 5], [3, 3]]);
  assert.deepEqual(mergeClosed([], [[1, 1], [2, 2], [3, 3]], 2), [[2, 2], [3, 3]]);
});

test("mergeSeries: live updates move the open bucket, stale payloads are ignored", () => {
  let s = mergeSeries(emptySeries("A"), forecasts(10), "forecasts");
  assert.equal(s.version, 10);
  s = mergeSeries(s, { series: "A", version: 11, open: { t: 3 * DAY, qty: 4, events: 2 } },
    "actuals");
  assert.equal(s.open.qty, 4);
  assert.ok(s.forecast, "an actuals update keeps the forecast");
  const stale = mergeSeries(s, forecasts(9, 2, { forecast: null }), "forecasts");
  assert.equal(stale.open.qty, 4);
  assert.ok(stale.forecast);
  assert.equal(stale.version, 11);
});

test("chartData aligns actuals, open bucket, forecast and both bands", () => {
  let s = mergeSeries(emptySeries("A"), forecasts(10), "forecasts");
  s = mergeSeries(s, { version: 11, open: { t: 3 * DAY, qty: 2 } }, "actuals");
  const [x, actual, open, yhat, lo, hi, lo95, hi95] = chartData(s);
  assert.deepEqual(x, [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY]);
  assert.deepEqual(actual, [1, 2, 3, null, null]);
  assert.deepEqual(open, [null, null, null, 2, null]);
  assert.deepEqual(yhat, [null, null, null, 5, 6]);
  assert.deepEqual([lo, hi, lo95, hi95].map((a) => a.slice(3)), [[4, 5], [6, 7], [3, 4], [7, 8]]);
});

test("chartData drops an open bucket that has closed and copes with no forecast", () => {
  const s = mergeSeries(emptySeries("A"), forecasts(1, 3, { forecast: null,
    open: { t: 2 * DAY, qty: 9 } }), "forecasts");
  const [x, actual, open, yhat] = chartData(s);
  assert.deepEqual(x, [0, DAY, 2 * DAY]);
  assert.deepEqual(actual, [1, 2, 3]);
  assert.deepEqual(open, [null, null, null]);
  assert.deepEqual(yhat, [null, null, null]);
  assert.deepEqual(chartData(emptySeries("B")), [[], [], [], [], [], [], [], []]);
});

test("modelSummary orders weights and reads the lstm version", () => {
  const f = forecasts(1).forecast;
  f.model.lstm_version = "v7";
  const m = modelSummary(f);
  assert.equal(m.winner, "hw");
  assert.deepEqual(m.weights, [["hw", 0.7], ["tsb", 0.3]]);
  assert.equal(m.lstm_version, "v7");
  assert.equal(m.lead, null);  // no mean forecast
  f.mean = [1.5, 2, 0.5];
  assert.deepEqual(modelSummary(f).lead, { total: 4, days: 3, p10: null, p90: null });
  f.lead = { buckets: 3, mean: 4, p10: 1, p90: 9 };
  assert.deepEqual(modelSummary(f).lead, { total: 4, days: 3, p10: 1, p90: 9 });
  assert.equal(modelSummary(null), null);
});

test("mergeAlerts: newest first, unique by id, capped", () => {
  const a = (id, at) => ({ id, detected_at: at, bucket: at - 10 });
  const list = mergeAlerts([a("x", 5)], [a("y", 9), a("x", 5), a("z", 1), null], 2);
  assert.deepEqual(list.map((e) => e.id), ["y", "x"]);
});

test("opsSummary totals lag over groups and flattens partitions", () => {
  const o = opsSummary({ groups: { g: { lag: 3, partitions: [{ partition: 0, lag: 3 }] },
                                   h: { lag: 4, partitions: [] } },
                         latency_ms: { p99: 9 }, models: { lstm: null }, lag_alert: true });
  assert.equal(o.lag, 7);
  assert.deepEqual(o.partitions, [{ group: "g", partition: 0, lag: 3 }]);
  assert.equal(o.p99, 9);
  assert.equal(o.lstm_version, null);
  assert.equal(o.lag_alert, true);
  assert.equal(opsSummary("x"), null);
  assert.deepEqual(o.workers, []);
  assert.equal(o.last_rebalance, null);
  assert.equal(o.aggregate_late, null);
  assert.equal(opsSummary({ aggregate_late: 3 }).aggregate_late, 3);
});

test("opsSummary lists the workers of the group and the latest rebalance", () => {
  const o = opsSummary({ groups: {}, workers: [
    { name: "h:1", partitions: [0, 2], events_per_s: 10, lag: 4, rebalances: 2,
      last_rebalance_s: 1.5, rebalancing: false },
    { name: "h:2", partitions: "odd", rebalancing: true }, null],
    rebalances: [{ worker: "h:2", duration_s: 3.25, partitions: [1] }] });
  assert.deepEqual(o.workers.map((w) => [w.name, w.partitions, w.lag, w.rebalancing]),
    [["h:1", "0,2", 4, false], ["h:2", "", null, true]]);
  assert.deepEqual(o.last_rebalance, { worker: "h:2", duration_s: 3.25 });
});

test("fmtAge", () => {
  assert.deepEqual([fmtAge(5), fmtAge(600), fmtAge(7200), fmtAge(864000), fmtAge(null)],
    ["5s", "10m", "2h", "10d", "-"]);
  assert.deepEqual([fmtBucket(2629800), fmtBucket(7889400), fmtBucket(86400)],
    ["month", "quarter", "1d"]);
});

test("Store: hello sends auth, authed the subscriptions; list picks a series", () => {
  const st = new Store({ token: "t" });
  const hello = st.handle({ type: "hello", protocol: 1, auth: "required" });
  assert.deepEqual(hello.send, [{ type: "auth", token: "t" }]);  // nothing else before authed
  const { send } = st.handle({ type: "authed", channels: ["*"] });
  assert.deepEqual(send.map((f) => f.type + ":" + (f.channel || "")),
    ["subscribe:alerts", "subscribe:ops", "list:", "movers:", "list:"]);  // last: is there a total
  const r = st.handle({ type: "series", series: ["A", "B"], id: send[2].id });
  assert.equal(st.selected, "A");
  assert.deepEqual(r.send.map((f) => f.channel), ["forecasts", "actuals"]);
  // a reply to an older search is dropped
  st.listFrame("B");
  st.handle({ type: "series", series: ["Z"], id: send[2].id });
  assert.deepEqual(st.list, ["A", "B"]);
});

test("Store: a refused token's reason stays until a token is taken", () => {
  const st = new Store({ token: "old" });
  st.handle({ type: "hello", protocol: 1, auth: "required" });
  const r = st.handle({ type: "error", code: "token_expired", message: "the token expired" });
  assert.deepEqual(r.send, []);  // no subscriptions after a refused token: no refusals
  assert.equal(st.authProblem, "token_expired: the token expired");
  st.handle({ type: "hello", protocol: 1, auth: "required" });  // a reconnect, same token
  assert.equal(st.authProblem, "token_expired: the token expired");
  st.handle({ type: "authed" });
  assert.equal(st.authProblem, null);
  const none = new Store();
  assert.deepEqual(none.handle({ type: "hello", auth: "required" }).send, []);
  assert.match(none.authProblem, /requires a token/);
  const open = new Store({ token: "t" });  // a gateway without auth: everything at once
  const all = open.handle({ type: "hello", protocol: 1, auth: "none" }).send;
  assert.equal(all[0].type, "auth");
  assert.ok(all.length > 1);
});

test("Store: resumes with the last version and alert sid", () => {
  const st = new Store({ selected: "A" });
  st.handle({ type: "snapshot", channel: "forecasts", series: "A", version: 4, data: forecasts(4) });
  st.handle({ type: "update", channel: "actuals", series: "A", version: 6,
              data: { version: 6, open: null } });
  st.handle({ type: "update", channel: "alerts", series: "A", sid: "9-1", data: { id: "k" } });
  const frames = st.subscriptions();
  assert.deepEqual(frames.filter((f) => f.since !== undefined).map((f) => [f.channel, f.since]),
    [["forecasts", 4], ["actuals", 6], ["alerts", "9-1"]]);
  assert.deepEqual(st.select("B").map((f) => `${f.type}:${f.channel}:${f.series}`),
    ["unsubscribe:forecasts:A", "unsubscribe:actuals:A", "subscribe:forecasts:B",
     "subscribe:actuals:B"]);
  assert.deepEqual(st.select("B"), []);
});

test("Store: errors set the status; odd frames are counted, never thrown", () => {
  const st = new Store();
  const r = st.handle({ type: "error", code: "forbidden", message: "no" });
  assert.ok(r.changed.has("status"));
  assert.deepEqual(st.status, { level: "error", text: "forbidden: no" });
  for (const f of [{ type: "weird" }, { type: "update", channel: "x" },
                   { type: "update", channel: "forecasts", data: null },
                   { type: "snapshot", channel: "alerts", data: 5 }]) {
    st.handle(f);
  }
  assert.ok(st.ignored >= 2);
  st.handle({ type: "hello", protocol: 1, auth: "none" });
  const ok = st.status;
  st.handle({ type: "error", code: "rate_limited", message: "slow" });
  const shown = st.status;
  st.handle({ type: "error", code: "forbidden", message: "again" });
  assert.equal(st.clearError(shown), false, "a newer error stays");
  assert.equal(st.clearError(st.status), true);
  assert.equal(st.status, ok);
  const noToken = new Store();
  noToken.handle({ type: "hello", auth: "required" });
  assert.equal(noToken.status.level, "error");
});

test("the dashboard opens on the total and follows its children for the breakdown", () => {
  const store = new Store();
  const hello = store.handle({ type: "hello", protocol: 1 });
  assert.ok(hello.send.some((f) => f.type === "list" && f.id === "aggregate"));
  // the ordinary list comes first: a series is picked for the user...
  store.handle({ type: "series", id: "list-1", series: ["85123A", "total"] });
  assert.equal(store.selected, "85123A");
  // ...and the total replaces it once the gateway says it exists
  const found = store.handle({ type: "series", id: "aggregate", series: ["total"] });
  assert.equal(store.selected, "total");
  assert.ok(found.send.some((f) => f.type === "subscribe" && f.series === "total"));
  const children = ["country:EIRE", "country:United Kingdom"];
  const total = {
    series: "total", version: 5, bucket_seconds: DAY, open: { t: 2 * DAY, qty: 30, events: 3 },
    actuals: [[0, 90], [DAY, 100]], last: { actual: 100, expected: 90, bucket: DAY },
    forecast: { t: [2 * DAY, 3 * DAY], yhat: [110, 111], lo: [0, 0], hi: [1, 1],
                model: { hierarchy: { children } } },
  };
  const r = store.handle({ type: "snapshot", channel: "forecasts", series: "total", data: total });
  assert.deepEqual(r.send, [{ type: "subscribe", channel: "forecasts", pattern: "country:*" },
                            { type: "subscribe", channel: "actuals", pattern: "country:*" }]);
  assert.ok(r.changed.has("breakdown"));
  const kid = (name, last, yhat) => ({
    series: name, version: 4, bucket_seconds: DAY, open: { t: 2 * DAY, qty: last / 4, events: 1 },
    actuals: [[DAY, last]], last: { actual: last, expected: last - 5, bucket: DAY },
    forecast: { t: [2 * DAY], yhat: [yhat], lo: [0], hi: [1], model: { hierarchy: { parent: "total" } } },
  });
  const upd = store.handle({ type: "update", channel: "forecasts", series: children[0],
                             data: kid(children[0], 20, 22) });
  assert.ok(upd.changed.has("breakdown"));
  store.handle({ type: "update", channel: "forecasts", series: children[1],
                 data: kid(children[1], 80, 88) });
  const rows = breakdown(store.series.get("total"), store.series);
  assert.deepEqual(rows.map((x) => [x.series, x.share, x.error, x.soFar, x.forecast]), [
    ["country:United Kingdom", 0.8, 5, 20, 88], ["country:EIRE", 0.2, 5, 5, 22]]);
  // after a reconnect the children's pattern is subscribed again
  assert.ok(store.subscriptions().some((f) => f.pattern === "country:*"));
});

test("without aggregates the first listed series stays selected", () => {
  const store = new Store();
  store.handle({ type: "hello", protocol: 1 });
  store.handle({ type: "series", id: "list-1", series: ["A", "B"] });
  store.handle({ type: "series", id: "aggregate", series: [] });
  assert.equal(store.selected, "A");
  assert.deepEqual(breakdown(store.view("A"), store.series), []);
  assert.equal(childPattern(["nocolon"]), null);
});

test("shop clock: hello's utc_offset dates buckets at the shop's midnight", () => {
  const nyMidnight = 1720069200;  // 2024-07-04 00:00 at UTC-05:00 (05:00 UTC)
  assert.equal(shopTime(nyMidnight), "2024-07-04 05:00");
  assert.equal(shopTime(nyMidnight, -18000), "2024-07-04 00:00");
  assert.equal(shopTime(1720018800, 32400), "2024-07-04 00:00");  // Tokyo: 15:00 UTC the 3rd
  assert.equal(shopTime(null, -18000), "-");
  assert.equal(shopTime(1e20, 0), "-");  // out of Date's range: no throw
  assert.equal(fmtOffset(-18000), "UTC-05:00");
  assert.equal(fmtOffset(19800), "UTC+05:30");
  assert.equal(fmtOffset(0), "UTC");
  const st = new Store({});
  st.handle({ type: "hello", protocol: 1, auth: "none", utc_offset: -18000 });
  assert.equal(st.utcOffset, -18000);
  assert.match(st.status.text, /protocol 1, times UTC-05:00\)/);
  st.handle({ type: "hello", protocol: 1, auth: "none" });  // an older gateway: UTC
  assert.equal(st.utcOffset, 0);
  assert.doesNotMatch(st.status.text, /times/);
});

// -- the probe's findings (a drilled-down breakdown, scoped tokens, refused tokens, stale ops) --
const CHILDREN = ["country:EIRE", "country:United Kingdom"];
const totalData = (version, closed, open) => ({
  series: "total", version, bucket_seconds: DAY, open: { t: open, qty: 30, events: 3 },
  actuals: closed, forecast: { t: [open], yhat: [110], lo: [0], hi: [1],
                               model: { hierarchy: { children: CHILDREN } } } });
const kidData = (name, version, closed, open = null) => ({
  series: name, version, bucket_seconds: DAY, actuals: closed,
  open: open === null ? null : { t: open, qty: 1, events: 1 },
  forecast: { t: [open ?? 0], yhat: [1], lo: [0], hi: [1], model: {} } });

/** A store on the total with both children, as the page has it after opening. */
function onTotal(selected = null) {
  const st = new Store({ selected });
  st.handle({ type: "hello", protocol: 1, auth: "none" });
  st.handle({ type: "series", id: "aggregate", series: ["total"] });
  st.handle({ type: "snapshot", channel: "forecasts", series: "total",
              data: totalData(5, [[0, 90], [DAY, 100]], 2 * DAY) });
  st.handle({ type: "snapshot", channel: "forecasts", series: CHILDREN[0],
              data: kidData(CHILDREN[0], 4, [[0, 10], [DAY, 20]], 2 * DAY) });
  st.handle({ type: "snapshot", channel: "forecasts", series: CHILDREN[1],
              data: kidData(CHILDREN[1], 4, [[0, 80], [DAY, 80]], 2 * DAY) });
  return st;
}

test("breakdown: a share is of the total's same bucket, never of an older one", () => {
  const st = onTotal();
  assert.deepEqual(breakdown(st.view("total"), st.series).map((r) => r.share), [0.8, 0.2]);
  // a bucket closes for the children before the total has it: no share (it added up to 115%)
  st.handle({ type: "update", channel: "forecasts", series: CHILDREN[0],
              data: kidData(CHILDREN[0], 6, [[2 * DAY, 35]], 3 * DAY) });
  st.handle({ type: "update", channel: "forecasts", series: CHILDREN[1],
              data: kidData(CHILDREN[1], 6, [[2 * DAY, 80]], 3 * DAY) });
  const rows = breakdown(st.view("total"), st.series);
  assert.deepEqual(rows.map((r) => [r.series, r.last, r.share]),
    [["country:EIRE", 35, null], ["country:United Kingdom", 80, null]]);
  // ...and once the total has it, the shares are of that bucket
  st.handle({ type: "update", channel: "forecasts", series: "total",
              data: totalData(7, [[2 * DAY, 115]], 3 * DAY) });
  const shares = breakdown(st.view("total"), st.series).map((r) => r.share);
  assert.ok(Math.abs(shares[0] + shares[1] - 1) < 1e-12, `${shares}`);
  // a child behind the total: its share is of its own bucket, as the total had it
  st.handle({ type: "update", channel: "forecasts", series: "total",
              data: totalData(8, [[3 * DAY, 50]], 4 * DAY) });
  const behind = breakdown(st.view("total"), st.series).find((r) => r.series === CHILDREN[0]);
  assert.equal(behind.share, 35 / 115);
});

test("Store: the total stays subscribed while a child of its breakdown is shown", () => {
  const st = onTotal();
  assert.equal(st.selected, "total");
  const down = st.select(CHILDREN[0]).map((f) => `${f.type}:${f.channel}:${f.series}`);
  assert.deepEqual(down, ["subscribe:forecasts:country:EIRE", "subscribe:actuals:country:EIRE"]);
  // the total's next bucket still arrives: the breakdown follows it
  const r = st.handle({ type: "update", channel: "forecasts", series: "total",
                        data: totalData(9, [[2 * DAY, 120]], 3 * DAY) });
  assert.ok(r.changed.has("breakdown"));
  const back = st.select("total").map((f) => `${f.type}:${f.channel}:${f.series}`);
  assert.deepEqual(back, ["unsubscribe:forecasts:country:EIRE",
                          "unsubscribe:actuals:country:EIRE"]);
  st.select(CHILDREN[1]);
  const again = st.subscriptions().filter((f) => f.type === "subscribe")
    .map((f) => `${f.channel}:${f.series ?? f.pattern}`);
  for (const want of ["forecasts:country:United Kingdom", "forecasts:total", "actuals:total",
                      "forecasts:country:*", "actuals:country:*"]) {
    assert.ok(again.includes(want), `${want} in ${again}`);
  }
});

test("Store: the breakdown's children are followed on actuals: so far is live", () => {
  const st = onTotal();
  assert.ok(st.subscriptions().some((f) => f.channel === "actuals" && f.pattern === "country:*"));
  const r = st.handle({ type: "update", channel: "actuals", series: CHILDREN[0],
                        data: { series: CHILDREN[0], version: 9,
                                open: { t: 2 * DAY, qty: 7, events: 4 } } });
  assert.ok(r.changed.has("breakdown"));
  const row = breakdown(st.view("total"), st.series).find((x) => x.series === CHILDREN[0]);
  assert.equal(row.soFar, 7);
});

test("Store: opened on a series, the total is subscribed too (its crumb and breakdown)", () => {
  const st = new Store({ selected: "85123A" });
  st.handle({ type: "hello", protocol: 1, auth: "none" });
  const r = st.handle({ type: "series", id: "aggregate", series: ["total"] });
  assert.equal(st.selected, "85123A");
  assert.deepEqual(r.send.map((f) => `${f.type}:${f.channel}:${f.series}`),
    ["subscribe:forecasts:total", "subscribe:actuals:total"]);
  assert.ok(r.changed.has("breakdown"));
  // the same answer after a reconnect subscribes nothing twice
  assert.deepEqual(st.handle({ type: "series", id: "aggregate", series: ["total"] }).send, []);
});

test("Store: alerts are subscribed with the patterns the token grants", () => {
  const st = new Store({ token: "t" });
  st.handle({ type: "hello", protocol: 1, auth: "required" });
  const { send } = st.handle({ type: "authed", channels: ["forecasts", "actuals", "alerts"],
                               patterns: ["851*", "total"], expires: 1700003600 });
  assert.deepEqual(send.filter((f) => f.channel === "alerts").map((f) => f.pattern),
    ["851*", "total"]);
  assert.ok(!send.some((f) => f.channel === "ops"), "ops is not granted: not asked for");
  assert.match(st.status.text, /valid until 2023-11-14 23:13:20 UTC/);
  const all = new Store({ token: "t" });
  all.handle({ type: "hello", protocol: 1, auth: "required" });
  const open = all.handle({ type: "authed", channels: ["alerts", "ops"], patterns: ["*"] }).send;
  assert.deepEqual(open.filter((f) => f.channel === "alerts").map((f) => f.pattern), ["*"]);
  assert.ok(open.some((f) => f.channel === "ops"));
});

test("Store: nothing but auth is sent while auth is pending or refused; a refusal is final", () => {
  const st = new Store({ token: "old" });
  st.handle({ type: "hello", protocol: 1, auth: "required" });
  assert.deepEqual(st.periodic(), []);  // the movers timer: no request before "authed"
  assert.deepEqual(st.searchFrames("85"), []);
  st.handle({ type: "error", code: "token_expired", message: "token expired at 1700003600" });
  assert.equal(st.authFatal, true);
  assert.equal(st.authProblem, "token_expired: token expired at 2023-11-14 23:13:20 UTC");
  assert.deepEqual(st.periodic(), []);
  assert.equal(st.clearError(st.status), false, "the refusal is not cleared to 'connected'");
  // a refusal of anything sent meanwhile does not hide why
  st.handle({ type: "error", code: "unauthorized", message: "send an auth frame first" });
  assert.equal(st.status.text, st.authProblem);
  st.handle({ type: "hello", protocol: 1, auth: "required" });
  st.handle({ type: "authed", channels: ["*"], patterns: ["*"] });
  assert.equal(st.authFatal, false);
  assert.deepEqual(st.periodic().map((f) => f.type), ["movers"]);
  assert.equal(st.searchFrames("85")[0].pattern, "*85*");
  st.disconnected();
  assert.deepEqual(st.periodic(), []);
  // a token that expires under the open connection: final too
  st.handle({ type: "hello", protocol: 1, auth: "required" });
  st.handle({ type: "authed", channels: ["*"], patterns: ["*"] });
  st.handle({ type: "error", code: "token_expired", message: "the token expired" });
  assert.equal(st.authFatal, true);
  assert.deepEqual(st.periodic(), []);
  // a bad token is final; too many connections is not
  const bad = new Store({ token: "x" });
  bad.handle({ type: "hello", protocol: 1, auth: "required" });
  bad.handle({ type: "error", code: "unauthorized", message: "bad token signature" });
  assert.equal(bad.authFatal, true);
  const busy = new Store({ token: "x" });
  busy.handle({ type: "hello", protocol: 1, auth: "required" });
  busy.handle({ type: "error", code: "too_many_connections", message: "20" });
  assert.equal(busy.authFatal, false);
  const none = new Store();
  none.handle({ type: "hello", auth: "required" });
  assert.equal(none.authFatal, true);  // no token at all: reconnecting cannot help either
});

test("ops: no latency without data; a notice when the figures are not live", () => {
  const now = 1700000100;
  const idle = { t: now, events_per_s: 0, latency_ms: { p50: 0, p99: 0 }, workers: [] };
  assert.deepEqual([opsSummary(idle).p50, opsSummary(idle).p99], [null, null]);
  const quiet = { ...idle, workers: [{ name: "h:1" }] };  // zeros and no events either
  assert.equal(opsSummary(quiet).p50, null);
  const busy = { ...quiet, events_per_s: 10, latency_ms: { p50: 0, p99: 4 } };
  assert.deepEqual([opsSummary(busy).p50, opsSummary(busy).p99], [0, 4]);
  assert.equal(opsNotice(busy, now), null);
  assert.equal(opsNotice(idle, now), "no worker reporting: no new data");
  assert.equal(opsNotice({ ...busy, t: now - 120 }, now),
    "no data for 2m: the ops monitor is not reporting");
  assert.equal(opsNotice({ ...busy, t: now - 20 }, now), null);
  assert.equal(opsNotice(null, now), null);
  assert.equal(opsNotice({ groups: {} }, now), null);  // an older monitor: nothing to say
});

test("formats: no negative zero share, UTC expiry, search ignores case, links keep the token",
  () => {
    assert.deepEqual([fmtPct(-0.00001), fmtPct(0.1234), fmtPct(-0.25), fmtPct(null)],
      ["0.0%", "12.3%", "-25.0%", "-"]);
    assert.equal(fmtUtc(1700003600), "2023-11-14 23:13:20 UTC");
    assert.equal(fmtUtc(null), "-");
    assert.equal(errorText({ code: "token_expired", message: "token expired at 1700003600" }),
      "token_expired: token expired at 2023-11-14 23:13:20 UTC");
    assert.equal(searchPattern("p01"), "*[pP]01*");
    assert.equal(searchPattern("85*a"), "85*a");  // a glob stays as typed
    assert.equal(searchPattern("x".repeat(60)), `*${"x".repeat(60)}*`);  // over 200: as typed
    assert.equal(pageQuery("?token=a%2Bb&series=85123A", "total"), "?token=a%2Bb&series=total");
    assert.equal(pageQuery("", "country:EIRE"), "?series=country%3AEIRE");
  });
