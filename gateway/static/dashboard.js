// salescast dashboard: DOM, WebSocket and chart glue around core.js (the logic lives there).
import {
  Store, backoff, breakdown, chartData, fmtAge, fmtBucket, fmtPct, modelSummary, openBucket,
  opsNotice, opsSummary, pageQuery, parseFrame, shopTime,
} from "./core.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const store = new Store({ token: params.get("token"), selected: params.get("series") });
const MOVERS_EVERY_MS = 10000;
const ERROR_SHOWN_MS = 15000;  // an error frame stays on the status line this long
const NOTICE_EVERY_MS = 5000;  // how often the "no data for ..." notice is brought up to date

let ws = null;
let attempt = 0;
let openedAt = null;  // when the open connection could be used (hello / authed; null: not yet)
const STABLE_MS = 10000;  // a connection usable this long resets the reconnect backoff
let plot = null;
let moversTimer = null;

// the y axis and big numbers: 1.2M, not a number cut to its last 6 digits by a fixed width
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const fmt = (x, digits = 1) => {  // 12.3; 1.2M; 0.0042 (not 0.0); never "-0"
  const v = Number(x);
  if (x === null || x === undefined || !Number.isFinite(v)) return "-";
  if (Math.abs(v) >= 1e6) return compact.format(v);
  if (v !== 0 && Math.abs(v) < 0.5 * 10 ** -digits) return v.toPrecision(2);
  const s = v.toFixed(digits);
  return Number(s) === 0 ? (0).toFixed(digits) : s;
};
const count = (v) => (Number.isFinite(v) ? `${Math.round(v)}` : "-");
const when = (t) => shopTime(t, store.utcOffset);  // the shop's clock (SALESCAST_UTC_OFFSET)


function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function send(frames) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  for (const f of frames) ws.send(JSON.stringify(f));
}

function select(name) {
  send(store.select(name));
  // a reload keeps the series (the token and any other parameter stay in the URL)
  if (store.selected) history.replaceState(null, "", pageQuery(location.search, store.selected));
  renderList();
  renderMovers();
  renderSeries();
  renderBreakdown();
}

// -- rendering ------------------------------------------------------------------------------
function renderStatus() {
  const s = $("status");
  s.textContent = store.status.text;
  s.className = `status ${store.status.level}`;
}

function pickerItem(name, value, cls = "") {
  return el("li", { class: name === store.selected ? "selected" : "", dataset: { series: name },
                    onclick: () => select(name) },
    el("span", { class: "name", title: name }, name), el("span", { class: `v ${cls}` }, value));
}

function renderList() {
  const ul = $("series-list");
  ul.replaceChildren(...store.list.map((name) => {
    const v = store.series.get(name);
    return pickerItem(name, v && v.version >= 0 ? `v${v.version}` : "");
  }));
  if (!store.list.length) ul.append(el("li", { class: "empty" }, "no matching series"));
}

function renderMovers() {
  const ul = $("movers");
  ul.replaceChildren(...store.movers.map((m) => {
    const up = Number(m.actual) >= Number(m.expected);
    return pickerItem(m.series, `${fmt(m.actual)} vs ${fmt(m.expected)} (${fmt(m.score)})`,
      up ? "up" : "down");
  }));
  if (!store.movers.length) ul.append(el("li", { class: "empty" }, "no movers yet"));
}

const AXIS = { stroke: "#8a98a8", grid: { stroke: "#222c39", width: 1 },
               ticks: { stroke: "#263141", width: 1 } };

