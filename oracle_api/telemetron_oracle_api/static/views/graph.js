// The agents, tools and models of one trace as columns (who delegates or hands off to whom), edges labelled
// at their middle on a halo so that labels do not run into each other or the lines.
import { html, fmtMs } from "../lib.js";

const FILL = { agent: "var(--agent)", tool: "var(--tool)", model: "var(--llm)", service: "var(--other)" };
const STROKE = { delegation: "#5b6cf0", handoff: "#b54fc4", call: "#9aa1b1" };
const NODE_W = 170, NODE_H = 38, COL_W = 260, ROW_H = 62;

function layout(graph) {
  const level = new Map();
  const primary = graph.edges.filter((e) => e.type !== "call");
  const incoming = new Map();
  for (const e of primary) incoming.set(e.target, (incoming.get(e.target) || 0) + 1);
  const isActor = (n) => n.type === "agent" || n.type === "service";
  const queue = graph.nodes.filter((n) => isActor(n) && !incoming.get(n.id)).map((n) => n.id);
  if (!queue.length && graph.nodes.length) queue.push((graph.nodes.find(isActor) || graph.nodes[0]).id);
  for (const id of queue) level.set(id, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const e of primary) if (e.source === id && !level.has(e.target)) { level.set(e.target, level.get(id) + 1); queue.push(e.target); }
  }
  for (const n of graph.nodes) if (isActor(n) && !level.has(n.id)) level.set(n.id, 0);
  for (const e of graph.edges) if (e.type === "call" && !level.has(e.target)) level.set(e.target, (level.get(e.source) || 0) + 1);
  const columns = [];
  for (const n of graph.nodes) (columns[level.get(n.id) || 0] ||= []).push(n);
  const pos = new Map();
  columns.forEach((col, c) => (col || []).forEach((n, r) => pos.set(n.id, { x: 20 + c * COL_W, y: 20 + r * ROW_H })));
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  return { pos, width: Math.max(columns.length, 1) * COL_W + 20, height: rows * ROW_H + 70 };
}

export function AgentGraph({ graph }) {
  if (!graph || !graph.nodes.length) return html`<p class="pad muted">No agents, tools or models in this trace.</p>`;
  const { pos, width, height } = layout(graph);
  return html`<div class="graph-scroll"><svg data-testid="agent-graph" viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img" aria-label="agent graph">
    <defs>${Object.entries(STROKE).map(([k, c]) => html`<marker id=${`arrow-${k}`} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill=${c} /></marker>`)}</defs>
    ${graph.edges.map((e) => {
      const a = pos.get(e.source), b = pos.get(e.target);
      if (!a || !b) return null;
      const twins = graph.edges.filter((o) => o.source === e.source && o.target === e.target);
      const spread = (twins.indexOf(e) - (twins.length - 1) / 2) * 16;
      let d, lx, ly;
      if (b.x > a.x) {
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2 + spread, x2 = b.x, y2 = b.y + NODE_H / 2 + spread;
        d = `M ${x1} ${y1} C ${(x1 + x2) / 2} ${y1}, ${(x1 + x2) / 2} ${y2}, ${x2} ${y2}`;
        lx = x2 - 10; ly = y2 - 6; // beside the arrow head: targets are a row apart, so labels are too
      } else { // same column or backwards: a loop below the nodes
        const ax = a.x + NODE_W / 2 + spread, bx = b.x + NODE_W / 2 + spread, low = Math.max(a.y, b.y) + NODE_H + 28;
        d = `M ${ax} ${a.y + NODE_H} C ${ax} ${low}, ${bx} ${low}, ${bx} ${b.y + NODE_H}`;
        lx = (ax + bx) / 2; ly = low - 2;
      }
      const label = `${e.type === "call" ? "" : e.type + " "}×${e.count}${e.errors ? `, ${e.errors} failed` : ""}`;
      return html`<g data-testid="graph-edge" data-type=${e.type}>
        <path d=${d} fill="none" stroke=${STROKE[e.type]} stroke-width=${e.type === "call" ? 1.2 : 2} stroke-dasharray=${e.type === "handoff" ? "5 3" : ""} marker-end=${`url(#arrow-${e.type})`} />
        <text x=${lx} y=${ly} text-anchor=${b.x > a.x ? "end" : "middle"} class="edge-label">${label}</text>
        <title>${e.source} → ${e.target}: ${e.type} ×${e.count}, avg ${fmtMs(e.avg_duration_ms)}</title>
      </g>`;
    })}
    ${graph.nodes.map((n) => {
      const p = pos.get(n.id);
      return html`<g data-testid="graph-node" data-node-id=${n.id}>
        <rect x=${p.x} y=${p.y} width=${NODE_W} height=${NODE_H} rx="6" fill=${FILL[n.type] || "var(--other)"} fill-opacity="0.14" stroke=${n.errors ? "var(--error)" : FILL[n.type]} stroke-width=${n.errors ? 2 : 1} />
        <text x=${p.x + 8} y=${p.y + 16} class="node-name">${n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name}</text>
        <text x=${p.x + 8} y=${p.y + 31} class="node-meta">${n.type}${n.count ? ` · ${n.count}× · ${fmtMs(n.avg_duration_ms)}` : ""}</text>
        <title>${n.id}</title>
      </g>`;
    })}
  </svg></div>`;
}
