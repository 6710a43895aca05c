// One trace: its ids and summary, the waterfall, the selected span's detail, and the agent graph.
// It reloads when a span of this trace arrives (WebSocket filtered by trace id).
import { useEffect, useRef, useState } from "preact/hooks";
import { html, api, wsUrl, TOKEN, Status, Copy, plural, fmtMs, fmtDateTime, traceHref } from "../lib.js";
import { Waterfall, STEP_COLORS } from "./waterfall.js";
import { AgentGraph } from "./graph.js";

function useTrace(traceId) {
  const [state, setState] = useState({ trace: null, timeline: null, graph: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => { setState({ trace: null, timeline: null, graph: null, error: null }); }, [traceId]);
  useEffect(() => {
    let stop = false;
    // The timeline also holds spans still running; the stored spans and the graph exist once one has ended.
    (async () => {
      const timeline = await api(`/api/v1/traces/${traceId}/timeline`);
      const ended = timeline.steps.some((s) => s.type === "span" && !s.in_progress);
      const [trace, graph] = ended
        ? await Promise.all([api(`/api/v1/traces/${traceId}`), api(`/api/v1/traces/${traceId}/graph`).catch(() => ({ nodes: [], edges: [] }))])
        : [{ spans: [], summary: null, resources: {} }, { nodes: [], edges: [] }];
      return { trace, timeline, graph };
    })().then((loaded) => { if (!stop) setState({ ...loaded, error: null }); },
      (error) => { if (!stop) setState((s) => ({ ...s, error: error.status === 404 ? new Error("This trace has not arrived (yet).") : error })); });
    return () => { stop = true; };
  }, [traceId, tick]);
  // New spans of this trace: reload, at most every 300 ms.
  useEffect(() => {
    let closed = false, timer = null, ws = null, retry = null;
    const connect = () => {
      ws = new WebSocket(wsUrl(`/ws/debug/trace-${Math.random().toString(36).slice(2, 8)}`, { trace_id: traceId }));
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if ((m.type === "span" || m.type === "pending") && !timer) timer = setTimeout(() => { timer = null; setTick((n) => n + 1); }, 300);
      };
      ws.onclose = () => { if (!closed) retry = setTimeout(connect, 2000); };
    };
    connect();
    return () => { closed = true; clearTimeout(timer); clearTimeout(retry); ws && ws.close(); };
  }, [traceId]);
  return state;
}

// Opens JSON from the API in a new tab; with a token, fetched here (a plain link cannot send it).
function JsonLink({ href, label, testid }) {
  async function open(e) {
    if (!TOKEN) return;
    e.preventDefault();
    const body = await api(href);
    window.open(URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" })), "_blank");
  }
  return html`<a href=${href} target="_blank" rel="noopener" data-testid=${testid} onClick=${open}>${label}</a>`;
}

const value = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v));

function KeyValues({ data, testid, empty = "none" }) {
  const keys = Object.keys(data || {}).sort();
  if (!keys.length) return html`<p class="muted">${empty}</p>`;
  return html`<table class="kv" data-testid=${testid}><tbody>${keys.map((k) => html`<tr><th scope="row">${k}</th><td class="mono">${value(data[k])}</td></tr>`)}</tbody></table>`;
}

function Events({ span }) {
  if (!span.events.length) return html`<p class="muted">none</p>`;
  return html`<div data-testid="span-events">${span.events.map((ev) => {
    const a = ev.attributes || {};
    const offset = ((ev.time_ns || span.start_ns) - span.start_ns) / 1e6;
    const exception = ev.name === "exception" || a["exception.type"] || a["exception.stacktrace"];
    const rest = Object.fromEntries(Object.entries(a).filter(([k]) => !(exception && k.startsWith("exception."))));
    return html`<div class=${`event ${exception ? "exception" : ""}`} data-testid=${exception ? "span-exception" : "span-event"}>
      <div><b>${ev.name || "(unnamed event)"}</b> <span class="muted">at +${fmtMs(offset)}</span></div>
      ${exception && html`<div class="err">${a["exception.type"] || "exception"}${a["exception.message"] ? `: ${a["exception.message"]}` : ""}</div>
        ${a["exception.stacktrace"] && html`<pre class="stack" data-testid="stacktrace">${a["exception.stacktrace"]}</pre>`}`}
      ${Object.keys(rest).length ? html`<${KeyValues} data=${rest} />` : ""}
    </div>`;
  })}</div>`;
}