function makePlot(data) {
  const box = $("chart");
  const opts = {
    width: Math.max(300, box.clientWidth), height: 320,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    // the axis on the shop's clock too (uPlot's default: the browser's)
    tzDate: (ts) => { const d = new Date((ts + store.utcOffset) * 1000);
                      return new Date(d.getTime() + d.getTimezoneOffset() * 60000); },
    axes: [AXIS, { ...AXIS, size: 55, values: (u, ticks) => ticks.map((v) => compact.format(v)) }],
    series: [
      {},
      { label: "actual", stroke: "#d9e1ea", width: 1.5, points: { size: 3 } },
      { label: "open bucket", stroke: "#e0a43a", fill: "#e0a43a", width: 0,
        paths: () => null, points: { show: true, size: 9, fill: "#e0a43a" } },
      { label: "forecast", stroke: "#5aa9ff", width: 2, dash: [6, 4], points: { show: false } },
      { label: "80% lo", stroke: "rgba(90,169,255,0.45)", width: 1, points: { show: false } },
      { label: "80% hi", stroke: "rgba(90,169,255,0.45)", width: 1, points: { show: false } },
      { label: "95% lo", stroke: "rgba(90,169,255,0.2)", width: 1, points: { show: false } },
      { label: "95% hi", stroke: "rgba(90,169,255,0.2)", width: 1, points: { show: false } },
    ],
    bands: [
      { series: [5, 4], fill: "rgba(90,169,255,0.28)" },
      { series: [7, 6], fill: "rgba(90,169,255,0.12)" },
    ],
  };
  return new uPlot(opts, data, box);  // eslint-disable-line no-undef
}

function renderSeries() {
  const v = store.view();
  if (!v) return;
  $("chart-title").textContent = v.series;
  const open = openBucket(v);
  const meta = [v.version >= 0 ? `version ${v.version}` : "waiting for data"];
  if (v.bucket_seconds) meta.push(`bucket ${fmtBucket(v.bucket_seconds)}`);
  if (open) meta.push(`open bucket ${when(open.t)}: ${fmt(open.qty)} (${open.events ?? 0} events)`);
  $("chart-meta").textContent = meta.join(" · ");
  const data = chartData(v);
  if (!plot && !data[0].length) return;  // nothing to draw yet
  if (!plot) plot = makePlot(data);
  else plot.setData(data);
  renderModel(modelSummary(v.forecast));
}

function renderBreakdown() {
  const total = store.aggregate ? store.series.get(store.aggregate) : null;
  const rows = total ? breakdown(total, store.series) : [];
  $("breakdown-card").hidden = !rows.length;
  $("to-total").hidden = !store.aggregate || store.selected === store.aggregate;
  if (store.aggregate) $("to-total").href = pageQuery(location.search, store.aggregate);
  $("breakdown").tBodies[0].replaceChildren(...rows.map((r) =>
    el("tr", { class: r.series === store.selected ? "selected" : "",
               dataset: { series: r.series }, onclick: () => select(r.series) },
      el("td", {}, r.series), el("td", {}, fmtPct(r.share)), el("td", {}, fmt(r.last, 0)),
      el("td", { class: r.error === null ? "" : r.error >= 0 ? "up" : "down" },
        r.error === null ? "-" : `${r.error >= 0 ? "+" : ""}${fmt(r.error, 0)}`),
      el("td", {}, fmt(r.soFar, 0)), el("td", {}, fmt(r.forecast, 0)))));
}

function renderModel(m) {
  const box = $("model");
  if (!m) {
    box.replaceChildren(el("span", {}, "no forecast yet"));
    return;
  }
  const weights = el("span", { class: "weights" }, ...m.weights.map(([name, w]) =>
    el("span", { class: "weight", title: `${name}: ${fmt(w, 3)}` }, name,
      el("i", { style: `width:${Math.round(4 + 40 * w)}px` }), fmt(w, 2))));
  const levels = m.levels.length ? m.levels.map((l) => `${Math.round(l * 100)}%`).join(" / ") : "-";
  box.replaceChildren(
    el("span", {}, "winner ", el("b", { id: "model-winner" }, m.winner ?? "-")),
    el("span", {}, "weights ", weights),
    el("span", {}, "intervals ", el("b", {}, levels)),
    el("span", {}, "lstm ", el("b", { id: "model-lstm" }, m.lstm_version ?? "none")),
    ...(m.lead ? [el("span", { title: "the sum of the mean forecast: what to stock for" },
      `next ${m.lead.days} buckets `, el("b", { id: "model-lead" }, fmt(m.lead.total, 0)),
      " (mean)", ...(m.lead.p10 !== null && m.lead.p90 !== null ? [", 80%: ",
        el("b", { id: "model-lead-band" }, `${fmt(m.lead.p10, 0)}-${fmt(m.lead.p90, 0)}`)]
        : []))] : []),
  );
}

