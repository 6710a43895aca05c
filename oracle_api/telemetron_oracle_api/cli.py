"""The ``telemetron`` command: run oracle_api (``serve``), or ask a running one about the system.

Every command but ``serve`` talks to the HTTP API (``--url``, default http://127.0.0.1:8080 or
$TELEMETRON_URL; ``--token`` or $TELEMETRON_API_TOKEN) and needs only httpx, so it works from
the agent-side install. Tables by default, ``--format json`` for machines. ``issues`` and
``diagnose`` exit 1 when an error or critical issue is open; any failure to ask exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
_SEVERE = ("error", "critical")
DEFAULT_BUDGET_TOKENS = 2000  # the server's default too (issues_budget_tokens)
CHARS_PER_TOKEN = 4
_CLEAR = "\033[2J\033[H"


class CliError(Exception):
    """A failure to get an answer; printed as one line, exit status 2."""


# --- HTTP -------------------------------------------------------------------------------------------


class Client:
    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def get(self, path: str, **params) -> dict:
        params = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach oracle_api at {self.url} ({exc}); start it with 'telemetron serve' "
                "or point --url / TELEMETRON_URL at it"
            ) from exc
        if response.status_code == 401:
            raise CliError("oracle_api wants an API token: pass --token or set TELEMETRON_API_TOKEN")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise CliError(f"GET {path} answered {response.status_code}: {detail}")
        return response.json()

    def close(self) -> None:
        self._http.close()


# --- formatting -------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list], empty: str = "(none)") -> str:
    if not rows:
        return empty
    cells = [[str(c) if c is not None else "-" for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ago(stamp: str | None) -> str:
    if not stamp:
        return "-"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def render_agents(state: dict) -> str:
    rows = []
    for agent in state["agents"]:
        counts = agent["activity"].get("counts", {})
        limit = agent.get("max_parallel_invocations")
        running = f"{counts.get('running', 0)}/{limit}" if limit is not None else str(counts.get("running", 0))
        rows.append(
            [
                agent["name"],
                agent["deployment_name"],
                running,
                counts.get("waiting", 0),
                counts.get("completed", 0),
                counts.get("failed", 0),
                ",".join(agent["models"]) or "-",
                _ago(agent["activity"]["updated_at"]),
            ]
        )
    out = table(
        ["AGENT", "DEPLOYMENT", "RUNNING", "WAITING", "DONE", "FAILED", "MODELS", "UPDATED"], rows, "(no agents seen)"
    )
    counts = state.get("counts", {})
    if counts.get("agents", 0) > len(state["agents"]):
        out += f"\n... {counts['agents'] - len(state['agents'])} more agents not shown"
    return out


def render_agent(agent: dict) -> str:
    counts = agent["activity"].get("counts", {})
    lines = [
        f"agent       {agent['name']}" + (f"  ({agent['description']})" if agent.get("description") else ""),
        f"deployment  {agent['deployment_name']}",
        f"models      {', '.join(agent['models']) or '-'}",
        f"parallel    {counts.get('running', 0)} running / max {agent.get('max_parallel_invocations', '-')}",
        f"tasks       {counts.get('waiting', 0)} waiting, {counts.get('completed', 0)} completed, {counts.get('failed', 0)} failed",
        "",
    ]
    rows = [
        [
            task["id"],
            task["status"],
            task["started_on"],
            _num(task.get("duration_ms")),
            task.get("trace_id"),
            task.get("blocked_by") or task.get("error") or "",
        ]
        for task in [*agent["activity"]["active_task_ids"], *agent["activity"].get("recent_tasks", ())]
    ]
    lines.append(table(["TASK", "STATUS", "STARTED", "MS", "TRACE", "NOTE"], rows, "(no recent tasks)"))
    hidden = sum(counts.get(k, 0) for k in ("running", "waiting", "completed", "failed")) - counts.get("shown", 0)
    if hidden > 0:
        lines.append(f"... {hidden} older tasks not shown")
    lines.append("\nnext: telemetron trace <TRACE>")
    return "\n".join(lines)


def render_workload(state: dict) -> str:
    if not state["workload"]:
        return (
            "(no workload metrics: run the Collector's k8s_cluster/kubeletstats receivers, or export process metrics)"
        )
    blocks = []
    for deployment in state["workload"]:
        limits = f" limits cpu={deployment.get('pod_max_cpu', '-')} ram={deployment.get('pod_max_ram', '-')}"
        head = f"{deployment['deployment_name']}: {deployment['live']['active_pods']}/{deployment['max_pods']} pods available{limits}"
        if deployment["live"].get("image"):
            head += f" image={deployment['live']['image']}"
        rows = [
            [
                pod["pod_id"],
                pod["status"],
                "no" if pod.get("ready") is False else "yes" if pod.get("ready") else "-",
                f"{_num(pod['cpu'])}m",
                f"{_num(pod['memory'])}Mi",
                pod.get("restarts", "-"),
                ",".join(pod.get("reasons", [])),
            ]
            for pod in deployment["pods"]
        ]
        blocks.append(
            head
            + "\n"
            + table(["POD", "STATUS", "READY", "CPU", "MEMORY", "RESTARTS", "REASON"], rows, "  (no pods reporting)")
        )
    return "\n\n".join(blocks)


def render_queues(state: dict) -> str:
    if not state["queues"]:
        return "(no queues seen: messaging send/process spans create them)"
    blocks = []
    for queue in state["queues"]:
        head = f"{queue['name']}: {queue['counts']['pending']} pending, oldest {_num(queue.get('oldest_wait_mins'), 2)} min"
        rows = [
            [
                task["id"],
                task["priority"]["level"],
                _num(task["priority"].get("waiting_since_mins"), 2),
                task.get("invoked_by"),
                task["priority"].get("blocked_task", ""),
                (task.get("prompt") or "")[:40],
            ]
            for task in queue["tasks"]
        ]
        body = table(["TASK", "PRIORITY", "WAIT_MIN", "BY", "BLOCKED_BY", "PROMPT"], rows)
        if queue["counts"]["pending"] > len(queue["tasks"]):
            body += f"\n... {queue['counts']['pending'] - len(queue['tasks'])} more"
        blocks.append(head + "\n" + body)
    return "\n\n".join(blocks)


def render_llm(state: dict) -> str:
    rows = []
    for model in state["litellm"]:
        lat = model.get("latency_ms", {})
        errors = model.get("errors", {})
        rows.append(
            [
                model["model"],
                model["provider"],
                f"{_num(model['tpm'], 0)}/{_num(model['tpm_max'], 0)}",
                f"{_num(model['rpm'], 0)}/{_num(model['rpm_max'], 0)}",
                _num(model.get("tokens_remaining"), 0),
                f"${model.get('cost_usd', 0):.4f}",
                sum(errors.values()),
                f"{_num(lat.get('p50'))}/{_num(lat.get('p95'))}/{_num(lat.get('p99'))}",
                (model.get("last_error") or {}).get("type", ""),
            ]
        )
    return table(
        ["MODEL", "PROVIDER", "TPM/MAX", "RPM/MAX", "TOK_LEFT", "COST", "ERRORS", "P50/95/99_MS", "LAST_ERROR"],
        rows,
        "(no LLM calls seen)",
    )


def _issue_block(issue: dict) -> str:
    entity = issue["entity"]
    extra = " ".join(f"{k}={v}" for k, v in entity.items() if k not in ("type", "name") and v)
    numbers = ", ".join(f"{k}={_num(v, 3)}" for k, v in issue["evidence"].get("numbers", {}).items())
    lines = [
        f"{issue['severity'].upper():8} {issue['kind']}  {entity['type']}={entity['name']}"
        + (f" ({extra})" if extra else "")
        + f"  (since {_ago(issue['first_seen'])})",
        f"         cause: {issue['probable_cause']}",
    ]
    if numbers:
        lines.append(f"         numbers: {numbers}")
    for reason in issue["evidence"].get("reasons", []):  # telemetry_rejected: each reason with an example
        example = " ".join(f"{k}={v}" for k, v in reason["example"].items() if v)
        lines.append(f"         - {reason['count']} {reason['what']}(s): {reason['reason']}  e.g. {example}")
    symptoms = issue.get("symptoms") or {}
    if symptoms.get("count"):
        items = symptoms.get("items", [])
        named = ", ".join(f"{i['kind']} {i['entity']['type']}={i['entity']['name']}" for i in items[:3])
        rest = symptoms["count"] - min(3, len(items))
        lines.append(f"         explains {symptoms['count']}: {named}" + (f" (+{rest})" if rest > 0 else ""))
    traces = issue["evidence"].get("trace_ids", [])
    if traces:
        lines.append(
            f"         traces: {', '.join(traces[:3])}" + (f" (+{len(traces) - 3})" if len(traces) > 3 else "")
        )
    if issue.get("hint"):
        lines.append(f"         next: {issue['hint']}")
    return "\n".join(lines)


def _brief_line(issue: dict) -> str:
    found = issue["evidence"]["numbers"] if "evidence" in issue else issue.get("numbers", {})
    numbers = ", ".join(f"{k}={_num(v, 3)}" for k, v in list(found.items())[:4])
    entity = issue["entity"]
    return f"{issue['severity'].upper():8} {issue['kind']}  {entity['type']}={entity['name']}" + (
        f"  [{numbers}]" if numbers else ""
    )


def render_issues(payload: dict, budget_chars: int = 0, more_command: str = "telemetron issues") -> str:
    """The issues in full, then briefly, then counted, within ``budget_chars`` (0: no limit) and in rank order.

    The newest issue of a severity that the budget left out (``out_of_order``) always gets its line.
    """
    more = payload.get("more", [])
    issues = payload["issues"] + [i for i in more if not i.get("out_of_order")]
    pinned = [_brief_line(i) + "  (newest of its severity, out of rank order)" for i in more if i.get("out_of_order")]
    if not issues and not pinned:
        return "No issues detected."
    blocks: list[str] = []
    used = sum(len(line) + 1 for line in pinned) + 200  # the pinned lines and the closing line
    briefly = False
    shown = 0
    for issue in issues:
        block = None if briefly or "evidence" not in issue else _issue_block(issue)
        if block is not None and (not budget_chars or used + len(block) + 1 <= budget_chars):
            blocks.append(block)
            used += len(block) + 1
            shown += 1
            continue
        briefly = True
        line = _brief_line(issue)
        if budget_chars and used + len(line) + 1 > budget_chars:
            break
        blocks.append(line)
        used += len(line) + 1
        shown += 1
    left = payload.get("count", len(issues)) - payload.get("cursor", 0) - shown
    cursor = payload.get("cursor", 0) + shown
    blocks.extend(pinned)
    if left > 0:
        blocks.append(
            f"... {left} more issue(s) not shown: {more_command} --cursor {cursor} (next page), "
            "--all (everything), --entity TYPE:NAME (one in full)"
        )
    return "\n".join(blocks)


def render_diff(payload: dict) -> str:
    head = f"changes since snapshot {payload['since']['id']} ({payload['since']['taken_at']}): {payload['operations']} operation(s)"
    lines = [head] + ([f"  ({payload['since']['note']})"] if payload["since"].get("note") else [])
    for op in payload["patch"]:
        value = (
            "" if op["op"] == "remove" else " " + json.dumps(op.get("value", op.get("from")), ensure_ascii=False)[:120]
        )
        lines.append(f"  {op['op']:7} {op['path']}{value}")
    if payload.get("truncated"):
        lines.append("  ... truncated")
    return "\n".join(lines)


def render_trace(trace: dict, limit: int, now_ns: int | None = None) -> str:
    """The span tree, in-progress spans (the store's active spans) included and marked RUNNING."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    spans = list(trace["spans"])
    ended = {span["span_id"] for span in spans}
    running = [span for span in trace.get("active_spans", []) if span["span_id"] not in ended]
    spans += [{**span, "running": True} for span in running]
    by_id = {span["span_id"]: span for span in spans}
    children: dict[str | None, list] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in by_id else None
        children.setdefault(parent, []).append(span)
    head = f"trace {trace['trace_id']}: {len(spans)} spans"
    lines = [head + (f" ({len(running)} in progress)" if running else "")]
    shown = 0

    def walk(parent: str | None, depth: int) -> None:
        nonlocal shown
        for span in children.get(parent, []):
            if shown >= limit:
                return
            shown += 1
            lines.append(
                f"{'  ' * depth}- {span['name']}  [{', '.join(_span_notes(span, now_ns))}]  span={span['span_id']}"
            )
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    if shown < len(spans):
        lines.append(f"... {len(spans) - shown} more spans (--limit)")
    return "\n".join(lines)


def _span_notes(span: dict, now_ns: int) -> list[str]:
    if span.get("running"):
        notes = [f"RUNNING for {_num(max(0, now_ns - span['start_ns']) / 1e9)}s", span["service_name"]]
        if span.get("agent_name"):
            notes.append(f"agent={span['agent_name']}")
        return notes
    gen_ai = span.get("gen_ai", {})
    notes = [f"{span['duration_ms']:.0f}ms", span["service_name"]]
    if gen_ai.get("agent_name"):
        notes.append(f"agent={gen_ai['agent_name']}")
    if gen_ai.get("request_model"):
        notes.append(f"model={gen_ai['request_model']}")
        if gen_ai.get("input_tokens") is not None or gen_ai.get("output_tokens") is not None:  # unknown is not 0
            notes.append(f"tokens={_count(gen_ai.get('input_tokens'))}/{_count(gen_ai.get('output_tokens'))}")
    if span["status"]["code"] == "ERROR":
        notes.append(f"ERROR {gen_ai.get('error_type') or ''} {span['status']['message']}".strip())
    if span.get("logs"):
        notes.append(f"logs={len(span['logs'])}")
    return notes


def summary_line(state: dict) -> str:
    counts = state.get("counts", {})
    pods_live = sum(w["live"]["active_pods"] for w in state["workload"])
    pods_max = sum(w["max_pods"] for w in state["workload"])
    workload = (
        f"{len(state['workload'])} deployments ({pods_live}/{pods_max} pods)"
        if state["workload"]
        else "no workload metrics collected"
    )
    return (
        f"{len(state['agents'])} agents ({counts.get('tasks_running', 0)} tasks running, {counts.get('tasks_waiting', 0)} waiting, "
        f"{counts.get('tasks_failed', 0)} failed recently), {workload}, "
        f"{len(state['queues'])} queues ({counts.get('queued_tasks', 0)} queued), {len(state['litellm'])} models"
    )


def render_diagnose(client: Client, state: dict, issues: dict, budget_tokens: int = 0) -> str:
    """Summary, incidents and drill-down hints in at most ``budget_tokens`` x 4 characters (0: no limit)."""
    counts = issues["by_severity"]
    head = [
        f"Telemetron diagnosis of {client.url} at {state.get('generated_at')}",
        "System: " + summary_line(state),
        "Issues (incidents, most severe and newest first): "
        + ", ".join(f"{counts[severity]} {severity}" for severity in ("critical", "error", "warning", "info")),
        "",
    ]
    tail = [
        "",
        "Drill down:",
        "  telemetron agents <name>          one agent's tasks with their trace ids",
        "  telemetron trace <trace_id>       the span tree of one trace",
        "  telemetron workload | queues | llm",
        "  telemetron diff --since <time|snapshot id>   what changed since then",
    ]
    fixed = sum(len(line) + 1 for line in head + tail)
    budget_chars = max(400, budget_tokens * CHARS_PER_TOKEN - fixed) if budget_tokens else 0
    return "\n".join([*head, render_issues(issues, budget_chars, "telemetron issues"), *tail])


# --- commands ---------------------------------------------------------------------------------------


def _count(value) -> str:
    return "?" if value is None else str(value)


def _emit(args, payload, text: str) -> None:
    if args.format == "json" and getattr(args, "json_lines", False):  # watch: one document per line
        print(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    elif args.format == "json":
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text)


def _state(client: Client, args, **extra) -> dict:
    return client.get(
        "/api/v1/oracle/state",
        agent=getattr(args, "agent", None),
        deployment=getattr(args, "deployment", None),
        at=getattr(args, "at", None),
        **extra,
    )


def cmd_state(client: Client, args) -> int:
    if args.format == "json":
        _emit(args, _state(client, args), "")
    else:
        print(_state(client, args, format="log")["log"])
    return 0


def cmd_agents(client: Client, args) -> int:
    if args.name:
        state = client.get("/api/v1/oracle/state", agent=args.name)
        if not state["agents"]:
            raise CliError(f"no agent named {args.name!r} (telemetron agents lists them)")
        _emit(args, state["agents"][0], render_agent(state["agents"][0]))
    else:
        state = _state(client, args)
        _emit(args, state["agents"], render_agents(state))
    return 0


def cmd_workload(client: Client, args) -> int:
    state = _state(client, args)
    _emit(args, state["workload"], render_workload(state))
    return 0


def cmd_queues(client: Client, args) -> int:
    state = _state(client, args)
    if args.name:
        state["queues"] = [q for q in state["queues"] if q["name"] == args.name]
    _emit(args, state["queues"], render_queues(state))
    return 0


def cmd_llm(client: Client, args) -> int:
    state = _state(client, args)
    _emit(args, state["litellm"], render_llm(state))
    return 0


def _budget(args) -> int:
    return 0 if getattr(args, "all", False) else getattr(args, "budget", None) or DEFAULT_BUDGET_TOKENS


def _severe(payload: dict) -> bool:
    return any(i["severity"] in _SEVERE for i in payload["issues"] + payload.get("more", []))


def cmd_issues(client: Client, args) -> int:
    budget = _budget(args)
    payload = client.get(
        "/api/v1/oracle/issues",
        severity=args.severity,
        kind=args.kind,
        entity=args.entity,
        limit=args.limit,
        budget=budget,
        cursor=getattr(args, "cursor", 0) or 0,
    )
    _emit(args, payload, render_issues(payload, budget * CHARS_PER_TOKEN))
    return 1 if _severe(payload) else 0


def cmd_diff(client: Client, args) -> int:
    payload = client.get("/api/v1/oracle/diff", since=args.since, until=args.until)
    _emit(args, payload, render_diff(payload))
    return 0


def cmd_diagnose(client: Client, args) -> int:
    budget = _budget(args)
    state = client.get("/api/v1/oracle/state")
    issues = client.get("/api/v1/oracle/issues", limit=args.limit, budget=budget)
    if args.format == "json":
        _emit(args, {"summary": summary_line(state), "counts": state.get("counts", {}), "issues": issues}, "")
    else:
        print(render_diagnose(client, state, issues, budget))
    return 1 if _severe(issues) else 0


def cmd_trace(client: Client, args) -> int:
    trace = client.get(f"/api/v1/traces/{args.trace_id}")
    _emit(args, trace, render_trace(trace, args.limit))
    return 0


def cmd_validate(client: Client, args) -> int:
    payload = client.get("/api/v1/oracle/validate")
    text = (
        "state is valid against oracle-state.schema.json"
        if payload["valid"]
        else table(["PATH", "PROBLEM"], [[e["path"], e["message"]] for e in payload["errors"]])
    )
    _emit(args, payload, text)
    return 0 if payload["valid"] else 1


_VIEWS = {
    "state": cmd_state,
    "agents": cmd_agents,
    "workload": cmd_workload,
    "queues": cmd_queues,
    "llm": cmd_llm,
    "issues": cmd_issues,
    "diagnose": cmd_diagnose,
}


def cmd_watch(client: Client, args) -> int:
    view = _VIEWS[args.view]
    view_args = argparse.Namespace(
        **{**vars(args), "name": None, "severity": None, "kind": None, "entity": None, "json_lines": True}
    )
    clear = sys.stdout.isatty() and args.format != "json"
    count = 0
    try:
        while True:
            if clear:
                print(_CLEAR, end="")
            elif count and args.format != "json":
                print()
            if args.format != "json":
                print(f"--- {time.strftime('%H:%M:%S')}  {args.view}  (every {args.interval:g}s, Ctrl-C to stop)")
            view(client, view_args)
            sys.stdout.flush()
            count += 1
            if args.iterations and count >= args.iterations:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def cmd_debug(client: Client, args) -> int:
    """An interactive session: type any command (agents writer, issues, trace <id>, ...), 'quit' to leave."""
    parser = build_parser()
    interactive = sys.stdin.isatty()
    print(f"telemetron debug session on {client.url}. Commands: {', '.join(sorted(_COMMANDS))}, help, quit")
    while True:
        if interactive:
            print("telemetron> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        words = shlex.split(line)
        if not words:
            continue
        if words[0] in ("quit", "exit", "q"):
            return 0
        if words[0] in ("help", "?"):
            commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            print(commands.choices["debug"].format_help())
            print(f"Commands: {', '.join(sorted(_COMMANDS))}; '<command> --help' for one; quit to leave")
            continue
        if words[0] in ("debug", "serve", "watch"):
            print(f"'{words[0]}' is not available inside a debug session")
            continue
        try:
            sub = parser.parse_args(words)
        except SystemExit:
            continue
        merged = argparse.Namespace(
            **{**vars(args), **{k: v for k, v in vars(sub).items() if k not in ("url", "token", "timeout")}}
        )
        try:
            _COMMANDS[sub.command](client, merged)
        except CliError as exc:
            print(f"error: {exc}")


_COMMANDS = {
    **_VIEWS,
    "diff": cmd_diff,
    "trace": cmd_trace,
    "validate": cmd_validate,
    "watch": cmd_watch,
    "debug": cmd_debug,
}


# --- argument parsing -------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    # Accepted before or after the command; SUPPRESS keeps a later default from overwriting an earlier value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help=f"oracle_api URL (default $TELEMETRON_URL or {DEFAULT_URL})"
    )
    common.add_argument("--token", default=argparse.SUPPRESS, help="API token (default $TELEMETRON_API_TOKEN)")
    common.add_argument("--format", choices=("table", "json"), default=argparse.SUPPRESS, help="output (default table)")
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS, help="HTTP timeout in seconds (default 10)")
    return common


