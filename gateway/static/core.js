// salescast dashboard: the testable logic, no DOM and no sockets (gateway protocol v1).
//
// A Store takes parsed server frames and returns what changed plus the frames to send back;
// chartData turns one series' merged state into uPlot's aligned arrays (actuals, forecast and
// the 80% / 95% bands). dashboard.js owns the DOM, the WebSocket and the chart.

export const MAX_CLOSED = 400;   // closed buckets kept per series for the chart
export const MAX_ALERTS = 100;   // alerts kept in the list

/** The frame as an object with a string "type", or null (never throws). */
export function parseFrame(text) {
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    return null;
  }
  return f !== null && typeof f === "object" && !Array.isArray(f) && typeof f.type === "string"
    ? f : null;
}

/** Reconnect delay in ms for the n-th consecutive failure: exponential, capped, jittered. */
export function backoff(attempt, random = Math.random, base = 500, cap = 15000) {
  const exp = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 16));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** True when a search text is a glob pattern (same wildcards as the gateway's fnmatch). */
export const isPattern = (text) => /[*?[]/.test(text);

/** A letter as a glob class of both its cases ("p" -> "[pP]"); anything else as it is. */
const caseless = (c) => {
  const lo = c.toLowerCase(), up = c.toUpperCase();
  return lo !== up && lo.length === 1 && up.length === 1 ? `[${lo}${up}]` : c;
};

/** The list pattern for a search box: globs as typed, plain text as a substring match that
 * ignores case ("p01" -> "*[pP]01*": the gateway's globs are case-sensitive), unless that
 * would pass the gateway's 200 characters. */
export const searchPattern = (text) => {
  const t = (text || "").trim();
  if (t === "") return "*";
  if (isPattern(t)) return t;
  const folded = `*${[...t].map(caseless).join("")}*`;
  return folded.length <= 200 ? folded : `*${t}*`;
};

const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : null);

/** An empty merged view of one series. */
export function emptySeries(name) {
  return { series: name, version: -1, forecastVersion: -1, openVersion: -1, events: null,
           event_ts: null, bucket_seconds: null, closed: [], open: null, forecast: null,
           last: null };
}

/** Merge closed-bucket pairs [[t, v], ...] into a sorted, capped list (new values win). */
export function mergeClosed(closed, pairs, max = MAX_CLOSED) {
  if (!Array.isArray(pairs) || pairs.length === 0) return closed;
  const byT = new Map(closed.map((p) => [p[0], p[1]]));
  for (const p of pairs) {
    if (Array.isArray(p) && num(p[0]) !== null) byT.set(p[0], num(p[1]));
  }
  const out = [...byT.entries()].sort((a, b) => a[0] - b[0]);
  return out.length > max ? out.slice(out.length - max) : out;
}

/**
 * Merge a forecasts/actuals payload into a series view (returns a new object).
 * Stale payloads (an older version than already merged for that part) are ignored, so
 * snapshots replayed after a reconnect never roll the chart back.
 */
export function mergeSeries(prev, data, channel) {
  const s = { ...prev };
  const v = num(data.version) ?? -1;
  if (v >= s.openVersion && "open" in data) {
    s.open = data.open && num(data.open.t) !== null ? { ...data.open } : null;
    s.openVersion = v;
    if (data.events !== undefined) s.events = data.events;
    if (data.event_ts !== undefined) s.event_ts = data.event_ts;
  }
  if (channel === "forecasts" && v >= s.forecastVersion) {
    s.forecastVersion = v;
    if (num(data.bucket_seconds) !== null) s.bucket_seconds = data.bucket_seconds;
    s.closed = mergeClosed(s.closed, data.actuals);
    if ("forecast" in data) s.forecast = data.forecast || null;
    if ("last" in data) s.last = data.last || null;
  }
  s.version = Math.max(s.version, v);
  return s;
}

/** The live (open) bucket unless it is already among the closed ones. */
export function openBucket(s) {
  if (!s.open) return null;
  const last = s.closed.length ? s.closed[s.closed.length - 1][0] : -Infinity;
  return s.open.t > last ? s.open : null;
}

/**
 * uPlot aligned data for one series:
 * [x, actual (closed), open bucket, yhat, lo80, hi80, lo95, hi95], null where a series has no
 * point at that x. The open bucket is its own series (drawn as a point, it is still filling).
 */
export function chartData(s) {
  const fc = s.forecast && Array.isArray(s.forecast.t) ? s.forecast : null;
  const iv = (fc && fc.model && fc.model.interval) || {};
  const open = openBucket(s);
  const xs = new Set(s.closed.map((p) => p[0]));
  if (open) xs.add(open.t);
  if (fc) fc.t.forEach((t) => xs.add(t));
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((t, i) => [t, i]));
  const col = () => new Array(x.length).fill(null);
  const actual = col(), live = col(), yhat = col(), lo = col(), hi = col(), lo95 = col(),
    hi95 = col();
  for (const [t, v] of s.closed) actual[at.get(t)] = v;
  if (open) live[at.get(open.t)] = num(open.qty);
  if (fc) {
    fc.t.forEach((t, i) => {
      const j = at.get(t);
      yhat[j] = num((fc.yhat || [])[i]);
      lo[j] = num((fc.lo || [])[i]);
      hi[j] = num((fc.hi || [])[i]);
      lo95[j] = num((iv.lo95 || [])[i]);
      hi95[j] = num((iv.hi95 || [])[i]);
    });
  }
  return [x, actual, live, yhat, lo, hi, lo95, hi95];
}