function renderAlerts() {
  const ul = $("alerts");
  ul.replaceChildren(...store.alerts.map((a) => {
    const sev = ["info", "warning", "critical"].includes(a.severity) ? a.severity : "info";
    const state = `${a.state ?? "open"}${a.ack ? ", acked" : ""}`;
    if (a.scope === "group") {  // one shop-wide event: a closure or a surge
      return el("li", { class: sev, dataset: { id: a.id }, title: `since ${when(a.since)}` },
        el("span", { class: "sev" }, sev),
        el("span", {}, el("b", {}, "shop-wide"), ` ${a.kind}: ${count(a.series_affected)} series `,
          `affected (${count(a.active)} selling, usually ${count(a.usual)}) · ${state}`),
        el("span", { class: "when" }, when(a.bucket)));
    }
    return el("li", { class: sev, dataset: { series: a.series, id: a.id },
                      title: `score ${fmt(a.score, 2)}, model ${a.model_version ?? "-"}, ` +
                             `since ${when(a.since ?? a.bucket)}`,
                      onclick: () => select(a.series) },
      el("span", { class: "sev" }, sev),
      el("span", {}, el("bdi", {}, el("b", {}, a.series)),  // an id's bidi marks stay in it
        // a resolved alert carries the ordinary bucket that ended it, not the anomaly
        a.state === "resolved"
          ? ` ${a.kind ?? "anomaly"} since ${when(a.since ?? a.bucket)} over: back to `
          : ` ${a.kind ?? "anomaly"}: `,
        `${fmt(a.actual)} vs ${fmt(a.expected)} [${fmt(a.lo95 ?? a.lo)}, ${fmt(a.hi95 ?? a.hi)}] · ${state}`),
      el("span", { class: "when" }, when(a.bucket)));
  }));
  if (!store.alerts.length) ul.append(el("li", { class: "empty" }, "no alerts"));
  $("alert-count").textContent = store.alerts.length ? `${store.alerts.length}` : "";
}

function renderOps() {
  const o = opsSummary(store.ops);
  const dl = $("ops");
  $("partitions").hidden = !(o && o.partitions.length);
  $("workers").hidden = !(o && o.workers.length);
  if (!o) {
    dl.replaceChildren(el("div", {}, el("dt", {}, "ops"), el("dd", {}, "waiting...")));
    return;
  }
  const item = (label, value, id, alert = false) =>
    el("div", {}, el("dt", {}, label), el("dd", { id, class: alert ? "alert" : "" }, value));
  dl.replaceChildren(
    item("consumer lag", `${o.lag}`, "ops-lag", o.lag_alert),
    item("events/s", fmt(o.events_per_s), "ops-eps"),
    item("dead letters", `${o.deadletters ?? "-"}`, "ops-dlq", (o.deadletters ?? 0) > 0),
    // no latency measured (no worker, or no events): "-", not "0.0 ms"
    item("latency p50", o.p50 === null ? "-" : `${fmt(o.p50)} ms`, "ops-p50"),
    item("latency p99", o.p99 === null ? "-" : `${fmt(o.p99)} ms`, "ops-p99"),
    item("lstm model", o.lstm_version ? `${o.lstm_version} (${fmtAge(o.lstm_age_s)})` : "none",
      "ops-model"),
    item("workers", `${o.workers.length}`, "ops-workers"),
    item("last rebalance", o.last_rebalance
      ? `${fmt(o.last_rebalance.duration_s)} s (${o.last_rebalance.worker})` : "none",
      "ops-rebalance"),
    // partition sums that reached the aggregates after their bucket had closed
    ...(o.aggregate_late === null ? []
      : [item("late totals", `${o.aggregate_late}`, "ops-late", o.aggregate_late > 0)]),
  );
  $("workers").tBodies[0].replaceChildren(...o.workers.map((w) =>
    el("tr", { class: w.rebalancing ? "alert" : "" },
      ...[w.name, w.partitions, fmt(w.events_per_s), w.lag, w.rebalances,
        w.last_rebalance_s === null ? "-" : fmt(w.last_rebalance_s)]
        .map((c) => el("td", {}, c ?? "-")))));
  $("partitions").tBodies[0].replaceChildren(...o.partitions.map((p) =>
    el("tr", {}, ...[p.group, p.topic, p.partition, p.committed, p.end, p.lag]
      .map((c) => el("td", {}, c ?? "-")))));
  const badge = $("lag-badge");
  badge.hidden = !o.lag_alert;
  badge.textContent = `lag alert: ${o.lag} > ${o.lag_threshold ?? "?"}`;
  $("ops-age").textContent = o.t ? `at ${new Date(o.t * 1000).toISOString().slice(11, 19)}Z` : "";
  renderNotice();
}

