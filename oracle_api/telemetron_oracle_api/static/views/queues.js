// Queues: depth and the oldest wait per queue, each waiting task with its priority, and the chain of
// tasks it waits behind (blocked-by, followed across queues until a task that is not waiting).
import { html, useFetch, Status, plural, fmtNum, ago, short, traceHref } from "../lib.js";

// task id -> [ids it waits behind, nearest first]; a cycle is cut where it closes.
export function blockedChain(taskId, byId) {
  const chain = [];
  let next = byId.get(taskId) && byId.get(taskId).priority && byId.get(taskId).priority.blocked_task;
  while (next && !chain.includes(next) && next !== taskId) {
    chain.push(next);
    const t = byId.get(next);
    next = t && t.priority && t.priority.blocked_task;
  }
  return chain;
}

const mins = (m) => (m == null ? "–" : m < 1 ? `${Math.round(m * 60)} s` : m < 120 ? `${m.toFixed(1)} min` : `${(m / 60).toFixed(1)} h`);

export function QueuesView() {
  const state = useFetch("/api/v1/oracle/state", 5000);
  const queues = (state.data && state.data.queues) || [];
  const byId = new Map(queues.flatMap((q) => (q.tasks || []).map((t) => [t.id, { ...t, queue: q.name }])));
  const deepest = Math.max(1, ...queues.map((q) => (q.counts && q.counts.pending) || 0));
  return html`<section class="view" data-testid="queues-view">
    <${Status} error=${state.error} loading=${state.loading} empty=${!queues.length && "No queues seen yet (messaging send/process spans make them)."}>
      <div class="panel"><h2>Queues</h2><table class="grid" data-testid="queues-table"><thead><tr><th>Queue</th><th>Depth</th><th class="num">Oldest wait</th><th>Updated</th></tr></thead>
        <tbody>${queues.map((q) => { const n = (q.counts && q.counts.pending) || 0; return html`<tr data-testid="queue-row" data-queue=${q.name}>
          <td class="strong">${q.name}</td><td><span class="meter wide"><span style=${`width:${(100 * n) / deepest}%`}></span></span> ${plural(n, "task")} waiting</td>
          <td class="num">${mins(q.oldest_wait_mins)}</td><td>${ago(q.updated_at)}</td></tr>`; })}</tbody></table></div>
      ${queues.map((q) => html`<div class="panel" data-testid="queue-tasks" data-queue=${q.name}><h2>${q.name} <span class="muted">${plural((q.counts && q.counts.pending) || 0, "waiting task")}${q.counts && q.counts.shown < q.counts.pending ? `, ${q.counts.shown} shown` : ""}</span></h2>
        ${(q.tasks || []).length ? html`<table class="grid"><thead><tr><th>Task</th><th>Priority</th><th class="num">Waiting</th><th>Submitted by</th><th>Blocked by</th><th>Trace</th></tr></thead><tbody>
          ${q.tasks.map((t) => { const chain = blockedChain(t.id, byId); return html`<tr data-testid="queue-task" data-task=${t.id}>
            <td class="mono">${t.id}</td><td><span class=${`pill prio-${t.priority && t.priority.level}`}>${(t.priority && t.priority.level) || "–"}</span></td>
            <td class="num">${mins(t.priority && t.priority.waiting_since_mins)}</td><td>${t.invoked_by || "–"}</td>
            <td data-testid="blocked-by">${chain.length ? chain.map((id, i) => html`${i ? " → " : ""}<span class="mono" title=${byId.has(id) ? `waiting in ${byId.get(id).queue}` : "not waiting in any queue (running or done)"}>${id}</span>`) : html`<span class="muted">–</span>`}</td>
            <td>${t.trace_id ? html`<a href=${traceHref(t.trace_id)} class="mono">${short(t.trace_id)}</a>` : "–"}</td></tr>`; })}</tbody></table>`
          : html`<p class="pad muted">Empty.</p>`}</div>`)}
    <//>
  </section>`;
}