/** Winner, weights (largest first), interval levels and lstm version of a forecast's model,
 * and the lead-time total: the sum of its mean forecast over the horizon (`total`, over `days`
 * buckets, with its `p10`/`p90` where the forecast's `lead` has them; null without a mean). */
export function modelSummary(forecast) {
  const m = (forecast && forecast.model) || null;
  if (!m) return null;
  const weights = Object.entries(m.weights || {})
    .filter(([, w]) => num(w) !== null)
    .sort((a, b) => b[1] - a[1]);
  const iv = m.interval || {};
  const mean = Array.isArray(forecast.mean) ? forecast.mean.map(num) : [];
  const lead = forecast.lead || {};
  const total = mean.length && mean.every((x) => x !== null)
    ? { total: mean.reduce((a, b) => a + b, 0), days: mean.length,
        p10: num(lead.p10), p90: num(lead.p90) } : null;
  return { name: m.name ?? null, winner: m.winner ?? m.name ?? null, weights,
           coverage: num(iv.coverage), levels: Array.isArray(iv.levels) ? iv.levels : [],
           lstm_version: m.lstm_version ?? null, lead: total };
}

/** The aggregate a view belongs to: its children (from the total's forecast) or null. */
export function childrenOf(view) {
  const h = view && view.forecast && view.forecast.model && view.forecast.model.hierarchy;
  return h && Array.isArray(h.children) ? h.children.map(String) : null;
}

/** The pattern that matches every child of an aggregate ("country:*"), or null. */
export function childPattern(children) {
  if (!children || !children.length) return null;
  const i = children[0].indexOf(":");
  return i > 0 ? `${children[0].slice(0, i + 1)}*` : null;
}

/** The value of a view's forecast at bucket t, or null. */
function forecastAt(view, t) {
  const fc = view && view.forecast;
  if (!fc || !Array.isArray(fc.t)) return null;
  const i = fc.t.indexOf(t);
  return i >= 0 ? num((fc.yhat || [])[i]) : null;
}

/**
 * The breakdown of an aggregate: one row per child, largest share of the total first.
 * share: of the latest closed bucket; soFar / forecast: the open bucket so far and what was
 * forecast for it; error: the latest closed bucket minus what was forecast for it.
 */
export function breakdown(total, views) {
  const children = childrenOf(total);
  if (!children) return [];
  // the total's value of each closed bucket: a child's share is of the same bucket (a child
  // whose latest bucket the total has not closed yet, or no longer holds, has none)
  const whole = new Map(total.closed);
  const rows = children.map((name) => {
    const v = views.get(name) || emptySeries(name);
    const [t, last] = v.closed.length ? v.closed[v.closed.length - 1] : [null, null];
    const of = t === null ? null : whole.get(t) ?? null;
    const open = openBucket(v);
    const l = v.last || null;
    return {
      series: name, last,
      share: of && last !== null ? last / of : null,
      soFar: open ? num(open.qty) : null,
      forecast: open ? forecastAt(v, open.t) : (v.forecast ? num((v.forecast.yhat || [])[0]) : null),
      error: l && num(l.actual) !== null && num(l.expected) !== null ? l.actual - l.expected : null,
    };
  });
  return rows.sort((a, b) => (b.share ?? -1) - (a.share ?? -1) || a.series.localeCompare(b.series));
}

