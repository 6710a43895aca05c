"""The Oracle over HTTP: state (now or at a time), issues, diffs, snapshots and schema validation."""

from __future__ import annotations

import json
import time
from typing import Annotated

import jsonpatch
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ..formats import iso
from ..oracle import SEVERITIES, Oracle, comparable, filter_state, render_log, validation_errors
from ..oracle.issues import SEVERITY_RANK, tokens, within_budget
from ..oracle.keyed import keyed
from . import errors
from .deps import Services
from .params import INT64_MAX, BadParameter, RowId, amount_ns, count, limit_query, rfc3339_ns
from .schemas import Diff, Issues, Snapshots, Validation, ok, state_document

router = APIRouter(tags=["oracle"])

_STATE_DOCUMENT = 'the state (oracle-state.schema.json), or {"log": "..."} with format=log'
_FORMAT = Query(pattern="^(json|log)$", description="json (the contract) or log (compact lines for humans)")


async def get_oracle(request: Request) -> Oracle:
    # async, so resolving it needs no worker thread (a sync dependency would take one per request)
    services: Services = request.app.state.services
    if services.oracle is None:
        raise HTTPException(status_code=503, detail="the Oracle is not running in this process")
    return services.oracle


OracleDep = Annotated[Oracle, Depends(get_oracle)]


def _json(payload: object, status_code: int = 200) -> Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return Response(content=body, status_code=status_code, media_type="application/json")


_MOMENT = (
    "an ISO 8601 / RFC 3339 time such as 2026-02-06T10:00:00Z (no offset: UTC; a date alone: its midnight), "
    "a duration ago such as 90s, 10m, 2h or 1d"
)


def _moment(value: str, name: str) -> int:
    """An ISO 8601 time, or a duration ago such as 90s, 10m, 2h, 1d, in Unix nanoseconds."""
    text = value.strip()
    try:
        if text[:1].isdigit() and text[-1:] in ("s", "m", "h", "d"):
            return time.time_ns() - amount_ns(text, name, units="s, m, h, d")
        return rfc3339_ns(text, name, strict=False)
    except BadParameter as exc:
        if exc.expected.startswith("out of range"):
            raise
        raise BadParameter(name, value, f"expected {_MOMENT}, or a snapshot id") from exc


def _when(value: str, name: str) -> tuple[int | None, int | None]:
    """(snapshot id, None) or (None, Unix ns) for an ``at``, ``since`` or ``until`` value; 400 when it is neither."""
    if value.strip().isdigit():
        return count(value, name, 1, INT64_MAX), None
    return None, _moment(value, name)


def _snapshot_at(oracle: Oracle, when: tuple[int | None, int | None], value: str) -> dict:
    if oracle.snapshots is None:
        raise HTTPException(404, "this Oracle keeps no snapshots")
    snapshot_id, t_ns = when
    if snapshot_id is not None:
        snapshot = oracle.snapshots.by_id(snapshot_id)
        if snapshot is None:
            raise HTTPException(404, f"no snapshot with id {snapshot_id} (see /api/v1/oracle/snapshots)")
        return snapshot
    snapshot = oracle.snapshots.at(t_ns) if t_ns is not None else None  # _when sets exactly one of the two
    if snapshot is None:
        raise HTTPException(404, f"no snapshot at or before {value}; snapshots are listed at /api/v1/oracle/snapshots")
    return snapshot


def _state_response(oracle: Oracle, fmt: str, agent: str | None, deployment: str | None, at: str | None) -> Response:
    if at is None and fmt == "json":
        return _json(oracle.state_json(agent=agent, deployment=deployment))
    if at is not None:
        snapshot = _snapshot_at(oracle, _when(at, "at"), at)
        state = dict(snapshot["state"], snapshot={"id": snapshot["id"], "taken_at": iso(snapshot["taken_ns"])})
        issues = snapshot["issues"]
    else:
        state, issues = oracle.state(), oracle.issues()
    state = filter_state(state, agent=agent, deployment=deployment)
    if fmt == "log":
        return _json({"log": render_log(state, issues)})
    return _json(state)


async def _state(oracle: Oracle, fmt: str, agent: str | None, deployment: str | None, at: str | None) -> Response:
    if at is None and fmt == "json" and not agent and not deployment:
        # The hot path: the document is kept encoded in memory, so no worker thread is needed.
        return _json(oracle.state_json())
    return await run_in_threadpool(_state_response, oracle, fmt, agent, deployment, at)


