// The Oracle's issues: filter by severity, kind or text; each opens to its evidence, affected entities,
// example traces and first / last seen.
import { useState } from "preact/hooks";
import { html, useFetch, Status, plural, fmtNum, fmtDateTime, ago, short, traceHref } from "../lib.js";

const SEVERITIES = ["critical", "error", "warning", "info"];

function Issue({ issue, open, onToggle }) {
  const ev = issue.evidence || {};
  const numbers = Object.entries(ev.numbers || {});
  return html`<li class=${`issue ${open ? "open" : ""}`} data-testid="issue" data-kind=${issue.kind} data-severity=${issue.severity}>
    <button type="button" class="issue-head" aria-expanded=${open ? "true" : "false"} onClick=${onToggle} data-testid="issue-toggle">
      <span class=${`sev ${issue.severity}`}>${issue.severity}</span> <b>${issue.kind.replaceAll("_", " ")}</b>
      <span>${issue.entity ? `${issue.entity.type} ${issue.entity.name}` : ""}</span> <span class="muted">last seen ${ago(issue.last_seen)}</span>
    </button>
    <p class="cause">${issue.probable_cause}</p>
    ${open && html`<div class="issue-body" data-testid="issue-detail">
      <table class="kv"><tbody>
        <tr><th scope="row">Affected</th><td>${issue.entity ? html`${issue.entity.type} <b>${issue.entity.name}</b>` : "–"}${(ev.agents || []).length ? html`; agents ${ev.agents.join(", ")}` : ""}</td></tr>
        <tr><th scope="row">First seen</th><td>${fmtDateTime(issue.first_seen)}</td></tr>
        <tr><th scope="row">Last seen</th><td>${fmtDateTime(issue.last_seen)}</td></tr>
        ${numbers.map(([k, v]) => html`<tr><th scope="row">${k.replaceAll("_", " ")}</th><td>${typeof v === "number" ? fmtNum(v) : String(v)}</td></tr>`)}
        ${issue.hint && html`<tr><th scope="row">Next step</th><td class="mono">${issue.hint}</td></tr>`}
      </tbody></table>
      <h4>Example traces</h4>
      ${(ev.trace_ids || []).length ? html`<ul class="plain" data-testid="issue-traces">${ev.trace_ids.map((t) => html`<li><a href=${traceHref(t)} class="mono">${short(t)}</a></li>`)}</ul>` : html`<p class="muted">none recorded</p>`}
      <p class="muted mono">${issue.id}</p>
    </div>`}
  </li>`;
}

export function IssuesView() {
  const { data, error, loading } = useFetch("/api/v1/oracle/issues?budget=0", 5000);
  const [filter, setFilter] = useState({ severity: "", kind: "", text: "" });
  const [open, setOpen] = useState(() => new Set());
  const issues = (data && data.issues) || [];
  const kinds = [...new Set(issues.map((i) => i.kind))].sort();
  const text = filter.text.toLowerCase();
  const shown = issues.filter((i) => (!filter.severity || i.severity === filter.severity) && (!filter.kind || i.kind === filter.kind)
    && (!text || JSON.stringify(i).toLowerCase().includes(text)));
  const set = (k) => (e) => setFilter({ ...filter, [k]: e.target.value });
  const toggle = (id) => { const next = new Set(open); if (next.has(id)) next.delete(id); else next.add(id); setOpen(next); };
  return html`<section class="view" data-testid="issues-view">
    <div class="toolbar" role="search">
      <label>Severity <select value=${filter.severity} onChange=${set("severity")} data-testid="issue-severity"><option value="">all</option>${SEVERITIES.map((s) => html`<option value=${s}>${s}${data && data.by_severity ? ` (${data.by_severity[s] || 0})` : ""}</option>`)}</select></label>
      <label>Kind <select value=${filter.kind} onChange=${set("kind")} data-testid="issue-kind"><option value="">all</option>${kinds.map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
      <label>Search <input value=${filter.text} onInput=${set("text")} placeholder="agent, model, trace id…" data-testid="issue-search" /></label>
      <span class="muted" data-testid="issue-count">${plural(shown.length, "issue")}${shown.length !== issues.length ? ` of ${issues.length}` : ""}</span>
    </div>
    <${Status} error=${error} loading=${loading} empty=${!shown.length && (issues.length ? "No issue matches these filters." : "No open issues.")}>
      <ul class="issues plain">${shown.map((i) => html`<${Issue} key=${i.id} issue=${i} open=${open.has(i.id)} onToggle=${() => toggle(i.id)} />`)}</ul>
    <//>
  </section>`;
}