/** Alerts merged newest first (by detection time, then bucket), unique by id, capped. */
export function mergeAlerts(list, alerts, max = MAX_ALERTS) {
  const byId = new Map(list.map((a) => [a.id, a]));
  for (const a of alerts) {
    if (a && typeof a === "object" && a.id !== undefined) byId.set(a.id, a);
  }
  const key = (a) => [num(a.detected_at) ?? 0, num(a.bucket) ?? 0];
  return [...byId.values()]
    .sort((a, b) => { const ka = key(a), kb = key(b); return kb[0] - ka[0] || kb[1] - ka[1]; })
    .slice(0, max);
}

/** Flat view of an ops payload for the panel. */
export function opsSummary(ops) {
  if (!ops || typeof ops !== "object") return null;
  const partitions = [];
  let lag = 0;
  for (const [group, g] of Object.entries(ops.groups || {})) {
    lag += num(g && g.lag) ?? 0;
    for (const p of (g && g.partitions) || []) partitions.push({ group, ...p });
  }
  const lstm = (ops.models && ops.models.lstm) || null;
  const lat = ops.latency_ms || {};
  const workers = (Array.isArray(ops.workers) ? ops.workers : [])
    .filter((w) => w && typeof w === "object")
    .map((w) => ({ name: String(w.name ?? "?"),
                   partitions: Array.isArray(w.partitions) ? w.partitions.join(",") : "",
                   events_per_s: num(w.events_per_s), lag: num(w.lag),
                   rebalances: num(w.rebalances), last_rebalance_s: num(w.last_rebalance_s),
                   rebalancing: w.rebalancing === true }));
  const last = (Array.isArray(ops.rebalances) ? ops.rebalances : [])[0] || null;
  // no worker reporting, or zeros without a single event: no latency was measured
  const eps = num(ops.events_per_s);
  const measured = !(Array.isArray(ops.workers) && workers.length === 0)
    && !(num(lat.p50) === 0 && num(lat.p99) === 0 && !(eps > 0));
  return { t: num(ops.t), lag, partitions, workers, events_per_s: num(ops.events_per_s),
           last_rebalance: last && typeof last === "object"
             ? { worker: String(last.worker ?? "?"), duration_s: num(last.duration_s) } : null,
           p50: measured ? num(lat.p50) : null, p99: measured ? num(lat.p99) : null,
           deadletters: num(ops.deadletters),
           aggregate_late: num(ops.aggregate_late),
           lstm_version: lstm ? lstm.version ?? null : null, lstm_age_s: lstm ? num(lstm.age_s) : null,
           lag_alert: ops.lag_alert === true, lag_threshold: num(ops.lag_threshold) };
}

/** Ops figures older than this (seconds) are not live any more. */
export const OPS_STALE_S = 30;

/**
 * Why the ops snapshot (and so the rest of the page) is not live, or null: its time ``t`` is
 * more than ``maxAge`` seconds before ``now`` (epoch seconds; the monitor stopped), or it lists
 * no worker (none has reported within the workers' 15 s expiry: no new data comes).
 */
export function opsNotice(ops, now, maxAge = OPS_STALE_S) {
  if (!ops || typeof ops !== "object") return null;
  const t = num(ops.t);
  if (t !== null && now - t > maxAge) {
    return `no data for ${fmtAge(now - t)}: the ops monitor is not reporting`;
  }
  if (Array.isArray(ops.workers) && ops.workers.length === 0) {
    return "no worker reporting: no new data";
  }
  return null;
}

/** A share as a percentage: "12.3%"; "-" for none; never "-0.0%". */
export function fmtPct(x, digits = 1) {
  if (num(x) === null) return "-";
  const s = (100 * x).toFixed(digits);
  return `${Number(s) === 0 ? (0).toFixed(digits) : s}%`;
}

/** Epoch seconds as a UTC date-time: "2023-11-14 22:13:20 UTC" ("-" for none). */
export function fmtUtc(t) {
  const d = new Date(Number(t) * 1000);
  return num(t) !== null && Number.isFinite(d.getTime())
    ? `${d.toISOString().slice(0, 19).replace("T", " ")} UTC` : "-";
}

/** The text of an error frame, epoch seconds in it ("token expired at 1700003600") shown as
 * UTC date-times. */
