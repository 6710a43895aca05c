// Telemetron dashboard: one page, one view per tab, chosen by the address's fragment (#/traces,
// #/trace/<id>, #/agents, …) so that every view can be linked and reloaded. Plain ES modules on
// Preact + htm, charts by uPlot (all vendored from npm by frontend/vendor.sh).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html, useFetch, plural } from "./lib.js";
import { TracesView } from "./views/traces.js";
import { TraceView } from "./views/trace.js";
import { AgentsView } from "./views/agents.js";
import { LlmView } from "./views/llm.js";
import { QueuesView } from "./views/queues.js";
import { IssuesView } from "./views/issues.js";
import { DependenciesView } from "./views/dependencies.js";
import { LiveView } from "./views/live.js";

const TABS = [
  ["traces", "Traces"], ["agents", "Agents"], ["llm", "LLM usage"], ["queues", "Queues"],
  ["issues", "Issues"], ["dependencies", "Dependencies"], ["live", "Live"],
];

// "#/trace/abc?x=1" -> {name: "trace", arg: "abc", query: URLSearchParams("x=1")}
function parseRoute() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "traces", arg: decodeURIComponent(rest.join("/")), query: new URLSearchParams(query) };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function IssueBadge() {
  const { data } = useFetch("/api/v1/oracle/issues", 10000);
  const n = data ? data.count : 0;
  return n ? html`<span class="badge" title=${plural(n, "open issue")}>${n}</span>` : null;
}

function View({ route }) {
  switch (route.name) {
    case "trace": return html`<${TraceView} traceId=${route.arg} />`;
    case "agents": return html`<${AgentsView} />`;
    case "llm": return html`<${LlmView} />`;
    case "queues": return html`<${QueuesView} />`;
    case "issues": return html`<${IssuesView} />`;
    case "dependencies": return html`<${DependenciesView} />`;
    case "live": return html`<${LiveView} />`;
    default: return html`<${TracesView} query=${route.query} />`;
  }
}

function App() {
  const route = useRoute();
  const current = route.name === "trace" ? "traces" : route.name;
  return html`
    <header class="top">
      <h1><a href="#/traces">Telemetron</a></h1>
      <nav aria-label="views">${TABS.map(([name, label]) => html`<a href=${`#/${name}`} data-testid=${`tab-${name}`}
        aria-current=${current === name ? "page" : null}>${label}${name === "issues" ? html` <${IssueBadge} />` : ""}</a>`)}</nav>
      <span class="links"><a href="/docs">API</a> <a href="/api/v1/oracle/state" target="_blank" rel="noopener">Oracle JSON</a></span>
    </header>
    <main id="main"><${View} route=${route} /></main>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
