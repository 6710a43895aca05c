// LLM usage per model: tokens, cost, latency percentiles, errors and rate-limit headroom over time
// (/api/v1/dashboard/llm-series), and the Oracle's current view of each model (limits, last error).
import { useMemo, useState } from "preact/hooks";
import { html, useFetch, Status, Chart, fmtNum, fmtCost, fmtMs, plural, ago, short, traceHref } from "../lib.js";

const WINDOWS = [["15m", "10s"], ["1h", "1m"], ["6h", "5m"], ["24h", "15m"]];

export function LlmView() {
  const [win, setWin] = useState("1h");
  const step = (WINDOWS.find(([w]) => w === win) || WINDOWS[1])[1];
  const series = useFetch(`/api/v1/dashboard/llm-series?window=${win}&step=${step}`, 15000);
  const state = useFetch("/api/v1/oracle/state", 10000);
  const models = (series.data && series.data.models) || [];
  const x = series.data && series.data.timestamps;
  const charts = useMemo(() => {
    const per = (f) => models.map((m) => ({ label: m.model, values: f(m) }));
    return [
      ["Tokens (input + output)", "tokens", per((m) => m.input_tokens.map((v, i) => v + m.output_tokens[i]))],
      ["Cost", "USD", per((m) => m.cost_usd)],
      ["Latency p95", "ms", per((m) => m.latency_p95_ms)],
      ["Latency p50", "ms", per((m) => m.latency_p50_ms)],
      ["Errors (rate-limited included)", "calls", per((m) => m.errors)],
      ["Rate-limited calls (429)", "calls", per((m) => m.rate_limited)],
      ["Rate-limit headroom: tokens remaining", "tokens", per((m) => m.tokens_remaining)],
      ["Rate-limit headroom: requests remaining", "requests", per((m) => m.requests_remaining)],
    ];
  }, [series.data]);
  const live = (state.data && state.data.litellm) || [];
  return html`<section class="view" data-testid="llm-view">
    <div class="toolbar"><label>Window <select value=${win} onChange=${(e) => setWin(e.target.value)} data-testid="llm-window">
      ${WINDOWS.map(([w, s]) => html`<option value=${w}>last ${w} (per ${s})</option>`)}</select></label>
      <span class="muted">${plural(models.length, "model")}</span></div>
    <div class="panel"><h2>Models now</h2>
      <${Status} error=${state.error} loading=${state.loading} empty=${!live.length && "No LLM calls seen yet."}>
        <table class="grid" data-testid="models-table"><thead><tr><th>Model</th><th>Provider</th><th class="num">Requests</th><th class="num">Tokens</th><th class="num">Cost</th>
          <th class="num">RPM / limit</th><th class="num">TPM / limit</th><th class="num">Headroom</th><th class="num">p50 / p95 / p99</th><th>Errors</th><th>Agents</th></tr></thead>
          <tbody>${live.map((m) => { const errs = Object.entries(m.errors || {}); return html`<tr data-testid="model-row" data-model=${m.model}>
            <td class="strong">${m.model}</td><td>${m.provider || "–"}</td><td class="num">${fmtNum(m.requests_total)}</td><td class="num">${fmtNum(m.tokens_total)}</td><td class="num">${fmtCost(m.cost_usd)}</td>
            <td class="num">${fmtNum(m.rpm)} / ${m.rpm_max ? fmtNum(m.rpm_max) : "–"}</td><td class="num">${fmtNum(m.tpm)} / ${m.tpm_max ? fmtNum(m.tpm_max) : "–"}</td>
            <td class="num">${m.tokens_remaining != null ? html`<span class=${m.tpm_max && m.tokens_remaining / m.tpm_max < 0.2 ? "err" : ""}>${fmtNum(m.tokens_remaining)} tokens, ${fmtNum(m.requests_remaining)} requests</span>` : "–"}</td>
            <td class="num">${m.latency_ms ? `${fmtMs(m.latency_ms.p50)} / ${fmtMs(m.latency_ms.p95)} / ${fmtMs(m.latency_ms.p99)}` : "–"}</td>
            <td>${errs.length ? errs.map(([k, n]) => html`<span class="err">${k} ×${n} </span>`) : html`<span class="muted">none</span>`}
              ${m.last_error && m.last_error.trace_id ? html`<a href=${traceHref(m.last_error.trace_id)} class="mono" title=${m.last_error.message}>last ${ago(m.last_error.at)}</a>` : ""}</td>
            <td>${(m.agents || []).join(", ")}</td></tr>`; })}</tbody></table>
      <//></div>
    <${Status} error=${series.error} loading=${series.loading} empty=${series.data && !models.length && "No LLM calls in this window."}>
      <div class="charts" data-testid="llm-charts">${charts.map(([title, unit, s]) => html`<${Chart} title=${title} unit=${unit} x=${x} series=${s} />`)}</div>
    <//>
  </section>`;
}