export function errorText(f) {
  const text = `${f.code || "error"}: ${f.message || ""}`.trim();
  return text.replace(/\b(at|until) (\d{9,11})(\.\d+)?\b/g, (_, w, t) => `${w} ${fmtUtc(Number(t))}`);
}

/** The page's query with ``series`` set, every other parameter (the token) kept. */
export function pageQuery(search, series) {
  const q = new URLSearchParams(search);
  q.set("series", series);
  return `?${q}`;
}

/** Error codes that refuse the token itself: reconnecting with it cannot help. */
export const TOKEN_ERRORS = ["unauthorized", "token_expired"];

// bucket widths that mean UTC calendar months and quarters (models/grid.py)
const CALENDAR_BUCKETS = { 2629800: "month", 7889400: "quarter" };

export function fmtBucket(seconds) {
  if (CALENDAR_BUCKETS[seconds]) return CALENDAR_BUCKETS[seconds];
  return seconds > 0 && seconds % 86400 === 0 ? `${seconds / 86400}d` : fmtAge(seconds);
}

/** A bucket time (epoch seconds) on the shop's clock, ``offset`` seconds east of UTC (the
 * gateway's hello says it: SALESCAST_UTC_OFFSET): "2024-07-04 00:00"; "-" for a time out
 * of Date's range (a bad record), never a throw. */
export function shopTime(t, offset = 0) {
  const d = new Date((Number(t) + (num(offset) ?? 0)) * 1000);
  return t && Number.isFinite(d.getTime()) ? d.toISOString().slice(0, 16).replace("T", " ") : "-";
}

