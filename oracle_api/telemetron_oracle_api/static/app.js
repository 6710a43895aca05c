// Telemetron dashboard: Oracle summary and issues, trace search, a trace's waterfall and agent
// graph, and the live event feed. Plain ES modules on Preact + htm (vendored, see frontend/vendor.sh).
import { h, render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);
const params = new URLSearchParams(location.search);
const TOKEN = takeToken();
const STEP_COLORS = { agent: "var(--agent)", tool: "var(--tool)", llm: "var(--llm)", handoff: "var(--handoff)", queue: "var(--queue)", other: "var(--other)" };

// The API token comes in the page's fragment (http://host:8080/#token=...): browsers never send a
// fragment to the server, so it stays out of access logs. It is kept for this tab's reloads and
// removed from the address bar; HTTP calls send it as a header, the WebSocket URL as ?token=
// (a browser cannot set WebSocket headers).
function takeToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem("telemetron.token", fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return fromUrl || sessionStorage.getItem("telemetron.token") || "";
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    const error = new Error(`${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

const fmtMs = (ms) => (ms == null ? "…" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
const short = (id) => (id ? id.replace(/^0+/, "").slice(0, 8) || id.slice(0, 8) : "");

// --- Oracle -----------------------------------------------------------------------------------------

function OraclePanel({ onOpenTrace }) {
  const [state, setState] = useState(null);
  const [issues, setIssues] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stop = false;
    async function load() {
      try {
        const [s, i] = await Promise.all([api("/api/v1/oracle/state"), api("/api/v1/oracle/issues")]);
        if (!stop) { setState(s); setIssues(i); setError(null); }
      } catch (e) {
        if (!stop) setError(e.status === 404 ? "Oracle not available on this server" : `Oracle not available (${e.message})`);
      }
    }
    load();
    const timer = setInterval(load, 5000);
    return () => { stop = true; clearInterval(timer); };
  }, []);
  if (error) return html`<div class="panel oracle" data-testid="oracle"><h2>Oracle</h2><p class="pad muted" data-testid="oracle-unavailable">${error}</p></div>`;
  if (!state) return html`<div class="panel oracle" data-testid="oracle"><h2>Oracle</h2><p class="pad muted">Loading…</p></div>`;
  const agents = state.agents || [];
  const running = agents.reduce((n, a) => n + ((a.activity && a.activity.active_task_ids) || []).filter((t) => t.status === "running" || t.status === "waiting").length, 0);
  const queued = (state.queues || []).reduce((n, q) => n + ((q.tasks || q.pending_tasks || []).length || 0), 0);
  const list = (issues && issues.issues) || [];
  return html`<div class="panel oracle" data-testid="oracle">
    <h2>Oracle <span class="muted">${fmtTime(state.generated_at)}</span></h2>
    <div class="stats">
      <div class="stat"><b>${agents.length}</b>agents</div>
      <div class="stat"><b>${running}</b>active tasks</div>
      <div class="stat"><b>${(state.queues || []).length}</b>queues${queued ? ` (${queued} tasks)` : ""}</div>
      <div class="stat"><b>${(state.litellm || []).length}</b>models</div>
      <div class="stat"><b class=${list.length ? "err" : ""}>${list.length}</b>issues</div>
    </div>
    ${list.slice(0, 20).map((i) => html`<div class="issue" data-testid="issue">
      <span class=${`sev ${i.severity}`}>${i.severity}</span><b>${i.kind}</b> · ${i.entity && i.entity.name}
      <div class="muted">${i.probable_cause}</div>
      ${((i.evidence && i.evidence.trace_ids) || []).slice(0, 3).map((t) => html`<a href="#" onClick=${(e) => { e.preventDefault(); onOpenTrace(t); }} class="mono">${short(t)} </a>`)}
    </div>`)}
  </div>`;
}

// --- trace list -------------------------------------------------------------------------------------

function TraceList({ selected, onSelect, refreshKey }) {
  const [form, setForm] = useState({ service: "", agent: "", model: "", status: "", conversation_id: "", attributes: "" });
  const [traces, setTraces] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = useCallback(async () => {
    const q = new URLSearchParams({ limit: "50" });
    for (const [k, v] of Object.entries(form)) if (v) q.set(k, v);
    try {
      const data = await api(`/api/v1/traces?${q}`);
      setTraces(data.traces);
      setError(null);
    } catch (e) { setError(e.message); }
  }, [form]);
  useEffect(() => { load(); }, [load, refreshKey]);
  const field = (name, placeholder, cls = "") => html`<input class=${cls} name=${name} placeholder=${placeholder} value=${form[name]}
      onChange=${(e) => setForm({ ...form, [name]: e.target.value })} />`;
  async function simulate(error) {
    setBusy(true);
    try {
      const r = await api("/api/v1/debug/simulate-trace", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ error }) });
      setTimeout(() => { load(); onSelect(r.trace_id); }, 500);
    } catch (e) { setError(`simulate: ${e.message}`); }
    setBusy(false);
  }
  return html`<div class="panel" data-testid="trace-list">
    <h2>Traces <span>
      <button data-testid="simulate" disabled=${busy} onClick=${() => simulate(false)}>Simulate</button>
      <button disabled=${busy} onClick=${() => simulate(true)}>Simulate error</button></span></h2>
    <form class="search" onSubmit=${(e) => { e.preventDefault(); load(); }}>
      ${field("service", "service")} ${field("agent", "agent")}
      ${field("model", "model")}
      <select name="status" value=${form.status} onChange=${(e) => setForm({ ...form, status: e.target.value })}>
        <option value="">any status</option><option value="ok">ok</option><option value="error">error</option>
      </select>
      ${field("conversation_id", "conversation id", "wide")}
      ${field("attributes", 'attributes {"key":"value"}', "wide")}
      <button class="primary wide" type="submit" data-testid="search">Search</button>
    </form>
    ${error && html`<p class="pad err">${error}</p>`}
    <table class="traces"><tbody>
      ${traces.map((t) => html`<tr data-testid="trace-row" data-trace-id=${t.trace_id} class=${t.trace_id === selected ? "selected" : ""} onClick=${() => onSelect(t.trace_id)}>
        <td><div><b>${t.root_name || "(root not arrived)"}</b></div>
          <div class="muted">${(t.services || []).join(", ")}</div>
          <div class="muted mono">${short(t.trace_id)} · ${fmtTime(t.start_time)}</div></td>
        <td style="text-align:right;white-space:nowrap">${fmtMs(t.duration_ms)}<div class="muted">${t.span_count} spans</div>
          ${t.error_count ? html`<div class="err">${t.error_count} errors</div>` : ""}</td>
      </tr>`)}
    </tbody></table>
    ${!traces.length && !error && html`<p class="pad muted" data-testid="no-traces">No traces yet. Send OTLP to the Collector, or press Simulate.</p>`}
  </div>`;
}

// --- trace view: waterfall and agent graph ----------------------------------------------------------

function Waterfall({ timeline, onPick, picked }) {
  const spans = timeline.steps.filter((s) => s.type === "span");
  const events = timeline.steps.filter((s) => s.type === "event");
  if (!spans.length) return html`<p class="muted">No spans.</p>`;
  const t0 = Math.min(...spans.map((s) => s.start_ns));
  const now = Date.now() * 1e6;
  const ends = spans.map((s) => s.end_ns || Math.max(now, s.start_ns));
  const total = Math.max(1, Math.max(...ends) - t0);
  const rowH = 22, labelW = 300, width = 1000, barW = width - labelW - 10;
  const x = (ns) => labelW + ((ns - t0) / total) * barW;
  const rowOf = new Map(spans.map((s, i) => [s.span_id, i]));
  return html`<svg data-testid="waterfall" viewBox=${`0 0 ${width} ${spans.length * rowH + 24}`} width="100%" style="max-width:100%">
    ${[0, 0.25, 0.5, 0.75, 1].map((f) => html`<g><line x1=${labelW + f * barW} x2=${labelW + f * barW} y1="0" y2=${spans.length * rowH + 6} stroke="#e2e5eb" />
      <text x=${labelW + f * barW} y=${spans.length * rowH + 18} text-anchor="middle" class="muted">${fmtMs((f * total) / 1e6)}</text></g>`)}
    ${spans.map((s, i) => {
      const end = s.end_ns || Math.max(now, s.start_ns);
      const w = Math.max(2, x(end) - x(s.start_ns));
      const color = STEP_COLORS[s.step] || STEP_COLORS.other;
      return html`<g data-testid="waterfall-row" data-span-id=${s.span_id} data-step=${s.step} style="cursor:pointer" onClick=${() => onPick(s)}>
        <rect x="0" y=${i * rowH} width=${width} height=${rowH} fill=${picked === s.span_id ? "#eef0ff" : i % 2 ? "#fafbfc" : "#fff"} />
        <text x=${6 + s.depth * 12} y=${i * rowH + 15} class=${s.error ? "err" : ""}>${s.name.length > 40 ? s.name.slice(0, 39) + "…" : s.name}${s.in_progress ? " ⏳" : ""}</text>
        <rect data-testid="waterfall-bar" x=${x(s.start_ns)} y=${i * rowH + 5} width=${w} height=${rowH - 10} rx="2"
          fill=${color} fill-opacity=${s.in_progress ? 0.45 : 0.9} stroke=${s.error ? "var(--error)" : "none"} stroke-width="2" />
        <text x=${Math.min(x(s.start_ns) + w + 4, width - 60)} y=${i * rowH + 15} class="muted">${fmtMs(s.duration_ms)}</text>
      </g>`;
    })}
    ${events.map((e) => rowOf.has(e.span_id) && html`<circle cx=${x(e.start_ns)} cy=${rowOf.get(e.span_id) * rowH + rowH / 2} r="3.5"
      fill=${e.error ? "var(--error)" : "#1d2330"}><title>${e.name}</title></circle>`)}
  </svg>`;
}

function layoutGraph(graph) {
  const level = new Map();
  const incoming = new Map(graph.nodes.map((n) => [n.id, 0]));
  const agentEdges = graph.edges.filter((e) => e.type !== "call");
  for (const e of agentEdges) incoming.set(e.target, (incoming.get(e.target) || 0) + 1);
  const queue = graph.nodes.filter((n) => (n.type === "agent" || n.type === "service") && !incoming.get(n.id)).map((n) => n.id);
  if (!queue.length && graph.nodes.length) queue.push(graph.nodes.find((n) => n.type === "agent" || n.type === "service")?.id || graph.nodes[0].id);
  for (const id of queue) level.set(id, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const e of agentEdges.filter((e) => e.source === id)) {
      if (!level.has(e.target)) { level.set(e.target, level.get(id) + 1); queue.push(e.target); }
    }
  }
  for (const n of graph.nodes) if ((n.type === "agent" || n.type === "service") && !level.has(n.id)) level.set(n.id, 0);
  for (const e of graph.edges.filter((e) => e.type === "call")) {
    if (!level.has(e.target)) level.set(e.target, (level.get(e.source) || 0) + 1);
  }
  const columns = [];
  for (const n of graph.nodes) (columns[level.get(n.id) || 0] ||= []).push(n);
  const pos = new Map();
  const colW = 240, rowH = 54;
  columns.forEach((col, c) => col.forEach((n, r) => pos.set(n.id, { x: 20 + c * colW, y: 20 + r * rowH })));
  const height = Math.max(...columns.map((c) => (c ? c.length : 0)), 1) * rowH + 30;
  return { pos, width: Math.max(columns.length, 1) * colW + 40, height };
}

function AgentGraph({ graph }) {
  if (!graph || !graph.nodes.length) return html`<p class="muted">No agents, tools or models in this trace.</p>`;
  const { pos, width, height } = layoutGraph(graph);
  const nodeW = 150, nodeH = 34;
  const fill = { agent: "var(--agent)", tool: "var(--tool)", model: "var(--llm)", service: "var(--other)" };
  const stroke = { delegation: "#5b6cf0", handoff: "#b54fc4", call: "#9aa1b1" };
  return html`<svg data-testid="agent-graph" viewBox=${`0 0 ${width} ${height}`} width="100%" style=${`max-width:${width}px`}>
    <defs>${Object.entries(stroke).map(([k, c]) => html`<marker id=${`arrow-${k}`} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill=${c} /></marker>`)}</defs>
    ${graph.edges.map((e, i) => {
      const a = pos.get(e.source), b = pos.get(e.target);
      if (!a || !b) return null;
      // Several edges between the same two nodes (a delegation and a handoff) fan out.
      const twins = graph.edges.filter((o) => o.source === e.source && o.target === e.target);
      const spread = (twins.indexOf(e) - (twins.length - 1) / 2) * 12;
      const x1 = a.x + nodeW, y1 = a.y + nodeH / 2 + spread, x2 = b.x, y2 = b.y + nodeH / 2 + spread;
      const back = x2 <= x1;
      const d = back ? `M ${a.x + nodeW / 2} ${a.y + nodeH} C ${a.x + nodeW / 2} ${a.y + nodeH + 40}, ${b.x + nodeW / 2} ${b.y + nodeH + 40}, ${b.x + nodeW / 2} ${b.y + nodeH}`
        : `M ${x1} ${y1} C ${(x1 + x2) / 2} ${y1}, ${(x1 + x2) / 2} ${y2}, ${x2} ${y2}`;
      return html`<g data-testid="graph-edge" data-type=${e.type}>
        <path d=${d} fill="none" stroke=${stroke[e.type]} stroke-width=${e.type === "call" ? 1.2 : 2} stroke-dasharray=${e.type === "handoff" ? "5 3" : ""} marker-end=${`url(#arrow-${e.type})`} />
        <text x=${back ? (a.x + b.x) / 2 + nodeW / 2 : x2 - 6} y=${back ? Math.max(a.y, b.y) + nodeH + 36 : y2 - 3} text-anchor=${back ? "middle" : "end"} class="muted">${e.type === "call" ? "" : e.type + " "}×${e.count}${e.errors ? ` (${e.errors} err)` : ""}</text>
        <title>${e.source} → ${e.target}: ${e.type} ×${e.count}, avg ${fmtMs(e.avg_duration_ms)}</title>
      </g>`;
    })}
    ${graph.nodes.map((n) => {
      const p = pos.get(n.id);
      return html`<g data-testid="graph-node" data-node-id=${n.id}>
        <rect x=${p.x} y=${p.y} width=${nodeW} height=${nodeH} rx="6" fill=${fill[n.type] || "var(--other)"} fill-opacity="0.14" stroke=${n.errors ? "var(--error)" : fill[n.type]} stroke-width=${n.errors ? 2 : 1} />
        <text x=${p.x + 8} y=${p.y + 14}><tspan font-weight="600">${n.name.length > 20 ? n.name.slice(0, 19) + "…" : n.name}</tspan></text>
        <text x=${p.x + 8} y=${p.y + 27} class="muted">${n.type}${n.count ? ` · ${n.count}× · ${fmtMs(n.avg_duration_ms)}` : ""}</text>
        <title>${n.id}</title>
      </g>`;
    })}
  </svg>`;
}

function TraceView({ traceId, liveTick }) {
  const [timeline, setTimeline] = useState(null);
  const [graph, setGraph] = useState(null);
  const [error, setError] = useState(null);
  const [picked, setPicked] = useState(null);
  useEffect(() => { setPicked(null); setTimeline(null); setGraph(null); }, [traceId]);
  useEffect(() => {
    if (!traceId) return;
    let stop = false;
    Promise.all([api(`/api/v1/traces/${traceId}/timeline`), api(`/api/v1/traces/${traceId}/graph`).catch(() => ({ nodes: [], edges: [] }))])
      .then(([t, g]) => { if (!stop) { setTimeline(t); setGraph(g); setError(null); } })
      .catch((e) => { if (!stop) setError(e.status === 404 ? "This trace has not arrived yet." : e.message); });
    return () => { stop = true; };
  }, [traceId, liveTick]);
  if (!traceId) return html`<div class="panel" data-testid="trace-view"><h2>Trace</h2><p class="pad muted">Pick a trace on the left.</p></div>`;
  if (error) return html`<div class="panel" data-testid="trace-view"><h2>Trace</h2><p class="pad muted">${error}</p></div>`;
  if (!timeline) return html`<div class="panel" data-testid="trace-view"><h2>Trace</h2><p class="pad muted">Loading…</p></div>`;
  const spans = timeline.steps.filter((s) => s.type === "span");
  const errors = spans.filter((s) => s.error).length;
  const pickedStep = spans.find((s) => s.span_id === picked);
  return html`<div class="panel" data-testid="trace-view">
    <h2><span>Trace <span class="mono">${traceId}</span></span>
      <span><a href=${`/api/traces/${traceId}`} target="_blank" data-testid="jaeger-link">Jaeger JSON</a> · <a href=${`/api/v3/traces/${traceId}`} target="_blank">OTLP JSON</a> · <a href=${`/api/v1/traces/${traceId}`} target="_blank">REST</a></span></h2>
    <div class="trace-head">
      <span><b data-testid="span-count">${spans.length}</b> spans</span>
      ${errors ? html`<span class="err">${errors} errors</span>` : html`<span class="muted">no errors</span>`}
      <span class="muted">started ${fmtTime(timeline.start_time)}</span>
      <span class="legend">${Object.entries(STEP_COLORS).map(([k, c]) => html`<span><i style=${`background:${c}`}></i>${k}</span>`)}</span>
    </div>
    <div class="section"><h3>Waterfall</h3><${Waterfall} timeline=${timeline} picked=${picked} onPick=${(s) => setPicked(s.span_id)} /></div>
    ${pickedStep && html`<div class="section" data-testid="span-detail"><h3>${pickedStep.name}</h3>
      <div class="detail mono">${JSON.stringify({ step: pickedStep.step, agent: pickedStep.agent, duration_ms: pickedStep.duration_ms, status: pickedStep.status, status_message: pickedStep.status_message, ...pickedStep.details }, null, 2)}</div></div>`}
    <div class="section"><h3>Agent graph</h3><${AgentGraph} graph=${graph} /></div>
  </div>`;
}

// --- live feed --------------------------------------------------------------------------------------

function LiveFeed({ onMessage }) {
  const [items, setItems] = useState([]);
  const [connected, setConnected] = useState(false);
  const [filters, setFilters] = useState({ agent: "", kind: "", errors_only: false });
  const socket = useRef(null);
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => {
    let closed = false, retry = null;
    const id = `dashboard-${Math.random().toString(36).slice(2, 8)}`;
    function connect() {
      const q = TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "";
      const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/debug/${id}${q}`);
      socket.current = ws;
      ws.onopen = () => setConnected(true);
      ws.onclose = () => { setConnected(false); if (!closed) retry = setTimeout(connect, 2000); };
      ws.onmessage = (event) => {
        const m = JSON.parse(event.data);
        if (m.type === "subscribed" || m.type === "error") return;
        handler.current(m);
        setItems((old) => [m, ...old].slice(0, 200));
      };
    }
    connect();
    return () => { closed = true; clearTimeout(retry); socket.current && socket.current.close(); };
  }, []);
  function apply(next) {
    setFilters(next);
    const ws = socket.current;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ agent: next.agent || null, kind: next.kind || [], errors_only: next.errors_only }));
  }
  const color = (m) => (m.type === "gap" ? "var(--warn)" : m.type === "issue" ? "var(--error)" : STEP_COLORS[m.step] || STEP_COLORS.other);
  return html`<div class="panel" data-testid="live-feed">
    <h2><span>Live <span class=${`dot ${connected ? "on" : "off"}`} data-testid=${connected ? "live-connected" : "live-disconnected"}></span></span>
      <button onClick=${() => setItems([])}>clear</button></h2>
    <div class="filters">
      <input placeholder="agent" value=${filters.agent} onChange=${(e) => apply({ ...filters, agent: e.target.value })} />
      <select value=${filters.kind} onChange=${(e) => apply({ ...filters, kind: e.target.value })}>
        <option value="">all kinds</option>${Object.keys(STEP_COLORS).map((k) => html`<option value=${k}>${k}</option>`)}
      </select>
      <label><input type="checkbox" style="width:auto" checked=${filters.errors_only} onChange=${(e) => apply({ ...filters, errors_only: e.target.checked })} /> errors</label>
    </div>
    ${items.map((m) => html`<div data-testid="live-item" data-type=${m.type} class=${`feed-item ${m.type}`}>
      <span class="k" style=${`background:${color(m)}`}>${m.type === "span" || m.type === "pending" ? m.step : m.type}</span>
      ${m.type === "gap" ? html`<b>${m.dropped} messages dropped</b> (this page fell behind)`
        : m.type === "issue" ? html`<b>${m.status}</b> ${m.kind} · ${m.entity_name}`
        : html`<span class=${m.error ? "err" : ""}>${m.name}</span> ${m.type === "pending" ? html`<i class="muted">running</i>` : html`<span class="muted">${fmtMs(m.duration_ms)}</span>`}
          <div class="muted">${m.agent || m.service_name} · <span class="mono">${short(m.trace_id)}</span></div>`}
    </div>`)}
    ${!items.length && html`<p class="pad muted">Waiting for spans…</p>`}
  </div>`;
}

// --- page -------------------------------------------------------------------------------------------

function App() {
  const [selected, setSelected] = useState(params.get("trace") || null);
  const [liveTick, setLiveTick] = useState(0);
  const [refreshKey, setRefreshKey] = useState(0);
  const timers = useRef({});
  const select = useCallback((id) => {
    setSelected(id);
    const url = new URL(location.href);
    url.searchParams.set("trace", id);
    history.replaceState(null, "", url);
  }, []);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const onMessage = useCallback((m) => {
    // Debounced refreshes: a burst of spans causes one reload, not one per span.
    if (m.trace_id && m.trace_id === selectedRef.current && !timers.current.trace) {
      timers.current.trace = setTimeout(() => { timers.current.trace = null; setLiveTick((n) => n + 1); }, 300);
    }
    if (m.type === "span" && !timers.current.list) {
      timers.current.list = setTimeout(() => { timers.current.list = null; setRefreshKey((n) => n + 1); }, 1000);
    }
  }, []);
  return html`
    <header class="top"><h1>TELEMETRON</h1>
      <span class="links"><a href="/docs">API</a><a href="/api/v1/oracle/state" target="_blank">Oracle state</a><a href="/api/v1/metrics" target="_blank">Metrics</a><a href="/api/services" target="_blank">Jaeger API</a></span></header>
    <div class="layout">
      <div class="col"><${OraclePanel} onOpenTrace=${select} /><${TraceList} selected=${selected} onSelect=${select} refreshKey=${refreshKey} /></div>
      <${TraceView} traceId=${selected} liveTick=${liveTick} />
      <${LiveFeed} onMessage=${onMessage} />
    </div>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