/** "no data for 2m ...": the figures (and the rest of the page) are not live any more. */
function renderNotice() {
  const text = opsNotice(store.ops, Date.now() / 1000);
  const box = $("stale");
  box.hidden = !text;
  if (box.textContent !== (text || "")) box.textContent = text || "";  // announced on change
}

const RENDER = { status: renderStatus, list: renderList, movers: renderMovers,
                 series: renderSeries, alerts: renderAlerts, ops: renderOps,
                 breakdown: renderBreakdown };

function apply(changed) {
  for (const part of changed) {
    try {
      RENDER[part]();
    } catch (err) {  // one panel's bad data never freezes the others
      console.error(`rendering ${part}:`, err);
    }
  }
  if (changed.has("series")) renderList();  // versions shown next to names
}

// -- connection -----------------------------------------------------------------------------
function connect() {
  // relative to the page, as its static files are: behind a proxy that serves the dashboard
  // at a path (https://ops.example.com/salescast/), the socket is that path's /ws too
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(url);
  ws.onmessage = (ev) => {
    const frame = parseFrame(ev.data);
    if (!frame) {
      store.ignored += 1;
      return;
    }
    const { changed, send: out } = store.handle(frame);
    if (store.ready && openedAt === null) openedAt = Date.now();
    send(out);
    apply(changed);
    if (frame.type === "error") {
      const shown = store.status;
      setTimeout(() => { if (store.clearError(shown)) renderStatus(); }, ERROR_SHOWN_MS);
    }
  };
  ws.onclose = (ev) => {
    // the backoff starts again only after a connection that held and was usable: a gateway
    // that accepts and then closes (a refused token at its auth deadline, a failing snapshot)
    // is not asked 3 times a s, nor every 10 s
    if (openedAt !== null && Date.now() - openedAt >= STABLE_MS) attempt = 0;
    openedAt = null;
    store.disconnected();
    if (store.authFatal) {  // the same token would be refused again: say so, and stop
      store.setStatus("error", `${store.authProblem}; not reconnecting: open the page with a`
                               + " valid ?token=...");
      renderStatus();
      return;
    }
    const delay = backoff(attempt++);
    const why = ev.code === 4008 ? "too far behind" : ev.reason || `code ${ev.code}`;
    const retry = `reconnecting in ${(delay / 1000).toFixed(1)}s`;
    if (store.authProblem) store.setStatus("error", `${store.authProblem} (${retry})`);
    else store.setStatus("warn", `disconnected (${why}); ${retry}`);
    renderStatus();
    setTimeout(connect, delay);
  };
}

let searchTimer = null;  // debounced: one list request per pause in typing, not per key
$("to-total").addEventListener("click", (ev) => {
  ev.preventDefault();
  if (store.aggregate) select(store.aggregate);
});
$("search").addEventListener("input", (ev) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => send(store.searchFrames(ev.target.value)), 200);
});
window.addEventListener("resize", () => {
  if (plot) plot.setSize({ width: Math.max(300, $("chart").clientWidth), height: 320 });
});
moversTimer = setInterval(() => send(store.periodic()), MOVERS_EVERY_MS);
setInterval(renderNotice, NOTICE_EVERY_MS);
window.salescast = { store, plot: () => plot, socket: () => ws, moversTimer };
renderAlerts();
renderOps();
renderList();
renderMovers();
renderSeries();  // ?series=...: its name (waiting for data) before anything arrives
connect();