/** "UTC-05:00" for -18000 seconds east of UTC; "UTC" for 0. */
export function fmtOffset(offset) {
  const off = num(offset) ?? 0;
  if (!off) return "UTC";
  const m = Math.round(Math.abs(off) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return `UTC${off < 0 ? "-" : "+"}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

/** "42s", "5m", "3h", "2d". */
export function fmtAge(seconds) {
  if (num(seconds) === null) return "-";
  const s = Math.max(0, seconds);
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * Everything the dashboard knows, fed by server frames. handle(frame) returns
 * {changed: Set of "status"|"list"|"movers"|"series"|"alerts"|"ops", send: [frames]}.
 * The store remembers what it has seen (series versions, the last alert stream id) so that
 * subscriptions() resumes without gaps after a reconnect.
 */
export class Store {
  constructor({ token = null, selected = null, moversLimit = 10, listLimit = 50 } = {}) {
    this.token = token;
    this.selected = selected;
    this.moversLimit = moversLimit;
    this.listLimit = listLimit;
    this.search = "";
    this.listId = 0;
    this.series = new Map();    // name -> merged view
    this.list = [];
    this.movers = [];
    this.alerts = [];
    this.alertSid = null;       // last alert stream id seen
    this.ops = null;
    this.status = { level: "info", text: "connecting..." };
    this.okStatus = null;       // the last "connected" status, restored after errors
    this.auth = null;           // "required" | "none" from hello
    this.utcOffset = 0;         // the shop's clock, seconds east of UTC, from hello
    this.authPending = false;   // auth sent, its answer not in yet: nothing else is sent
    this.authProblem = null;    // why the gateway refused us (kept until an "authed")
    this.authFatal = false;     // the token itself was refused: reconnecting cannot help
    this.ready = false;         // requests may be sent: no auth needed, or "authed" came
    this.granted = null;        // {channels, patterns, expires} of the last "authed"
    this.held = new Set();      // series subscribed on forecasts + actuals (this connection)
    this.ignored = 0;           // frames of an unknown shape, counted and dropped
    this.autoSelected = false;  // the selection was made for the user (total wins over it)
    this.aggregate = null;      // "total" once the gateway knows it
    this.childSub = null;       // the pattern subscribed for the breakdown ("country:*")
  }

  isChild(name) {
    const kids = this.aggregate ? childrenOf(this.series.get(this.aggregate)) : null;
    return !!kids && kids.includes(name);
  }

  view(name = this.selected) {
    return name ? this.series.get(name) || emptySeries(name) : null;
  }

  /** Whether the token grants ``channel`` (everything until an "authed" says otherwise). */
  may(channel) {
    const ch = this.granted && this.granted.channels;
    return !Array.isArray(ch) || ch.includes(channel) || ch.includes("*");
  }

  /** The alerts subscriptions: every series ("*"), or, for a token scoped to some patterns,
   * one per granted pattern ("*" alone would be forbidden). */
  alertFrames() {
    const granted = this.granted && Array.isArray(this.granted.patterns)
      ? this.granted.patterns.map(String) : [];
    const patterns = !granted.length || granted.includes("*") ? ["*"] : granted;
    return patterns.map((pattern) => {
      const f = { type: "subscribe", channel: "alerts", pattern };
      if (this.alertSid !== null) f.since = this.alertSid;
      return f;
    });
  }

  /** The breakdown's children, live: their forecasts (bucket closes) and actuals (so far). */
  childFrames(type, pattern) {
    return ["forecasts", "actuals"].map((channel) => ({ type, channel, pattern }));
  }

  /** The frames to send after hello: auth (when a token is given) then every subscription
   * (where the gateway requires a token, only auth: the rest follows its "authed"). */
  subscriptions(withAuth = true) {
    const out = [];
    if (this.token && withAuth) out.push({ type: "auth", token: this.token });
    this.held = new Set();  // a new connection holds nothing yet
    out.push(...this._sync());
    if (this.may("alerts")) out.push(...this.alertFrames());
    if (this.may("ops")) out.push({ type: "subscribe", channel: "ops" });
    out.push(this.listFrame(this.search), this.moversFrame(),
      { type: "list", pattern: "total", limit: 1, id: "aggregate" });
    if (this.childSub) out.push(...this.childFrames("subscribe", this.childSub));
    return out;
  }

  /** The frames that make the held series those wanted: the selected one and the aggregate
   * (kept while its breakdown is shown, whatever is selected). */
  _sync() {
    const want = new Set([this.selected, this.aggregate].filter(Boolean));
    const out = [];
    for (const name of this.held) {
      if (!want.has(name)) out.push(...this.seriesFrames("unsubscribe", name));
    }
    for (const name of want) {
      if (!this.held.has(name)) out.push(...this.seriesFrames("subscribe", name));
    }
    this.held = want;
    return out;
  }

  seriesFrames(type, name) {
    if (!name) return [];
    const seen = this.series.get(name);
    return ["forecasts", "actuals"].map((channel) => {
      const f = { type, channel, series: name };
      // per channel: the forecast part and the live part can have moved on separately
      const since = seen && (channel === "forecasts" ? seen.forecastVersion : seen.openVersion);
      if (type === "subscribe" && typeof since === "number" && since >= 0) f.since = since;
      return f;
    });
  }

  /** Switch the chart to another series: the frames that move the subscriptions. */
  select(name) {
    if (!name || name === this.selected) return [];
    this.selected = name;
    return this._sync();
  }

  /** The frames of the periodic refresh (top movers): none until the gateway takes requests
   * (auth pending or refused: each would be refused, and hide why). */
  periodic() {
    return this.ready ? [this.moversFrame()] : [];
  }

  /** A new search: its list request, or none while requests cannot be sent (the search is
   * kept and asked for once they can). */
  searchFrames(text) {
    if (this.ready) return [this.listFrame(text)];
    this.search = text;
    return [];
  }

  /** The connection closed: nothing may be sent on the next one before its hello/"authed". */
  disconnected() {
    this.ready = false;
    this.authPending = false;
  }

  listFrame(search) {
    this.search = search;
    this.listId += 1;
    return { type: "list", pattern: searchPattern(search), limit: this.listLimit,
             id: `list-${this.listId}` };
  }

  moversFrame() {
    return { type: "movers", limit: this.moversLimit, id: "movers" };
  }

  setStatus(level, text) {
    this.status = { level, text };
    if (level === "ok") this.okStatus = this.status;
  }

  /** Back to the last "connected" status after an error frame has been shown a while. */
  clearError(shown) {
    // a refused token stays said: the connection is of no use ("connected" would mislead)
    if (this.status !== shown || !this.okStatus || this.authProblem) return false;
    this.status = this.okStatus;
    return true;
  }

  handle(frame) {
    const changed = new Set();
    const send = [];
    try {
      this._handle(frame, changed, send);
    } catch (err) {  // a frame of an unexpected shape never breaks the page
      this.ignored += 1;
      this.setStatus("warn", `ignored a malformed ${frame && frame.type} frame: ${err.message}`);
      changed.add("status");
    }
    return { changed, send };
  }

  _handle(f, changed, send) {
    switch (f.type) {
      case "hello":
        this.auth = f.auth || "none";
        this.utcOffset = num(f.utc_offset) ?? 0;
        changed.add("status");
        this.ready = false;
        if (this.auth === "required" && !this.token) {  // every request would be refused
          this.authProblem = "this gateway requires a token: open the page with ?token=...";
          this.authFatal = true;
          this.setStatus("error", this.authProblem);
          return;
        }
        this.setStatus("ok", `connected to ${f.server || "gateway"} (protocol ${f.protocol}`
                             + `${this.utcOffset ? `, times ${fmtOffset(this.utcOffset)}` : ""})`);
        if (this.auth === "required") {  // the rest once authed: else each is refused, and
          this.authPending = true;       // their errors hide why the token was not taken
          send.push({ type: "auth", token: this.token });
          return;
        }
        this.ready = true;
        send.push(...this.subscriptions());
        return;
      case "authed":
        this.authProblem = null;
        this.authFatal = false;
        this.ready = true;
        this.granted = { channels: f.channels, patterns: f.patterns, expires: num(f.expires) };
        this.setStatus("ok", `connected, authenticated${this.granted.expires
          ? ` (token valid until ${fmtUtc(this.granted.expires)})` : ""}`);
        changed.add("status");
        if (this.authPending) {
          this.authPending = false;
          send.push(...this.subscriptions(false));
        }
        return;
      case "error":
        changed.add("status");
        if (this.authProblem && !this.authPending && !this.ready) return;  // keep saying why
        this.setStatus("error", errorText(f));
        // the token was refused (or expired under the open connection): say why until the
        // next "authed"; a refused token is not sent again by reconnecting
        if (this.authPending || (f.code === "token_expired" && this.token)) {
          this.authPending = false;
          this.ready = false;
          this.authProblem = this.status.text;
          this.authFatal = TOKEN_ERRORS.includes(f.code);
        }
        return;
      case "series":
        if (f.id === "aggregate") {  // the dashboard opens on the total when there is one
          const found = Array.isArray(f.series) && f.series.map(String).includes("total");
          this.aggregate = found ? "total" : null;
          if (found && (!this.selected || this.autoSelected)) {
            this.autoSelected = false;
            this.selected = "total";
            changed.add("series");
          }
          // the total stays subscribed whatever is selected: its breakdown and crumb show
          send.push(...this._sync());
          changed.add("breakdown");
          return;
        }
        if (f.id !== undefined && f.id !== `list-${this.listId}`) return;  // an older search
        this.list = Array.isArray(f.series) ? f.series.map(String) : [];
        changed.add("list");
        if (!this.selected && this.list.length) {
          send.push(...this.select(this.list[0]));
          this.autoSelected = true;
          changed.add("series");
        }
        return;
      case "movers":
        this.movers = Array.isArray(f.items) ? f.items.filter((m) => m && m.series) : [];
        changed.add("movers");
        return;
      case "snapshot":
      case "update":
        this._data(f, changed, send);
        return;
      case "subscribed":
      case "unsubscribed":
      case "pong":
        return;
      default:
        this.ignored += 1;
    }
  }

  _data(f, changed, send = []) {
    const channel = f.channel || "forecasts";
    if (channel === "alerts") {
      const items = f.type === "snapshot" ? (Array.isArray(f.data) ? f.data : []) : [f.data];
      for (const a of items) if (a && a.sid !== undefined) this.alertSid = a.sid;
      if (f.sid !== undefined) this.alertSid = f.sid;
      this.alerts = mergeAlerts(this.alerts, items);
      changed.add("alerts");
    } else if (channel === "ops") {
      this.ops = f.data;
      changed.add("ops");
    } else if (channel === "forecasts" || channel === "actuals") {
      const data = f.data || {};
      const name = f.series ?? data.series;
      if (name === undefined || name === null) return;
      if (f.version !== undefined && data.version === undefined) data.version = f.version;
      this.series.set(name, mergeSeries(this.view(name), data, channel));
      if (name === this.selected) changed.add("series");
      if (name === this.aggregate || this.isChild(name)) changed.add("breakdown");
      const pattern = name === this.aggregate ? childPattern(childrenOf(this.view(name))) : null;
      if (pattern && pattern !== this.childSub) {  // the breakdown follows every child live
        if (this.childSub) send.push(...this.childFrames("unsubscribe", this.childSub));
        this.childSub = pattern;
        send.push(...this.childFrames("subscribe", pattern));
      }
    } else {
      this.ignored += 1;
    }
  }
}
