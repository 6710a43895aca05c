// Trace search: time range, service, operation, agent, model, status, duration, attributes; sort and pages.
import { useEffect, useMemo, useState } from "preact/hooks";
import { html, api, useFetch, Status, plural, fmtMs, fmtDateTime, short, traceHref } from "../lib.js";

const RANGES = [["15m", 15], ["1h", 60], ["6h", 360], ["24h", 1440], ["7d", 10080], ["all", 0], ["custom", -1]];
const GENAI_OPERATIONS = ["invoke_agent", "create_agent", "invoke_workflow", "execute_tool", "chat", "text_completion", "embeddings", "generate_content"];
const SORTS = { newest: (a, b) => b.start_ns - a.start_ns, oldest: (a, b) => a.start_ns - b.start_ns,
  slowest: (a, b) => b.duration_ms - a.duration_ms, errors: (a, b) => b.error_count - a.error_count || b.start_ns - a.start_ns,
  spans: (a, b) => b.span_count - a.span_count };
const EMPTY = { range: "1h", from: "", to: "", service: "", span_name: "", operation: "", agent: "", model: "", status: "", min_ms: "", max_ms: "", attributes: "", conversation_id: "", sort: "newest", limit: "50" };

// "key=value" per line (or a JSON object) -> JSON text for the API's ``attributes``.
export function attributesJson(text) {
  const t = text.trim();
  if (!t) return "";
  if (t.startsWith("{")) return t;
  const out = {};
  for (const line of t.split(/\n|,(?=[^=,]+=)/)) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return JSON.stringify(out);
}

function searchParams(form, cursor) {
  const q = new URLSearchParams({ limit: form.limit });
  const minutes = (RANGES.find(([k]) => k === form.range) || [])[1];
  if (minutes > 0) q.set("start", new Date(Date.now() - minutes * 60000).toISOString());
  if (form.range === "custom") {
    if (form.from) q.set("start", new Date(form.from).toISOString());
    if (form.to) q.set("end", new Date(form.to).toISOString());
  }
  for (const k of ["service", "operation", "agent", "model", "status", "conversation_id"]) if (form[k]) q.set(k, form[k]);
  if (form.min_ms) q.set("min_duration_ms", form.min_ms);
  if (form.max_ms) q.set("max_duration_ms", form.max_ms);
  const attrs = attributesJson(form.attributes);
  if (attrs) q.set("attributes", attrs);
  if (cursor) q.set("cursor", cursor);
  return q;
}

// A search by span name goes through Jaeger's api_v3 (the REST search filters by GenAI operation):
// its summaries become the same rows; status is then checked here, and there is one page.
function spanNameSearch(form) {
  const minutes = (RANGES.find(([k]) => k === form.range) || [])[1];
  const end = form.range === "custom" && form.to ? new Date(form.to) : new Date(Date.now() + 60000);
  const start = form.range === "custom" && form.from ? new Date(form.from) : new Date(minutes > 0 ? Date.now() - minutes * 60000 : 0);
  const q = new URLSearchParams({ "query.service_name": form.service, "query.operation_name": form.span_name,
    "query.start_time_min": start.toISOString(), "query.start_time_max": end.toISOString(), "query.num_traces": form.limit });
  if (form.min_ms) q.set("query.duration_min", `${form.min_ms}ms`);
  if (form.max_ms) q.set("query.duration_max", `${form.max_ms}ms`);
  const attrs = attributesJson(form.attributes);
  if (attrs) q.set("query.attributes", attrs);
  return api(`/api/v3/trace-summaries?${q}`).then((d) => ({
    traces: d.summaries.map((s) => ({
      trace_id: s.traceId, root_name: s.rootOperationName, services: s.services.map((x) => x.name),
      start_ns: Number(s.minStartTimeUnixNano), start_time: new Date(Number(s.minStartTimeUnixNano) / 1e6).toISOString(),
      duration_ms: (Number(s.maxEndTimeUnixNano) - Number(s.minStartTimeUnixNano)) / 1e6,
      span_count: s.spanCount || 0, error_count: s.errorSpanCount || 0,
    })).filter((t) => !form.status || (form.status === "error") === t.error_count > 0),
    next_cursor: null,
  }));
}