def _budget_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET_TOKENS,
        help=f"answer size in tokens, counted as characters / {CHARS_PER_TOKEN} (default {DEFAULT_BUDGET_TOKENS})",
    )
    command.add_argument("--all", action="store_true", help="every issue in full, no budget")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="telemetron",
        parents=[common],
        description="Ask a running oracle_api about the multi-agent system; 'telemetron serve' runs oracle_api.",
        epilog="Start with 'telemetron diagnose', then drill down by agent name or trace id.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    sub.add_parser("serve", help="run oracle_api (flags: telemetron serve --help)", add_help=False)
    command = add("state", "the whole system state (compact log; --format json for the schema document)")
    command.add_argument("--agent")
    command.add_argument("--deployment")
    command.add_argument("--at", help="the state as of an ISO time, a duration ago (10m) or a snapshot id")
    command = add("agents", "agents and their activity; with a NAME, that agent's tasks and trace ids")
    command.add_argument("name", nargs="?")
    command.add_argument("--deployment")
    command = add("workload", "deployments and pods: availability, CPU, memory, restarts")
    command.add_argument("--deployment")
    command = add("queues", "queued tasks with priority, wait and blocking")
    command.add_argument("name", nargs="?")
    add("llm", "LLM usage per model: TPM/RPM against limits, cost, errors, latency")
    command = add("issues", "open issues with evidence; exit 1 when any is error or critical")
    command.add_argument("--severity", choices=("info", "warning", "error", "critical"), help="minimum severity")
    command.add_argument("--kind")
    command.add_argument("--entity", help="entity name or type:name")
    command.add_argument("--limit", type=int, default=100)
    _budget_flags(command)
    command.add_argument("--cursor", type=int, default=0, help="skip this many ranked issues (the next page)")
    command = add("diff", "JSON Patch of the state since a time or snapshot id")
    command.add_argument("--since", required=True, help="ISO time, duration ago (30s, 10m, 2h) or snapshot id")
    command.add_argument("--until", help="ISO time, duration ago or snapshot id (default now)")
    command = add("watch", "refresh a view until interrupted")
    command.add_argument("view", nargs="?", default="diagnose", choices=sorted(_VIEWS))
    command.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    command.add_argument("--iterations", type=int, default=0, help="stop after this many refreshes (0: never)")
    command.add_argument("--limit", type=int, default=20)
    command = add("diagnose", "summary, issues with evidence, and where to look next; exit 1 on error/critical")
    command.add_argument("--limit", type=int, default=100)
    _budget_flags(command)
    command = add("trace", "the span tree of one trace (bounded)")
    command.add_argument("trace_id")
    command.add_argument("--limit", type=int, default=60)
    add("validate", "validate the live state against oracle-state.schema.json")
    add("debug", "interactive session: type commands, 'quit' to leave")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from .server import serve
        from .settings import load_settings

        serve(load_settings(argv[1:]))
        return 0
    args = build_parser().parse_args(argv)
    args.url = getattr(args, "url", None) or os.environ.get("TELEMETRON_URL") or DEFAULT_URL
    args.token = getattr(args, "token", None) or os.environ.get("TELEMETRON_API_TOKEN") or None
    args.format = getattr(args, "format", None) or "table"
    args.timeout = getattr(args, "timeout", None) or 10.0
    for name in ("agent", "deployment", "at", "name"):
        if not hasattr(args, name):
            setattr(args, name, None)
    client = Client(args.url, args.token, args.timeout)
    try:
        return _COMMANDS[args.command](client, args)
    except CliError as exc:
        print(f"telemetron: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
