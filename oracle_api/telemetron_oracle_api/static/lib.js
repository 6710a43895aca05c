// Shared by every view: the API client, formatting, a polling fetch hook and the uPlot chart.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

export const html = htm.bind(h);

// The API token: from the page's fragment only (#token=..., never sent to the server, so it stays out
// of access logs; then removed from the address bar); kept for this tab's reloads. HTTP calls send
// it as a header, the WebSocket URL as ?token= (a browser cannot set WebSocket headers).
function takeToken() {
  const hash = location.hash.slice(1);
  const hashQuery = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : hash.startsWith("/") ? "" : hash;
  const fromHash = new URLSearchParams(hashQuery).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname + location.search + "#/traces");
  if (fromHash) sessionStorage.setItem("telemetron.token", fromHash);
  return fromHash || sessionStorage.getItem("telemetron.token") || "";
}
export const TOKEN = takeToken();

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = "";
    try { const body = await response.json(); detail = body.detail || (body.errors && body.errors[0] && body.errors[0].msg) || ""; } catch (e) { /* not JSON */ }
    const error = new Error(`${response.status} ${detail || response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

export function wsUrl(path, params = {}) {
  const q = new URLSearchParams(params);
  if (TOKEN) q.set("token", TOKEN);
  const qs = q.toString();
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}${qs ? "?" + qs : ""}`;
}

// --- formatting ---------------------------------------------------------------------------------------

export const plural = (n, one, many = `${one}s`) => `${fmtNum(n)} ${n === 1 ? one : many}`;
export const fmtNum = (n) => (n == null ? "–" : Number.isInteger(n) ? n.toLocaleString("en") : n.toLocaleString("en", { maximumFractionDigits: 2 }));
export const fmtMs = (ms) => (ms == null ? "–" : ms >= 60000 ? `${(ms / 60000).toFixed(1)} min` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 1 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms * 1000).toFixed(0)} µs`);
export const fmtCost = (usd) => (usd == null ? "–" : `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`);
export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString("en-GB") : "");
export const fmtDateTime = (iso) => (iso ? new Date(iso).toLocaleString("en-GB") : "");
export const ago = (iso) => {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
};
export const short = (id) => (id ? id.replace(/^0{16}/, "").slice(0, 12) : "");
export const traceHref = (id) => `#/trace/${id}`;

// --- data ---------------------------------------------------------------------------------------------

// GET ``path`` now and every ``everyMs`` (0: once); re-fetches when ``path`` changes.
export function useFetch(path, everyMs = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return undefined;
    let stop = false;
    const load = () => api(path).then(
      (data) => { if (!stop) setState({ data, error: null, loading: false }); },
      (error) => { if (!stop) setState((old) => ({ data: old.data, error, loading: false })); },
    );
    load();
    const timer = everyMs ? setInterval(load, everyMs) : null;
    return () => { stop = true; if (timer) clearInterval(timer); };
  }, [path, everyMs, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

export function Status({ error, loading, empty, children }) {
  if (error) return html`<p class="pad err" role="alert">${error.message}</p>`;
  if (loading) return html`<p class="pad muted">Loading…</p>`;
  if (empty) return html`<p class="pad muted" data-testid="empty">${empty}</p>`;
  return children;
}

export function Copy({ text, label = "copy" }) {
  const [done, setDone] = useState(false);
  async function copy() {
    try { await navigator.clipboard.writeText(text); } catch (e) { /* clipboard refused: the id is selectable too */ }
    setDone(true);
    setTimeout(() => setDone(false), 1200);
  }
  return html`<button type="button" class="copy" title=${`copy ${text}`} aria-label=${`copy ${text}`} onClick=${copy}>${done ? "copied" : label}</button>`;
}

// --- charts -------------------------------------------------------------------------------------------

export const PALETTE = ["#5b6cf0", "#d9822b", "#1f9d74", "#b54fc4", "#2a8fbd", "#d64545", "#8a93a6", "#c98a00"];

// A time series chart: ``x`` in unix seconds, ``series`` [{label, values}], drawn by uPlot at the
// width of its box (it follows resizes).
export function Chart({ title, x, series, unit = "", testid = "chart", height = 180 }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el || !x || !x.length) return undefined;
    const fmt = (v) => (v == null ? "–" : `${fmtNum(v)}${unit ? " " + unit : ""}`);
    const opts = {
      width: Math.max(200, el.clientWidth), height,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{ stroke: "#6b7385" }, { stroke: "#6b7385", size: 60, values: (u, vals) => vals.map((v) => fmtNum(v)) }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false, value: (u, v) => fmt(v), points: { show: true, size: 5 } }))],
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)], el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => { resize.disconnect(); plot.destroy(); };
  }, [x, series, height, unit]);
  const points = series.reduce((n, s) => n + s.values.filter((v) => v != null && v !== 0).length, 0);
  return html`<figure class="chart" data-testid=${testid} data-points=${points}>
    <figcaption>${title}</figcaption>
    ${x && x.length ? html`<div ref=${box} class="chart-box"></div>` : html`<p class="muted">No data in this window.</p>`}
  </figure>`;
}