function SpanDetail({ span, step, resource, traceId }) {
  if (!span && !step) return html`<p class="pad muted">Select a span (click, or Enter on a focused row) to see its attributes, events and links.</p>`;
  if (!span) {
    return html`<div class="span-detail" data-testid="span-detail"><h3>${step.name}</h3>
      <p><span class="pill running">running</span> started ${fmtDateTime(step.time)}; its attributes arrive when it ends.</p>
      <${KeyValues} data=${step.details} testid="span-attributes" /></div>`;
  }
  const rows = [
    ["Span id", html`<span class="mono">${span.span_id}</span> <${Copy} text=${span.span_id} />`],
    ["Parent", span.parent_span_id ? html`<span class="mono">${span.parent_span_id}</span>` : html`<span class="muted">root</span>`],
    ["Service", span.service_name], ["Kind", span.kind],
    ["Status", html`<span class=${span.status.code === "ERROR" ? "err" : ""}>${span.status.code}</span>${span.status.message ? ` · ${span.status.message}` : ""}`],
    ["Started", fmtDateTime(span.start_time)], ["Duration", fmtMs(span.duration_ms)],
    ["Scope", `${span.scope.name || "–"}${span.scope.version ? " " + span.scope.version : ""}`],
  ];
  if (step && step.agent) rows.splice(3, 0, ["Agent", step.agent]);
  return html`<div class="span-detail" data-testid="span-detail">
    <h3><i class="step-dot" style=${`background:${STEP_COLORS[(step && step.step) || "other"]}`}></i> ${span.name}</h3>
    <table class="kv"><tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>
    <h4>Attributes</h4><${KeyValues} data=${span.attributes} testid="span-attributes" />
    <h4>Events</h4><${Events} span=${span} />
    <h4>Links</h4>${span.links.length ? html`<ul data-testid="span-links">${span.links.map((l) => html`<li>
      <a href=${traceHref(l.trace_id)} class="mono">${l.trace_id === traceId ? "this trace" : l.trace_id}</a> span <span class="mono">${l.span_id}</span>
      ${Object.keys(l.attributes || {}).length ? html`<${KeyValues} data=${l.attributes} />` : ""}</li>`)}</ul>` : html`<p class="muted">none</p>`}
    <h4>Resource</h4><${KeyValues} data=${resource && resource.attributes} testid="span-resource" />
  </div>`;
}

export function TraceView({ traceId }) {
  const { trace, timeline, graph, error } = useTrace(traceId);
  const [selected, setSelected] = useState(null);
  const detailRef = useRef(null);
  useEffect(() => setSelected(null), [traceId]);
  if (!trace || !timeline) return html`<section class="view"><${Status} error=${error} loading=${!error} /></section>`;
  const spans = trace.spans;
  const errors = spans.filter((s) => s.status.code === "ERROR").length;
  const ended = timeline.steps.filter((s) => s.type === "span" && !s.in_progress).length;
  const span = spans.find((s) => s.span_id === selected);
  const step = timeline.steps.find((s) => s.type === "span" && s.span_id === selected);
  const summary = trace.summary || { start_time: timeline.start_time };
  const running = timeline.steps.filter((s) => s.type === "span" && s.in_progress).length;
  const select = (id) => { setSelected(id); if (detailRef.current && innerWidth < 1200) detailRef.current.scrollIntoView({ block: "nearest" }); };
  return html`<section class="view trace-view" data-testid="trace-view">
    <div class="trace-head">
      <h2>${summary.root_name || "Trace"}</h2>
      <span class="mono">${traceId}</span> <${Copy} text=${traceId} label="copy id" />
      <span><b data-testid="span-count">${plural(ended, "span")}</b>${running ? ` and ${running} running` : ""}</span>
      <span class=${errors ? "err" : "muted"} data-testid="error-count">${errors ? plural(errors, "error") : "no errors"}</span>
      <span>${fmtMs(summary.duration_ms)}</span>
      <span class="muted">${(summary.services || []).join(", ")} · ${fmtDateTime(summary.start_time)}</span>
      <span class="links">Open as <${JsonLink} href=${`/api/traces/${traceId}`} label="Jaeger JSON" testid="jaeger-link" /> · <${JsonLink} href=${`/api/v3/traces/${traceId}`} label="OTLP JSON" testid="otlp-link" /></span>
      <span class="legend">${Object.entries(STEP_COLORS).map(([k, c]) => html`<span><i class="step-dot" style=${`background:${c}`}></i>${k}</span>`)}</span>
    </div>
    <div class="trace-body">
      <div class="panel"><${Waterfall} steps=${timeline.steps} selected=${selected} onSelect=${select} /></div>
      <div class="panel" ref=${detailRef}><${SpanDetail} span=${span} step=${step} traceId=${traceId} resource=${span && trace.resources[span.resource_key]} /></div>
    </div>
    <div class="panel"><h3 class="pad-h">Agent graph</h3><${AgentGraph} graph=${graph} /></div>
  </section>`;
}