@router.get(
    "/api/v1/oracle/state",
    responses={**state_document(_STATE_DOCUMENT), **errors.documented("rest", 400, 404)},
)
async def oracle_state(
    oracle: OracleDep,
    format: Annotated[str, _FORMAT] = "json",
    agent: Annotated[str | None, Query(description="only this agent, its deployment and the models it used")] = None,
    deployment: Annotated[str | None, Query(description="only this deployment and its agents")] = None,
    at: Annotated[
        str | None, Query(description="the state as of an ISO time, a duration ago (10m) or a snapshot id")
    ] = None,
) -> Response:
    """The unified system state (oracle-state.schema.json): agents, workload, queues, LLM usage."""
    return await _state(oracle, format, agent, deployment, at)


@router.get(
    "/system/state",
    responses={**state_document(_STATE_DOCUMENT), **errors.documented("rest", 400, 404)},
)
async def system_state(
    oracle: OracleDep,
    format: Annotated[str, _FORMAT] = "json",
    agent: str | None = None,
    deployment: str | None = None,
    at: str | None = None,
) -> Response:
    """Telemetron's original endpoint: the same document as /api/v1/oracle/state."""
    return await _state(oracle, format, agent, deployment, at)


@router.get("/api/v1/oracle/validate", responses=ok(Validation))
def oracle_validate(oracle: OracleDep) -> Response:
    """Validate the current state against the JSON schema; lists every violation."""
    problems = validation_errors(oracle.state())
    return _json({"valid": not problems, "errors": problems, "schema": "oracle-state.schema.json"})


@router.get("/api/v1/oracle/issues", responses={**ok(Issues), **errors.documented("rest", 400)})
def oracle_issues(
    oracle: OracleDep,
    severity: Annotated[str | None, Query(description="minimum severity: " + "|".join(SEVERITIES))] = None,
    kind: str | None = None,
    entity: Annotated[str | None, Query(description="entity name, or type:name")] = None,
    limit: Annotated[int, limit_query(1000, "issues to list")] = 100,
    budget: Annotated[
        int | None,
        Query(ge=0, le=1_000_000, description="size of the answer in tokens (characters / 4); 0: no budget"),
    ] = None,
    cursor: Annotated[int, Query(ge=0, le=1_000_000, description="skip this many ranked issues (next_cursor)")] = 0,
) -> Response:
    """Open incidents, most severe and then newest first, within a token budget; says how to get the rest."""
    if severity is not None and severity not in SEVERITY_RANK:
        raise HTTPException(400, f"severity must be one of {', '.join(SEVERITIES)}")
    issues = oracle.issues()
    if severity:
        issues = [i for i in issues if SEVERITY_RANK[i["severity"]] >= SEVERITY_RANK[severity]]
    if kind:
        issues = [i for i in issues if i["kind"] == kind]
    if entity:
        issues = [i for i in issues if entity in (i["entity"]["name"], f"{i['entity']['type']}:{i['entity']['name']}")]
    by_severity = {name: 0 for name in SEVERITIES}
    for issue in issues:
        by_severity[issue["severity"]] += 1
    budget_tokens = oracle.settings.issues_budget_tokens if budget is None else budget
    page = issues[cursor : cursor + limit]
    payload: dict = {
        "generated_at": iso(time.time_ns()),
        "count": len(issues),
        "by_severity": by_severity,
        "issues": [],
        "more": [],
        "truncated": False,
        "cursor": cursor,
        "next_cursor": len(issues),
        "omitted": len(issues),
        "budget_tokens": budget_tokens,
        "how_to_get_more": _more_hint(len(issues), len(issues), budget_tokens),
    }
    full, short = within_budget(page, budget_tokens, reserved_tokens=tokens(payload) + 20)
    shown = cursor + len(full) + sum(1 for i in short if not i.get("out_of_order"))
    payload.update(
        issues=full,
        more=short,
        truncated=shown < len(issues),
        next_cursor=shown if shown < len(issues) else None,
        omitted=max(0, len(issues) - shown),
        how_to_get_more=_more_hint(len(issues) - shown, shown, budget_tokens) if shown < len(issues) else "",
    )
    return _json(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())  # as the budget counts


