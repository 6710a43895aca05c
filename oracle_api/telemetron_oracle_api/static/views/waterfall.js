// A trace's spans as a collapsible tree beside their time bars, in HTML so text stays 13 px at any width.
// Keyboard: ↑/↓ move between rows, → expands, ← collapses, Enter or Space selects.
import { useMemo, useRef, useState } from "preact/hooks";
import { html, fmtMs } from "../lib.js";

export const STEP_COLORS = { agent: "var(--agent)", tool: "var(--tool)", llm: "var(--llm)", handoff: "var(--handoff)", queue: "var(--queue)", other: "var(--other)" };

// Depth-first order of the span steps (children by start time); a span whose parent is missing is a root.
export function spanTree(steps) {
  const spans = steps.filter((s) => s.type === "span");
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = ids.has(s.parent_span_id) ? s.parent_span_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => a.start_ns - b.start_ns);
  const out = [];
  const walk = (parent, depth, seen) => {
    for (const s of children.get(parent) || []) {
      if (seen.has(s.span_id)) continue;
      seen.add(s.span_id);
      out.push({ ...s, depth, childCount: (children.get(s.span_id) || []).length });
      walk(s.span_id, depth + 1, seen);
    }
  };
  walk(null, 0, new Set());
  return out;
}

export function Waterfall({ steps, selected, onSelect }) {
  const rows = useMemo(() => spanTree(steps), [steps]);
  const [collapsed, setCollapsed] = useState(() => new Set());
  const box = useRef(null);
  if (!rows.length) return html`<p class="muted">No spans.</p>`;
  const now = Date.now() * 1e6;
  const t0 = Math.min(...rows.map((s) => s.start_ns));
  const end = (s) => s.end_ns || Math.max(now, s.start_ns);
  const total = Math.max(1, Math.max(...rows.map(end)) - t0);
  const pct = (ns) => (100 * (ns - t0)) / total;
  const events = steps.filter((s) => s.type === "event");

  // Rows under a collapsed span are hidden.
  const visible = [];
  let hideBelow = Infinity;
  for (const s of rows) {
    if (s.depth > hideBelow) continue;
    hideBelow = collapsed.has(s.span_id) ? s.depth : Infinity;
    visible.push(s);
  }
  const toggle = (id, open) => {
    const next = new Set(collapsed);
    if (open === undefined ? next.has(id) : open) next.delete(id); else next.add(id);
    setCollapsed(next);
  };
  function onKey(e, s, i) {
    const focus = (j) => { const el = box.current && box.current.querySelectorAll("[data-testid=waterfall-row]")[j]; if (el) { el.focus(); e.preventDefault(); } };
    if (e.key === "ArrowDown") focus(i + 1);
    else if (e.key === "ArrowUp") focus(i - 1);
    else if (e.key === "ArrowRight" && s.childCount) { toggle(s.span_id, true); e.preventDefault(); }
    else if (e.key === "ArrowLeft" && s.childCount) { toggle(s.span_id, false); e.preventDefault(); }
    else if (e.key === "Enter" || e.key === " ") { onSelect(s.span_id); e.preventDefault(); }
  }
  return html`<div class="wf" ref=${box} role="tree" aria-label="spans of this trace" data-testid="waterfall">
    <div class="wf-row wf-ruler" aria-hidden="true"><div class="wf-name muted">
      <button type="button" class="link" onClick=${() => setCollapsed(new Set())}>expand all</button> ·
      <button type="button" class="link" onClick=${() => setCollapsed(new Set(rows.filter((r) => r.childCount).map((r) => r.span_id)))}>collapse all</button></div>
      <div class="wf-track">${[0, 25, 50, 75, 100].map((f) => html`<span class="tick" style=${`left:${f}%`}>${fmtMs((f / 100) * total / 1e6)}</span>`)}</div></div>
    ${visible.map((s, i) => {
      const left = pct(s.start_ns), width = Math.max(0.3, pct(end(s)) - left), right = left + width;
      const label = right < 72 ? `left:calc(${right}% + 4px)` : left > 28 ? `right:calc(${100 - left}% + 4px)` : `left:calc(${left}% + 4px);color:#fff`;
      const open = !collapsed.has(s.span_id);
      return html`<div class=${`wf-row ${selected === s.span_id ? "selected" : ""} ${s.error ? "has-error" : ""}`} role="treeitem" tabindex="0"
          aria-level=${s.depth + 1} aria-expanded=${s.childCount ? String(open) : null} aria-selected=${selected === s.span_id ? "true" : "false"}
          data-testid="waterfall-row" data-span-id=${s.span_id} data-step=${s.step}
          onClick=${() => onSelect(s.span_id)} onKeyDown=${(e) => onKey(e, s, i)}>
        <div class="wf-name" style=${`padding-left:${6 + s.depth * 14}px`} title=${s.name}>
          ${s.childCount ? html`<button type="button" class="twisty" tabindex="-1" aria-label=${open ? "collapse" : "expand"} data-testid="twisty"
              onClick=${(e) => { e.stopPropagation(); toggle(s.span_id); }}>${open ? "▾" : "▸"}</button>` : html`<span class="twisty"></span>`}
          <i class="step-dot" style=${`background:${STEP_COLORS[s.step] || STEP_COLORS.other}`}></i>
          <span class=${`wf-label ${s.error ? "err" : ""}`}>${s.name}</span>
          ${s.in_progress ? html`<span class="pill running">running</span>` : ""}
          ${!open && s.childCount ? html`<span class="muted"> +${s.childCount}</span>` : ""}
        </div>
        <div class="wf-track">
          <div class="wf-bar" data-testid="waterfall-bar" style=${`left:${left}%;width:${width}%;background:${STEP_COLORS[s.step] || STEP_COLORS.other};opacity:${s.in_progress ? 0.5 : 0.9}`}></div>
          ${events.filter((ev) => ev.span_id === s.span_id).map((ev) => html`<i class=${`wf-event ${ev.error ? "error" : ""}`} style=${`left:${pct(ev.start_ns)}%`} title=${ev.name}></i>`)}
          <span class="wf-dur" style=${label}>${fmtMs(s.duration_ms)}</span>
        </div>
      </div>`;
    })}
  </div>`;
}
