// Service dependencies (Jaeger's /api/dependencies: parent -> child calls across services) over a lookback.
import { useState } from "preact/hooks";
import { html, useFetch, Status, plural, fmtNum } from "../lib.js";

const LOOKBACKS = [["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 24 * 3600e3], ["7d", 7 * 24 * 3600e3]];

export function DependenciesView() {
  const [lookback, setLookback] = useState("24h");
  const ms = (LOOKBACKS.find(([k]) => k === lookback) || LOOKBACKS[2])[1];
  const { data, error, loading } = useFetch(`/api/dependencies?endTs=${Math.ceil(Date.now() / 60000) * 60000}&lookback=${ms}`, 30000);
  const links = ((data && data.data) || []).slice().sort((a, b) => b.callCount - a.callCount);
  const services = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  const calls = (name, side) => links.filter((l) => l[side] === name).reduce((n, l) => n + l.callCount, 0);
  const most = Math.max(1, ...links.map((l) => l.callCount));
  return html`<section class="view" data-testid="dependencies-view">
    <div class="toolbar"><label>Lookback <select value=${lookback} onChange=${(e) => setLookback(e.target.value)}>${LOOKBACKS.map(([k]) => html`<option value=${k}>last ${k}</option>`)}</select></label>
      <span class="muted">${plural(services.length, "service")}, ${plural(links.length, "dependency", "dependencies")}</span></div>
    <${Status} error=${error} loading=${loading} empty=${!links.length && "No calls across services in this window."}>
      <div class="two">
        <div class="panel"><h2>Calls between services</h2><table class="grid" data-testid="dependency-table"><thead><tr><th>Caller</th><th></th><th>Callee</th><th class="num">Calls</th></tr></thead>
          <tbody>${links.map((l) => html`<tr data-testid="dependency-row"><td class="strong">${l.parent}</td><td class="muted">→</td><td class="strong">${l.child}</td>
            <td class="num"><span class="meter"><span style=${`width:${(100 * l.callCount) / most}%`}></span></span> ${fmtNum(l.callCount)}</td></tr>`)}</tbody></table></div>
        <div class="panel"><h2>Services</h2><table class="grid"><thead><tr><th>Service</th><th class="num">Calls out</th><th class="num">Calls in</th><th>Calls</th><th>Called by</th></tr></thead>
          <tbody>${services.map((s) => html`<tr><td class="strong">${s}</td><td class="num">${fmtNum(calls(s, "parent"))}</td><td class="num">${fmtNum(calls(s, "child"))}</td>
            <td>${links.filter((l) => l.parent === s).map((l) => l.child).join(", ") || "–"}</td><td>${links.filter((l) => l.child === s).map((l) => l.parent).join(", ") || "–"}</td></tr>`)}</tbody></table></div>
      </div>
    <//>
  </section>`;
}