export function TracesView({ query }) {
  const initial = { ...EMPTY, ...Object.fromEntries([...query].filter(([k]) => k in EMPTY)) };
  const [form, setForm] = useState(initial);
  const [submitted, setSubmitted] = useState(initial);
  const [pages, setPages] = useState([null]); // cursors of the pages seen; the last is the current one
  const [result, setResult] = useState({ traces: null, next: null, error: null });
  const services = useFetch("/api/services");
  const operations = useFetch(form.service ? `/api/services/${encodeURIComponent(form.service)}/operations` : null);
  const cursor = pages[pages.length - 1];

  useEffect(() => {
    let stop = false;
    setResult((r) => ({ ...r, loading: true }));
    const search = submitted.span_name && submitted.service ? spanNameSearch(submitted) : api(`/api/v1/traces?${searchParams(submitted, cursor)}`);
    search.then(
      (d) => { if (!stop) setResult({ traces: d.traces, next: d.next_cursor, error: null }); },
      (e) => { if (!stop) setResult({ traces: null, next: null, error: e }); },
    );
    return () => { stop = true; };
  }, [submitted, cursor]);

  // The simulator sends a multi-agent trace through the OTLP path (the Collector by default).
  async function simulate(error) {
    try {
      const r = await api("/api/v1/debug/simulate-trace", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ error }) });
      // Open it once stored (a search answers 200 either way, where the trace itself would 404 until then).
      for (let i = 0; i < 40; i++) {
        const found = await api(`/api/v1/traces?limit=20&start=${new Date(Date.now() - 120000).toISOString()}`);
        if (found.traces.some((t) => t.trace_id === r.trace_id)) break;
        await new Promise((done) => setTimeout(done, 250));
      }
      location.hash = `#/trace/${r.trace_id}`;
    } catch (e) { setResult((old) => ({ ...old, error: new Error(`simulate: ${e.message}`) })); }
  }

  function submit(e) {
    e.preventDefault();
    setSubmitted({ ...form });
    setPages([null]);
    const q = new URLSearchParams(Object.entries(form).filter(([k, v]) => v && v !== EMPTY[k]));
    history.replaceState(null, "", `#/traces${q.toString() ? "?" + q : ""}`);
  }
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value, ...(name === "service" ? { span_name: "" } : {}) });
  const input = (name, label, attrs = {}) => html`<label>${label}<input name=${name} value=${form[name]} onInput=${set(name)} ...${attrs} /></label>`;
  const select = (name, label, options) => html`<label>${label}<select name=${name} value=${form[name]} onChange=${set(name)}>
    ${options.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select></label>`;
  const sorted = useMemo(() => (result.traces ? [...result.traces].sort(SORTS[form.sort] || SORTS.newest) : null), [result.traces, form.sort]);
  const longest = sorted ? Math.max(1, ...sorted.map((t) => t.duration_ms || 0)) : 1;

  return html`<section class="view traces-view" data-testid="traces-view">
    <form class="search" onSubmit=${submit} data-testid="search-form" aria-label="trace search">
      ${select("range", "Time range", RANGES.map(([k]) => [k, k === "all" ? "all time" : k === "custom" ? "custom…" : `last ${k}`]))}
      ${form.range === "custom" && html`${input("from", "From", { type: "datetime-local" })}${input("to", "To", { type: "datetime-local" })}`}
      ${select("service", "Service", [["", "any service"], ...((services.data && services.data.data) || []).map((s) => [s, s])])}
      ${select("span_name", "Span name", [["", form.service ? "any span name" : "any (pick a service first)"], ...((operations.data && operations.data.data) || []).map((o) => [o, o])])}
      ${select("operation", "GenAI operation", [["", "any"], ...GENAI_OPERATIONS.map((o) => [o, o])])}
      ${input("agent", "Agent", { placeholder: "e.g. planner" })}
      ${input("model", "Model", { placeholder: "e.g. gpt-4o" })}
      ${select("status", "Status", [["", "any"], ["ok", "ok"], ["error", "error"]])}
      ${input("min_ms", "Min duration (ms)", { type: "number", min: "0", step: "any" })}
      ${input("max_ms", "Max duration (ms)", { type: "number", min: "0", step: "any" })}
      ${input("conversation_id", "Conversation id")}
      <label class="wide" title="key=value per line, or a JSON object">Attributes
        <textarea name="attributes" rows="1" value=${form.attributes} onInput=${set("attributes")} placeholder="key=value per line, e.g. gen_ai.request.model=gpt-4o"></textarea></label>
      ${select("sort", "Sort (this page)", [["newest", "newest first"], ["oldest", "oldest first"], ["slowest", "slowest first"], ["errors", "most errors"], ["spans", "most spans"]])}
      ${select("limit", "Per page", [["10", "10"], ["20", "20"], ["50", "50"], ["100", "100"]])}
      <div class="actions"><button class="primary" type="submit" data-testid="search">Search</button>
        <button type="button" onClick=${() => { setForm(EMPTY); setSubmitted(EMPTY); setPages([null]); history.replaceState(null, "", "#/traces"); }}>Reset</button>
        <button type="button" title="send a realistic multi-agent trace through the OTLP path" onClick=${() => simulate(false)} data-testid="simulate">Simulate</button>
        <button type="button" onClick=${() => simulate(true)}>Simulate error</button></div>
    </form>
    <div class="results">
      <${Status} error=${result.error} loading=${!sorted && !result.error} empty=${sorted && !sorted.length && "No traces match. Widen the time range or remove a filter; send OTLP to the Collector, or press Simulate."}>
        <table class="grid traces" data-testid="trace-table">
          <thead><tr><th>Trace</th><th>Services</th><th>Started</th><th class="num">Duration</th><th class="num">Spans</th><th class="num">Errors</th></tr></thead>
          <tbody>${(sorted || []).map((t) => html`<tr data-testid="trace-row" data-trace-id=${t.trace_id} class=${t.error_count ? "has-error" : ""}>
            <td><a href=${traceHref(t.trace_id)} class="strong">${t.root_name || "(root span not arrived)"}</a><div class="muted mono">${short(t.trace_id)}</div></td>
            <td>${(t.services || []).join(", ")}</td>
            <td>${fmtDateTime(t.start_time)}</td>
            <td class="num"><span class="dur-bar" style=${`width:${Math.max(2, (100 * (t.duration_ms || 0)) / longest)}%`}></span>${fmtMs(t.duration_ms)}</td>
            <td class="num">${t.span_count}</td>
            <td class="num">${t.error_count ? html`<span class="err">${plural(t.error_count, "error")}</span>` : html`<span class="muted">none</span>`}</td>
          </tr>`)}</tbody>
        </table>
      <//>
      <div class="pager">
        <button type="button" disabled=${pages.length < 2} onClick=${() => setPages(pages.slice(0, -1))} data-testid="prev-page">← Newer</button>
        <span class="muted">page ${pages.length}${sorted ? ` · ${plural(sorted.length, "trace")}` : ""}</span>
        <button type="button" disabled=${!result.next} onClick=${() => setPages([...pages, result.next])} data-testid="next-page">Older →</button>
      </div>
    </div>
  </section>`;
}
