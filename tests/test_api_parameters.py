"""Out-of-range and malformed query parameters answer 400 (never 500) in each API's error shape, and the OpenAPI says so.

A real oracle_api (real HTTP, a real SQLite file holding a trace) answers each URL of the table.
Times must map to int64 nanoseconds (1970-01-01 to 2262-04-11), durations are finite and
non-negative, counts and limits bounded; the message names the parameter, the value and what is
accepted.
"""

from __future__ import annotations

import pytest
from oracle_fixtures import start_oracle

TIME_RANGE = "1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z"
V3_WINDOW = "query.start_time_max=2030-01-01T00:00:00Z"

# (url, expected status, a fragment the error message must hold)
BAD = [
    # REST trace search: RFC 3339 times (no offset: UTC), bounded durations and limits
    (
        "/api/v1/traces?start=1197-11-02T17:45:34Z",
        400,
        f"invalid parameter start: '1197-11-02T17:45:34Z': out of range: expected an RFC 3339 time such as 2026-02-06T10:00:00Z from {TIME_RANGE}",
    ),
    ("/api/v1/traces?end=9999-12-31T00:00:00Z", 400, "invalid parameter end: '9999-12-31T00:00:00Z': out of range"),
    ("/api/v1/traces?start=2262-04-11T23:47:16.854775808Z", 400, "out of range"),
    ("/api/v1/traces?start=0.5", 400, "invalid parameter start: '0.5': expected an RFC 3339 time"),
    ("/api/v1/traces?start=1700000000", 400, "invalid parameter start: '1700000000': expected an RFC 3339 time"),
    (
        "/api/v1/traces?start=2026-13-01T00:00:00Z",
        400,
        "invalid parameter start: '2026-13-01T00:00:00Z': expected an RFC 3339 time",
    ),
    ("/api/v1/traces?start=2026-01-01T00:00:00+24:00", 400, "invalid parameter start"),
    (
        "/api/v1/traces?min_duration_ms=1e30",
        400,
        "invalid parameter min_duration_ms: '1e30': expected a value less than or equal to 9223372036854",
    ),
    ("/api/v1/traces?min_duration_ms=nan", 400, "invalid parameter min_duration_ms: 'nan': expected a finite number"),
    ("/api/v1/traces?max_duration_ms=inf", 400, "invalid parameter max_duration_ms: 'inf'"),
    (
        "/api/v1/traces?max_duration_ms=-1",
        400,
        "invalid parameter max_duration_ms: '-1': expected a value greater than or equal to 0",
    ),
    ("/api/v1/traces?limit=0", 400, "invalid parameter limit: '0': expected a value greater than or equal to 1"),
    ("/api/v1/traces?limit=99999999999999999999", 400, "invalid parameter limit"),
    ("/api/v1/traces?limit=abc", 400, "invalid parameter limit: 'abc': expected a valid integer"),
    ("/api/v1/traces?status=x", 400, "invalid parameter status: 'x': expected a value matching '^(ok|error)$'"),
    ("/api/v1/traces?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5Ojk5", 400, "invalid parameter cursor"),  # "999…9:99"
    ("/api/v1/traces?cursor=garbage", 400, "invalid parameter cursor: 'garbage'"),
    ("/api/v1/traces/xyz", 400, "invalid trace id"),
    (
        "/api/v1/metrics?window=99999999999d",
        400,
        "invalid parameter window: '99999999999d': out of range: expected a number and a unit",
    ),
    (
        "/api/v1/metrics?window=-5m",
        400,
        "invalid parameter window: '-5m': expected a number and a unit (ms, s, m, h, d)",
    ),
    ("/api/v1/metrics?window=soon", 400, "invalid parameter window: 'soon'"),
    # Oracle: an ISO time, a duration ago, or a snapshot id
    ("/api/v1/oracle/state?at=9999-01-01T00:00:00Z", 400, "invalid parameter at: '9999-01-01T00:00:00Z': out of range"),
    (
        "/api/v1/oracle/state?at=99999999999999999999",
        400,
        "invalid parameter at: '99999999999999999999': expected an integer from 1 to 9223372036854775807",
    ),
    (
        "/api/v1/oracle/state?at=99999999999999999999d",
        400,
        "invalid parameter at: '99999999999999999999d': out of range",
    ),
    ("/api/v1/oracle/state?at=", 400, "invalid parameter at: '': expected an ISO 8601 / RFC 3339 time"),
    ("/system/state?at=0.5", 400, "invalid parameter at: '0.5'"),
    (
        "/api/v1/oracle/diff?since=0001-01-01T00:00:00Z",
        400,
        "invalid parameter since: '0001-01-01T00:00:00Z': out of range",
    ),
    ("/api/v1/oracle/diff?since=last%20tuesday", 400, "ISO 8601"),
    ("/api/v1/oracle/diff", 400, "parameter since is required"),
    (
        "/api/v1/oracle/diff?since=999999&until=1e400",
        400,
        "invalid parameter until: '1e400'",
    ),  # checked before since is looked up
    ("/api/v1/oracle/snapshots?before_id=99999999999999999999", 400, "invalid parameter before_id"),
    (
        "/api/v1/oracle/issues?limit=1001",
        400,
        "invalid parameter limit: '1001': expected a value less than or equal to 1000",
    ),
    # Jaeger v1: integer Unix µs (ms for dependencies), Go durations, the v1 error envelope
    (
        "/api/traces?service=x&start=1000000000000000000000",
        400,
        "unable to parse param 'start': '1000000000000000000000': out of range: expected an integer number of Unix microseconds (0 to 9223372036854775)",
    ),
    ("/api/traces?service=x&end=9223372036854776", 400, "unable to parse param 'end'"),
    (
        "/api/traces?service=x&start=0.5",
        400,
        "unable to parse param 'start': '0.5': expected an integer number of Unix microseconds (no sign, no fraction)",
    ),
    ("/api/traces?service=x&start=-1", 400, "unable to parse param 'start': '-1'"),
    (
        "/api/traces?service=x&minDuration=999999999999h",
        400,
        "unable to parse param 'minDuration': '999999999999h': out of range",
    ),
    ("/api/traces?service=x&maxDuration=-1s", 400, "unable to parse param 'maxDuration': '-1s': expected a duration"),
    ("/api/traces?service=x&maxDuration=NaNs", 400, "unable to parse param 'maxDuration'"),
    (
        "/api/traces?service=x&limit=10001",
        400,
        "unable to parse param 'limit': '10001': expected an integer from 0 to 10000",
    ),
    ("/api/traces?service=x&limit=99999999999999999999", 400, "unable to parse param 'limit'"),
    ("/api/traces?service=x&lookback=5000w", 200, None),  # a lookback past 1970 starts at 1970
    ("/api/traces?service=x&lookback=custom", 200, None),  # the UI's word for "start and end are given"
    (
        "/api/traces?service=x&lookback=99999999999999999999w",
        400,
        "unable to parse param 'lookback': '99999999999999999999w': out of range",
    ),
    (
        "/api/dependencies?endTs=99999999999999999999&lookback=1",
        400,
        "unable to parse param 'endTs': '99999999999999999999': out of range: expected an integer number of Unix milliseconds",
    ),
    ("/api/dependencies?endTs=1&lookback=99999999999999999999", 400, "unable to parse param 'lookback'"),
    ("/api/dependencies?endTs=1.5", 400, "unable to parse param 'endTs': '1.5'"),
    (
        "/api/metrics/calls?service=x&endTs=99999999999999999999",
        400,
        "unable to parse param 'endTs': 99999999999999999999 is out of range",
    ),
    ("/api/metrics/errors?service=x&lookback=99999999999999999999", 400, "unable to parse param 'lookback'"),
    ("/api/metrics/latencies?service=x&quantile=nan", 400, "unable to parse param 'quantile'"),
    ("/api/v1/dashboard/llm-series?window=99999999999d", 400, "invalid parameter window"),
    ("/api/dependencies?endTs=9223372036854&lookback=9223372036854", 200, None),
    ("/api/operations", 400, "parameter 'service' is required"),
    # Jaeger api_v3: RFC 3339 with an offset, its gateway's error shape
    (
        f"/api/v3/traces?query.start_time_min=0001-01-01T00:00:00Z&{V3_WINDOW}",
        400,
        "malformed parameter query.start_time_min: '0001-01-01T00:00:00Z': out of range",
    ),
    (
        f"/api/v3/trace-summaries?query.start_time_min=0001-01-01T00:00:00Z&{V3_WINDOW}",
        400,
        "malformed parameter query.start_time_min",
    ),
    (
        "/api/v3/traces?query.startTimeMin=2026-01-01T00:00:00&query.startTimeMax=2030-01-01T00:00:00Z",
        400,
        "malformed parameter query.startTimeMin: '2026-01-01T00:00:00': expected an RFC 3339 time",
    ),
    (
        f"/api/v3/traces?query.start_time_min=2026-01-01T00:00:00Z&{V3_WINDOW}&query.duration_min=1e400s",
        400,
        "malformed parameter query.duration_min",
    ),
    (
        f"/api/v3/traces?query.start_time_min=2026-01-01T00:00:00Z&{V3_WINDOW}&query.num_traces=99999999999999999999",
        400,
        "malformed parameter query.num_traces: '99999999999999999999': expected an integer from 0 to 10000",
    ),
    ("/api/v3/traces?query.service_name=x", 400, "query.startTimeMin and query.startTimeMax are required"),
    ("/api/v3/traces/abc?startTime=9999-99-99T00:00:00Z", 400, "malformed parameter startTime"),
    (
        "/api/v3/traces?query.startTimeMin=2026-01-01&query.startTimeMax=2030-01-01T00:00:00Z",
        400,
        "malformed parameter query.startTimeMin: '2026-01-01': expected an RFC 3339 time",
    ),
    (
        "/api/v1/oracle/state?at=2001-01-01",
        404,
        "no snapshot at or before 2001-01-01",
    ),  # a date alone is its midnight UTC
    # attribute filters: values past int64 are matched as text; JSON escapes must spell Unicode text
    ('/api/v1/traces?attributes={"a":99999999999999999999}', 200, None),
    ('/api/v1/traces?attributes={"a":-99999999999999999999}', 200, None),
    ("/api/traces?service=x&tag=a:99999999999999999999", 200, None),
    ('/api/traces?service=x&tags={"a":"99999999999999999999"}', 200, None),
    (
        f'/api/v3/traces?query.start_time_min=2026-01-01T00:00:00Z&{V3_WINDOW}&query.attributes={{"a":"99999999999999999999"}}',
        404,
        "No traces found",
    ),  # noqa: E501
    (
        '/api/v1/traces?attributes={"a":"\\ud800"}',
        400,
        "invalid parameter attributes: '\\ud800': expected Unicode text, not the lone surrogate",
    ),
    (
        '/api/traces?service=x&tags={"\\udfff":"x"}',
        400,
        "unable to parse param 'tags': '\\udfff': expected Unicode text",
    ),
    (
        f'/api/v3/traces?query.start_time_min=2026-01-01T00:00:00Z&{V3_WINDOW}&query.attributes={{"a":"\\ud800"}}',
        400,
        "malformed parameter query.attributes",
    ),  # noqa: E501
    (
        '/api/traces?service=x&tags=a="\\x"',
        400,
        "malformed 'tags' parameter: the quoted value of 'a' is not a JSON string",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_oracle(tmp_path_factory.mktemp("params") / "t.db")
    with running.tracer_provider("params-svc").get_tracer("t").start_as_current_span("work"):
        pass
    running.wait_for(lambda: running.client().get("/api/services").json()["data"])
    yield running
    running.stop()


def _message(url: str, status: int, body: dict) -> str:
    if url.startswith("/api/v3/"):
        assert body["error"]["httpCode"] == status, body
        return body["error"]["message"]
    if url.startswith("/api/") and not url.startswith("/api/v1/"):
        assert body["data"] is None and body["errors"][0]["code"] == status, body  # Jaeger's v1 envelope
        return body["errors"][0]["msg"]
    return body["detail"]


@pytest.mark.parametrize(("url", "status", "fragment"), BAD, ids=[row[0] for row in BAD])
def test_parameter_is_refused_precisely(server, url, status, fragment):
    response = server.client().get(url)
    assert response.status_code == status, response.text
    if fragment is not None:
        assert fragment in _message(url, status, response.json())


GOOD = [
    "/api/v1/traces?start=2020-01-01T00:00:00Z&end=2262-04-11T23:47:16.854775807Z&min_duration_ms=0&max_duration_ms=9223372036854",
    "/api/v1/traces?start=2020-01-01T02:00:00.123456789%2B02:00",
    "/api/v1/traces?start=2020-01-01T00:00:00",  # no offset: UTC
    "/api/v1/traces?start=2020-01-01&end=2262-04-11T23:47",  # ISO 8601's shorter forms on the REST routes
    "/api/v1/traces?start=1970-01-01T00:00:00Z",
    "/api/v1/metrics?window=1.5h",
    "/api/traces?service=params-svc&start=0&end=9223372036854775&minDuration=0&maxDuration=2562047h47m16.854775807s&limit=0",
    "/api/v3/traces?query.startTimeMin=1970-01-01T00:00:00Z&query.startTimeMax=2262-04-11T23:47:16.854775807Z&query.searchDepth=10000",
]


@pytest.mark.parametrize("url", GOOD)
def test_edges_of_the_accepted_range_are_answered(server, url):
    response = server.client().get(url)
    assert response.status_code == 200, response.text


def test_a_search_across_the_whole_range_finds_the_stored_trace(server):
    client = server.client()
    rest = client.get("/api/v1/traces", params={"start": "1970-01-01T00:00:00Z", "end": "2262-04-11T23:47:16Z"}).json()
    jaeger = client.get("/api/traces", params={"service": "params-svc", "start": "0", "end": "9223372036854775"}).json()
    assert rest["count"] == 1 and len(jaeger["data"]) == 1


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_openapi_lists_400_wherever_a_parameter_can_be_refused(server):
    spec = server.client().get("/openapi.json").json()
    for name, operation in _operations(spec):
        responses = operation["responses"]
        assert "422" not in responses, name
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in responses, name
            assert responses["400"]["content"]["application/json"]["schema"]["$ref"], name
    jaeger_400 = spec["paths"]["/api/traces"]["get"]["responses"]["400"]["content"]["application/json"]["schema"]
    v3_404 = spec["paths"]["/api/v3/traces"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert jaeger_400["$ref"].endswith("/JaegerErrors") and v3_404["$ref"].endswith("/V3Error")
    assert "404" in spec["paths"]["/api/v1/traces/{trace_id}"]["get"]["responses"]
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]  # no token configured


DOCUMENTED = {  # every status each operation answers (without a token); the 400s answer malformed parameters
    "GET /health": {"200"},
    "GET /api/v1/traces": {"200", "400"},
    "GET /api/v1/traces/{trace_id}": {"200", "400", "404"},
    "GET /api/v1/traces/{trace_id}/timeline": {"200", "400", "404"},
    "GET /api/v1/traces/{trace_id}/graph": {"200", "400", "404"},
    "GET /api/v1/metrics": {"200", "400"},
    "GET /api/v1/logs": {"200", "400"},
    "GET /api/v1/metric-points": {"200", "400"},
    "POST /api/v1/debug/simulate-trace": {"200", "400", "403", "415", "502"},
    "GET /api/services": {"200"},
    "GET /api/services/{service}/operations": {"200", "400"},
    "GET /api/operations": {"200", "400"},
    "GET /api/traces": {"200", "400"},
    "GET /api/traces/{trace_id}": {"200", "400", "404"},
    "GET /api/dependencies": {"200", "400"},
    "GET /api/v3/services": {"200"},
    "GET /api/v3/operations": {"200", "400"},
    "GET /api/v3/traces": {"200", "400", "404"},
    "GET /api/v3/traces/{trace_id}": {"200", "400", "404"},
    "GET /api/v3/trace-summaries": {"200", "400"},
    "GET /api/v1/stream/stats": {"200"},
    "GET /api/v1/oracle/state": {"200", "400", "404"},
    "GET /system/state": {"200", "400", "404"},
    "GET /api/v1/oracle/validate": {"200"},
    "GET /api/v1/oracle/issues": {"200", "400"},
    "GET /api/v1/oracle/diff": {"200", "400", "404"},
    "GET /api/v1/oracle/snapshots": {"200", "400"},
    "GET /api/v1/oracle/health": {"200"},
    "GET /api/metrics/latencies": {"200", "400"},
    "GET /api/metrics/calls": {"200", "400"},
    "GET /api/metrics/errors": {"200", "400"},
    "GET /api/metrics/minstep": {"200"},
    "GET /api/v1/dashboard/llm-series": {"200", "400"},
}


def test_openapi_lists_the_statuses_each_operation_answers(server):
    spec = server.client().get("/openapi.json").json()
    assert {name: set(operation["responses"]) for name, operation in _operations(spec)} == DOCUMENTED


def test_openapi_lists_401_on_every_operation_when_a_token_is_set(make_oracle):
    running = make_oracle(api_token="s3cret")
    spec = running.client(headers={"Authorization": "Bearer s3cret"}).get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for name, operation in _operations(spec):
        assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Detail"), name
