// The live stream, grouped: spans by (step, name), issue changes by (kind, entity) with opened / closed
// counts, drops as one line. Messages are collected in a ref and drawn at most twice a second, so a
// burst of thousands stays readable and cheap.
import { useEffect, useRef, useState } from "preact/hooks";
import { html, wsUrl, plural, fmtMs, fmtTime, short, traceHref } from "../lib.js";
import { STEP_COLORS } from "./waterfall.js";

const MAX_GROUPS = 500;

function keyOf(m) {
  if (m.type === "issue") return `issue|${m.kind}|${m.entity_name}`;
  return `${m.type}|${m.step}|${m.name}|${m.agent || m.service_name || ""}`;
}

export function LiveView() {
  const [filters, setFilters] = useState({ agent: "", kind: "", errors_only: false });
  const [paused, setPaused] = useState(false);
  const [connected, setConnected] = useState(false);
  const [view, setView] = useState({ groups: [], issues: [], dropped: 0, total: 0, rate: 0 });
  const store = useRef({ groups: new Map(), issues: new Map(), dropped: 0, total: 0, times: [] });
  const socket = useRef(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    let closed = false, retry = null;
    const connect = () => {
      const ws = new WebSocket(wsUrl(`/ws/debug/dashboard-${Math.random().toString(36).slice(2, 8)}`));
      socket.current = ws;
      ws.onopen = () => { setConnected(true); send(filters); };
      ws.onclose = () => { setConnected(false); if (!closed) retry = setTimeout(connect, 2000); };
      ws.onmessage = (event) => {
        const m = JSON.parse(event.data);
        if (m.type === "subscribed" || m.type === "error") return;
        const s = store.current;
        s.total += 1;
        s.times.push(Date.now());
        if (m.type === "gap") { s.dropped += m.dropped || 0; return; }
        const table = m.type === "issue" ? s.issues : s.groups;
        const key = keyOf(m);
        const g = table.get(key) || { key, count: 0, errors: 0, statuses: {}, traces: [], first: Date.now() };
        g.count += 1;
        if (m.error) g.errors += 1;
        if (m.type === "issue") g.statuses = { ...g.statuses, [m.status]: (g.statuses[m.status] || 0) + 1 };
        if (m.trace_id && !g.traces.includes(m.trace_id)) g.traces = [m.trace_id, ...g.traces].slice(0, 3);
        g.last = m;
        g.at = Date.now();
        table.delete(key);
        table.set(key, g); // most recent last
        if (table.size > MAX_GROUPS) table.delete(table.keys().next().value);
      };
    };
    connect();
    const draw = setInterval(() => {
      if (pausedRef.current) return;
      const s = store.current;
      const now = Date.now();
      s.times = s.times.filter((t) => now - t < 10000);
      setView({ groups: [...s.groups.values()].reverse().slice(0, 100), issues: [...s.issues.values()].reverse(),
        dropped: s.dropped, total: s.total, rate: s.times.length / 10 });
    }, 500);
    return () => { closed = true; clearTimeout(retry); clearInterval(draw); socket.current && socket.current.close(); };
  }, []);

  function send(next) {
    const ws = socket.current;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ agent: next.agent || null, kind: next.kind ? [next.kind] : [], errors_only: next.errors_only }));
  }
  function apply(next) { setFilters(next); send(next); }
  function clear() { store.current = { groups: new Map(), issues: new Map(), dropped: 0, total: 0, times: [] }; setView({ groups: [], issues: [], dropped: 0, total: 0, rate: 0 }); }

  return html`<section class="view" data-testid="live-view">
    <div class="toolbar">
      <span><span class=${`dot ${connected ? "on" : "off"}`} data-testid=${connected ? "live-connected" : "live-disconnected"}></span> ${connected ? "connected" : "reconnecting…"}</span>
      <label>Agent <input value=${filters.agent} onChange=${(e) => apply({ ...filters, agent: e.target.value })} placeholder="any" /></label>
      <label>Kind <select value=${filters.kind} onChange=${(e) => apply({ ...filters, kind: e.target.value })}><option value="">all</option>
        ${Object.keys(STEP_COLORS).map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
      <label><input type="checkbox" checked=${filters.errors_only} onChange=${(e) => apply({ ...filters, errors_only: e.target.checked })} /> errors only</label>
      <button type="button" onClick=${() => setPaused(!paused)} aria-pressed=${paused ? "true" : "false"} data-testid="live-pause">${paused ? "Resume" : "Pause"}</button>
      <button type="button" onClick=${clear}>Clear</button>
      <span class="muted" data-testid="live-stats">${plural(view.total, "message")} · ${view.rate.toFixed(1)}/s</span>
    </div>
    ${view.dropped ? html`<p class="gap" data-testid="live-gap">${plural(view.dropped, "message")} dropped: this page fell behind the stream.</p>` : ""}
    <div class="two">
      <div class="panel"><h2>Spans <span class="muted">grouped by step and name, newest first</span></h2>
        ${view.groups.length ? html`<table class="grid live" data-testid="live-groups"><thead><tr><th>Step</th><th>Span</th><th class="num">Count</th><th class="num">Errors</th><th class="num">Last</th><th>Traces</th></tr></thead><tbody>
          ${view.groups.map((g) => html`<tr data-testid="live-item" data-type=${g.last.type}>
            <td><span class="k" style=${`background:${STEP_COLORS[g.last.step] || STEP_COLORS.other}`}>${g.last.step || g.last.type}</span></td>
            <td><span class=${g.errors ? "err" : ""}>${g.last.name}</span> ${g.last.type === "pending" ? html`<span class="pill running">running</span>` : ""}<div class="muted">${g.last.agent || g.last.service_name || ""}</div></td>
            <td class="num">×${g.count}</td><td class="num">${g.errors ? html`<span class="err">${g.errors}</span>` : "0"}</td>
            <td class="num">${g.last.type === "pending" ? "" : fmtMs(g.last.duration_ms)} <div class="muted">${fmtTime(new Date(g.at).toISOString())}</div></td>
            <td>${g.traces.map((t) => html`<a href=${traceHref(t)} class="mono">${short(t)} </a>`)}</td></tr>`)}</tbody></table>`
          : html`<p class="pad muted">Waiting for spans…</p>`}</div>
      <div class="panel"><h2>Issue changes</h2>
        ${view.issues.length ? html`<ul class="plain" data-testid="live-issues">${view.issues.map((g) => html`<li data-testid="live-issue">
          <b>${g.last.kind}</b> · ${g.last.entity_name} <span class=${`sev ${g.last.severity}`}>${g.last.severity}</span>
          <span class="muted">${Object.entries(g.statuses).map(([s, n]) => `${s} ×${n}`).join(", ")}; now ${g.last.status}</span></li>`)}</ul>`
          : html`<p class="pad muted">No issue opened or closed since this page opened.</p>`}</div>
    </div>
  </section>`;
}
