-- Telemetron's store on PostgreSQL (store/postgres.py): the tables of schema.sql, the same columns
-- and meanings, readable with psql. Times are Unix nanoseconds; attributes, events and links are
-- the same JSON text SQLite holds (text, not jsonb, so key order and number spelling are kept;
-- searches cast the few rows a substring test leaves to jsonb).
--
-- spans is partitioned by start time (spans_<hour number>, created ahead as batches need them):
-- retention drops whole partitions. A partition's primary key must hold the partition column,
-- so a span is unique by (trace_id, span_id, start_ns): a redelivered span, the same bytes, is
-- stored once.

CREATE TABLE IF NOT EXISTS resources (
    resource_key TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    attributes   TEXT NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS spans_seq;  -- arrival order, as SQLite's rowid (the Oracle's rebuild)

CREATE TABLE IF NOT EXISTS spans (
    seq             BIGINT NOT NULL DEFAULT nextval('spans_seq'),
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT,
    name            TEXT NOT NULL,
    kind            INTEGER NOT NULL,
    service_name    TEXT NOT NULL,
    start_ns        BIGINT NOT NULL,
    end_ns          BIGINT NOT NULL,
    duration_ns     BIGINT NOT NULL,
    status_code     INTEGER NOT NULL,
    status_message  TEXT NOT NULL,
    operation       TEXT,
    agent_name      TEXT,
    provider        TEXT,
    request_model   TEXT,
    response_model  TEXT,
    input_tokens    BIGINT,
    output_tokens   BIGINT,
    conversation_id TEXT,
    error_type      TEXT,
    attributes      TEXT NOT NULL,
    events          TEXT NOT NULL,
    links           TEXT NOT NULL,
    resource_key    TEXT NOT NULL,
    scope_name      TEXT NOT NULL,
    scope_version   TEXT NOT NULL,
    trace_state     TEXT NOT NULL,
    flags           BIGINT NOT NULL,
    dropped_counts  TEXT NOT NULL,
    received_ns     BIGINT NOT NULL,
    scope_attributes TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (trace_id, span_id, start_ns)
) PARTITION BY RANGE (start_ns);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans (service_name, start_ns);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns);
CREATE INDEX IF NOT EXISTS spans_service_operation ON spans (service_name, name, kind);
CREATE INDEX IF NOT EXISTS spans_conversation ON spans (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_seq_order ON spans (seq);

CREATE TABLE IF NOT EXISTS trace_attributes (
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    PRIMARY KEY (key, value, trace_id)
);

CREATE TABLE IF NOT EXISTS traces (
    trace_id     TEXT PRIMARY KEY,
    start_ns     BIGINT NOT NULL,
    end_ns       BIGINT NOT NULL,
    span_count   BIGINT NOT NULL,
    error_count  BIGINT NOT NULL,
    root_name    TEXT,
    root_service TEXT,
    services     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_start_id ON traces (start_ns, trace_id);

CREATE TABLE IF NOT EXISTS active_spans (
    trace_id       TEXT NOT NULL,
    span_id        TEXT NOT NULL,
    parent_span_id TEXT,
    name           TEXT NOT NULL,
    kind           INTEGER NOT NULL,
    service_name   TEXT NOT NULL,
    operation      TEXT,
    agent_name     TEXT,
    start_ns       BIGINT NOT NULL,
    last_seen_ns   BIGINT NOT NULL,
    attributes     TEXT NOT NULL,
    resource_key   TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE IF NOT EXISTS metric_points (
    resource_key TEXT NOT NULL,
    service_name TEXT NOT NULL,
    scope_name   TEXT NOT NULL,
    name         TEXT NOT NULL,
    unit         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    time_ns      BIGINT NOT NULL,
    start_ns     BIGINT NOT NULL,
    attributes   TEXT NOT NULL,
    value        DOUBLE PRECISION,
    data         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_points_name_time ON metric_points (name, time_ns);

CREATE TABLE IF NOT EXISTS log_records (
    resource_key    TEXT NOT NULL,
    service_name    TEXT NOT NULL,
    scope_name      TEXT NOT NULL,
    time_ns         BIGINT NOT NULL,
    observed_ns     BIGINT NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    event_name      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_records_trace ON log_records (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_records_time ON log_records (time_ns);

CREATE TABLE IF NOT EXISTS oracle_snapshots (
    id       BIGSERIAL PRIMARY KEY,
    taken_ns BIGINT NOT NULL,
    reason   TEXT NOT NULL,
    state    BYTEA NOT NULL,
    issues   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oracle_snapshots_taken ON oracle_snapshots (taken_ns);