def _more_hint(left: int, next_cursor: int, budget_tokens: int) -> str:
    """Exactly how to ask for what this answer left out."""
    bigger = max(budget_tokens * 4, 8000)
    return (
        f"{left} more issue(s) not listed: GET /api/v1/oracle/issues?cursor={next_cursor} for the next page, "
        f"?budget={bigger} for a bigger answer, ?budget=0 for all (CLI: telemetron issues --cursor {next_cursor}, "
        "or --all); issues in 'more' are shown briefly: ?entity=<type:name> gives one in full"
    )


_KEYED_BY = (
    "entity arrays are maps keyed by identity: agents and queues by name, tasks by id, workload by deployment_name, "
    "pods by pod_id, litellm by provider/model ('/' written ~1 in paths)"
)


def _diff_base(oracle: Oracle, when: tuple[int | None, int | None], value: str) -> tuple[dict, str | None]:
    """The snapshot to diff from, and a note when it is the first one because ``value`` predates every snapshot."""
    snapshot_id, t_ns = when
    if snapshot_id is None and oracle.snapshots is not None and oracle.snapshots.at(t_ns or 0) is None:
        oldest = oracle.snapshots.listing(oracle.snapshots.retention)[-1:]
        first = oracle.snapshots.by_id(oldest[0]["id"]) if oldest else None
        if first is not None:
            return first, f"no snapshot at or before {value}: diffed from the first snapshot"
    return _snapshot_at(oracle, when, value), None


@router.get("/api/v1/oracle/diff", responses={**ok(Diff), **errors.documented("rest", 400, 404)})
def oracle_diff(
    oracle: OracleDep,
    since: Annotated[
        str, Query(description="ISO time, duration ago (10m) or snapshot id; its snapshot is compared with now")
    ],
    until: Annotated[str | None, Query(description="ISO time, duration ago or snapshot id instead of now")] = None,
    limit: Annotated[int, limit_query(10_000, "patch operations to list")] = 1000,
) -> Response:
    """RFC 6902 JSON Patch that turns the state at ``since`` into the state now (generated_at ignored).

    Entity arrays are diffed as maps keyed by identity (see ``keyed_by``), so one change is one operation;
    a ``since`` time before the first snapshot diffs from the first snapshot and says so in ``since.note``.
    """
    since_when, until_when = _when(since, "since"), _when(until, "until") if until is not None else None
    before, note = _diff_base(oracle, since_when, since)
    if until is not None and until_when is not None:  # both or neither
        after_snapshot = _snapshot_at(oracle, until_when, until)
        after, after_meta = (
            after_snapshot["state"],
            {"id": after_snapshot["id"], "taken_at": iso(after_snapshot["taken_ns"])},
        )
    else:
        after = oracle.state()
        after_meta = {"generated_at": after["generated_at"]}
    patch = jsonpatch.make_patch(keyed(comparable(before["state"])), keyed(comparable(after))).patch
    since_meta = {"id": before["id"], "taken_at": iso(before["taken_ns"])}
    if note:
        since_meta["note"] = note
    return _json(
        {
            "since": since_meta,
            "keyed_by": _KEYED_BY,
            "until": after_meta,
            "operations": len(patch),
            "patch": patch[:limit],
            "truncated": len(patch) > limit,
        }
    )


@router.get("/api/v1/oracle/snapshots", responses={**ok(Snapshots), **errors.documented("rest", 400)})
def oracle_snapshots(
    oracle: OracleDep,
    limit: Annotated[int, limit_query(1000, "snapshots to list")] = 50,
    before_id: RowId = None,
) -> Response:
    """Stored snapshots, newest first (ids for ``diff?since=`` and ``state?at=``)."""
    rows = oracle.snapshots.listing(limit, before_id) if oracle.snapshots else []
    return _json(
        {
            "snapshots": [
                {
                    "id": r["id"],
                    "taken_at": iso(r["taken_ns"]),
                    "reason": r["reason"],
                    "stored_bytes": r["compressed_size"],
                }
                for r in rows
            ],
            "count": oracle.snapshots.count() if oracle.snapshots else 0,
        }
    )


@router.get("/api/v1/oracle/health")
def oracle_health(oracle: OracleDep) -> Response:
    """What the Oracle has folded in, and how its startup rebuild went."""
    return _json(oracle.health())
