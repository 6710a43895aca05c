// Agents: running tasks, capacity (running / max parallel), calls and errors over the last hour, recent failures.
import { html, useFetch, Status, plural, fmtMs, fmtCost, fmtNum, ago, short, traceHref } from "../lib.js";

function Capacity({ agent }) {
  const counts = (agent.activity && agent.activity.counts) || {};
  const busy = (counts.running || 0) + (counts.waiting || 0);
  const max = agent.max_parallel_invocations;
  if (!max) return html`<span>${busy} busy <span class="muted">(no limit declared)</span></span>`;
  const full = busy >= max;
  return html`<span class="capacity" title=${`${busy} of ${max}`}><span class="meter"><span class=${full ? "full" : ""} style=${`width:${Math.min(100, (100 * busy) / max)}%`}></span></span>
    ${busy} / ${max}${full ? html` <span class="err">at capacity</span>` : ""}</span>`;
}

export function AgentsView() {
  const state = useFetch("/api/v1/oracle/state", 5000);
  const metrics = useFetch("/api/v1/metrics?window=1h", 15000);
  const failed = useFetch("/api/v1/traces?status=error&limit=10", 15000);
  const agents = (state.data && state.data.agents) || [];
  const byName = new Map(((metrics.data && metrics.data.agents) || []).map((m) => [m.name, m]));
  const tasks = agents.flatMap((a) => [...((a.activity && a.activity.active_task_ids) || []), ...((a.activity && a.activity.recent_tasks) || [])].map((t) => ({ ...t, agent: a.name })));
  const running = tasks.filter((t) => t.status === "running" || t.status === "waiting");
  const failures = tasks.filter((t) => t.status === "failed");
  return html`<section class="view" data-testid="agents-view">
    <div class="cards">
      <div class="card"><b>${agents.length}</b>${agents.length === 1 ? "agent" : "agents"}</div>
      <div class="card"><b>${running.length}</b>running ${running.length === 1 ? "task" : "tasks"}</div>
      <div class="card"><b class=${failures.length ? "err" : ""}>${failures.length}</b>recent ${failures.length === 1 ? "failure" : "failures"}</div>
    </div>
    <div class="panel"><h2>Agents</h2>
      <${Status} error=${state.error} loading=${state.loading} empty=${!agents.length && "No agents seen yet."}>
        <table class="grid" data-testid="agents-table"><thead><tr><th>Agent</th><th>Deployment</th><th>Capacity</th><th class="num">Calls (1 h)</th><th class="num">Errors</th><th class="num">p95</th><th class="num">Tokens</th><th class="num">Cost</th><th>Models</th></tr></thead>
          <tbody>${agents.map((a) => { const m = byName.get(a.name) || {}; return html`<tr data-testid="agent-row" data-agent=${a.name}>
            <td class="strong">${a.name}</td><td>${a.deployment_name || "–"}</td><td><${Capacity} agent=${a} /></td>
            <td class="num">${fmtNum(m.calls || 0)}</td><td class="num">${m.errors ? html`<span class="err">${fmtNum(m.errors)}</span>` : "0"}</td>
            <td class="num">${fmtMs(m.latency_ms && m.latency_ms.p95)}</td><td class="num">${m.tokens ? fmtNum(m.tokens.input + m.tokens.output) : "–"}</td>
            <td class="num">${fmtCost(m.cost_usd)}</td><td>${(a.models || []).join(", ")}</td></tr>`; })}</tbody></table>
      <//></div>
    <div class="two">
      <div class="panel"><h2>Running tasks</h2>
        ${running.length ? html`<table class="grid" data-testid="running-tasks"><thead><tr><th>Agent</th><th>Task</th><th>Started</th><th>Trace</th></tr></thead><tbody>
          ${running.map((t) => html`<tr data-testid="running-task"><td>${t.agent}</td><td class="mono">${t.id}</td><td>${ago(t.started_on)}${t.status === "waiting" ? html` <span class="pill">waiting</span>` : ""}</td>
            <td>${t.trace_id ? html`<a href=${traceHref(t.trace_id)} class="mono">${short(t.trace_id)}</a>` : "–"}</td></tr>`)}</tbody></table>`
          : html`<p class="pad muted">No task is running.</p>`}</div>
      <div class="panel"><h2>Recent failures</h2>
        ${failures.length ? html`<table class="grid" data-testid="failed-tasks"><tbody>${failures.map((t) => html`<tr><td>${t.agent}</td><td class="mono">${t.id}</td><td class="err">${t.error || "failed"}</td><td>${ago(t.ended_on)}</td>
          <td>${t.trace_id && html`<a href=${traceHref(t.trace_id)} class="mono">${short(t.trace_id)}</a>`}</td></tr>`)}</tbody></table>` : ""}
        <h3 class="pad-h">Traces with errors</h3>
        <${Status} error=${failed.error} loading=${failed.loading} empty=${failed.data && !failed.data.traces.length && "No failed traces."}>
          <ul class="plain" data-testid="failed-traces">${((failed.data && failed.data.traces) || []).map((t) => html`<li>
            <a href=${traceHref(t.trace_id)}>${t.root_name || short(t.trace_id)}</a> <span class="err">${plural(t.error_count, "error")}</span> <span class="muted">${ago(t.start_time)}</span></li>`)}</ul>
        <//></div>
    </div>
  </section>`;
}
